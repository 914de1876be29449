"""Float64 numpy reference implementations (the specification of the kernels)."""
