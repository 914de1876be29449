"""fastdl.models: small reference CNNs from Dive into Deep Learning, sized for 28x28 inputs.

Every model is a plain ``nn.Sequential`` of fastdl.nn layers with the same structure (and so
the same state_dict keys and parameter layouts) as the same model written with torch.nn, so a
PyTorch state_dict converted to numpy loads with ``load_state_dict(strict=True)``. Layer
fusion (BatchNorm+ReLU, BatchNorm+add+ReLU) is done by ``fastdl.nn.fusion``, not the models.
"""
from .lenet import lenet, lenet_bn  # noqa: F401
from .nin import nin  # noqa: F401
from .resnet import resnet18  # noqa: F401

__all__ = ["lenet", "lenet_bn", "nin", "resnet18"]
