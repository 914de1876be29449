"""ResNet-18 (He et al., 2016) as in Dive into Deep Learning ("Residual Networks")."""
from __future__ import annotations

from .. import nn

__all__ = ["resnet18", "resnet_block"]


def resnet_block(in_channels, num_channels, num_residuals, first_block=False):
    """``num_residuals`` Residual blocks; the first halves the resolution and projects the
    shortcut with a 1x1 convolution unless ``first_block``."""
    blk = []
    for i in range(num_residuals):
        if i == 0 and not first_block:
            blk.append(nn.Residual(in_channels, num_channels, use_1x1conv=True, strides=2))
        else:
            blk.append(nn.Residual(num_channels, num_channels))
    return blk


def resnet18(in_channels=1, num_classes=10):
    """D2L's ResNet-18: 7x7/2 convolution with 64 channels, BatchNorm, ReLU, 3x3/2 max-pool
    (padding 1); four stages of two Residual blocks with 64, 128, 256, 512 channels (stages 2-4
    start with a stride-2 block with a 1x1 projection); global average pooling, flatten, FC.

    For 28x28 input the maps are 14x14 (stem), 7, 4, 2, 1. An ``nn.Sequential`` with D2L's
    keys: ``0.0.weight`` (stem conv), ``0.1.*`` (stem BN), ``1.0.conv1.weight`` ...,
    ``4.1.bn2.running_var``, ``7.weight`` (FC). BatchNorm+ReLU (and in the blocks
    BatchNorm+add+ReLU) run fused (``fastdl.nn.fusion``).
    """
    b1 = nn.Sequential(
        nn.Conv2d(in_channels, 64, kernel_size=7, stride=2, padding=3),
        nn.BatchNorm2d(64), nn.ReLU(),
        nn.MaxPool2d(kernel_size=3, stride=2, padding=1))
    b2 = nn.Sequential(*resnet_block(64, 64, 2, first_block=True))
    b3 = nn.Sequential(*resnet_block(64, 128, 2))
    b4 = nn.Sequential(*resnet_block(128, 256, 2))
    b5 = nn.Sequential(*resnet_block(256, 512, 2))
    return nn.Sequential(b1, b2, b3, b4, b5,
                         nn.AdaptiveAvgPool2d((1, 1)),
                         nn.Flatten(), nn.Linear(512, num_classes))
