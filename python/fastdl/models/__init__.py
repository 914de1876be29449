"""fastdl.models: small reference CNNs from Dive into Deep Learning, sized for 28x28 inputs.

Every model is built from fastdl.nn layers with the same structure (and so the same
state_dict keys and parameter layouts) as the same model written with torch.nn, so a PyTorch
state_dict converted to numpy loads with ``load_state_dict(strict=True)``.
"""
from .lenet import lenet, lenet_bn  # noqa: F401
from .nin import nin  # noqa: F401
from .resnet import resnet18  # noqa: F401
from .fused import FusedSequential  # noqa: F401

__all__ = ["lenet", "lenet_bn", "nin", "resnet18", "FusedSequential"]
