"""Float64 numpy references (the specification of each kernel family) and test helpers.

``fd.numeric_grad`` computes central finite differences for checking reference backwards.
"""
