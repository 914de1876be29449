"""The residual block of ResNet as in Dive into Deep Learning (He et al., 2016)."""
from __future__ import annotations

from . import fusion
from .conv import Conv2d
from .module import Module
from .normalization import BatchNorm2d

__all__ = ["Residual"]


class Residual(Module):
    """conv3x3(stride) -> BatchNorm -> ReLU -> conv3x3 -> BatchNorm, plus the shortcut, -> ReLU.

    ``Y = relu(bn2(conv2(relu(bn1(conv1(X))))) + shortcut(X))`` where the shortcut is the
    identity, or with ``use_1x1conv`` a 1x1 convolution of stride ``strides`` (needed when the
    channel count or the resolution changes). Submodule names are D2L's (conv1, conv2, conv3,
    bn1, bn2), so the state_dict of the same block written with torch.nn loads. Each BatchNorm
    runs fused with what follows it (``fusion.batch_norm``): bn1 with its ReLU, bn2 with the
    shortcut's add and the final ReLU.
    """

    def __init__(self, in_channels, out_channels, use_1x1conv=False, strides=1):
        super().__init__()
        self.conv1 = Conv2d(in_channels, out_channels, kernel_size=3, padding=1, stride=strides)
        self.conv2 = Conv2d(out_channels, out_channels, kernel_size=3, padding=1)
        if use_1x1conv:
            self.conv3 = Conv2d(in_channels, out_channels, kernel_size=1, stride=strides)
        else:
            self.conv3 = None
        self.bn1 = BatchNorm2d(out_channels)
        self.bn2 = BatchNorm2d(out_channels)

    def forward(self, X):
        """relu(bn2(conv2(relu(bn1(conv1(X))))) + shortcut(X)) for X (N, C_in, H, W); the shortcut
        is a 1x1 strided convolution when configured, else the identity.
        """
        Y = fusion.batch_norm(self.bn1, self.conv1(X), relu=True)
        if self.conv3 is not None:
            X = self.conv3(X)
        return fusion.batch_norm(self.bn2, self.conv2(Y), relu=True, residual=X)
