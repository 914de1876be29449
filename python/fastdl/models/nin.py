"""Network in Network (Lin et al., 2013) as in Dive into Deep Learning, resized for 28x28."""
from __future__ import annotations

from .. import nn

__all__ = ["nin", "nin_block"]


def nin_block(in_channels, out_channels, kernel_size, strides, padding):
    """One k x k convolution and two 1x1 convolutions, each followed by ReLU (D2L)."""
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel_size, strides, padding), nn.ReLU(),
        nn.Conv2d(out_channels, out_channels, kernel_size=1), nn.ReLU(),
        nn.Conv2d(out_channels, out_channels, kernel_size=1), nn.ReLU())


def nin(in_channels=1, num_classes=10):
    """NiN for 28x28 input. D2L's channel counts (96, 256, 384, classes), dropout 0.5 and
    global average pooling, with the geometry adapted from 224x224 to 28x28:

    ====================  =====================================  ===========
    D2L (224x224)         here (28x28)                           output
    ====================  =====================================  ===========
    NiN 96, 11x11/4, p0   NiN 96, 5x5/2, p2                      96x14x14
    MaxPool 3/2           MaxPool 3/2                            96x6x6
    NiN 256, 5x5/1, p2    NiN 256, 5x5/1, p2                     256x6x6
    MaxPool 3/2           MaxPool 3/2                            256x2x2
    NiN 384, 3x3/1, p1    NiN 384, 3x3/1, p1                     384x2x2
    MaxPool 3/2           MaxPool 3/2, padding 1                 384x1x1
    Dropout 0.5           Dropout 0.5
    NiN 10, 3x3/1, p1     NiN num_classes, 3x3/1, p1             10x1x1
    AdaptiveAvgPool 1x1,  AdaptiveAvgPool 1x1, Flatten           10
    Flatten
    ====================  =====================================  ===========

    (~36 MMAC per image, about ResNet-18's cost at this size.) State_dict keys follow D2L's
    nn.Sequential: ``0.0.weight`` (first conv of block 1), ``2.0.weight``, ... .
    """
    return nn.Sequential(
        nin_block(in_channels, 96, kernel_size=5, strides=2, padding=2),
        nn.MaxPool2d(3, stride=2),
        nin_block(96, 256, kernel_size=5, strides=1, padding=2),
        nn.MaxPool2d(3, stride=2),
        nin_block(256, 384, kernel_size=3, strides=1, padding=1),
        nn.MaxPool2d(3, stride=2, padding=1),
        nn.Dropout(0.5),
        nin_block(384, num_classes, kernel_size=3, strides=1, padding=1),
        nn.AdaptiveAvgPool2d((1, 1)),
        nn.Flatten())
