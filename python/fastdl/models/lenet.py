"""LeNet-5 (LeCun et al., 1998) and LeNet with batch normalisation, as in Dive into Deep
Learning ("Convolutional Neural Networks (LeNet)" and "Batch Normalization" chapters)."""
from __future__ import annotations

from .. import nn

__all__ = ["lenet", "lenet_bn"]


def lenet(num_classes=10):
    """LeNet-5 for 1x28x28 input: conv 6@5x5 pad 2, sigmoid, avg-pool 2/2; conv 16@5x5,
    sigmoid, avg-pool 2/2; flatten; FC 120, sigmoid; FC 84, sigmoid; FC num_classes.

    An ``nn.Sequential`` with D2L's indices: parameters ``0.*`` (conv1), ``3.*`` (conv2),
    ``7.*``, ``9.*``, ``11.*`` (the fully connected layers).
    """
    return nn.Sequential(
        nn.Conv2d(1, 6, kernel_size=5, padding=2), nn.Sigmoid(),
        nn.AvgPool2d(kernel_size=2, stride=2),
        nn.Conv2d(6, 16, kernel_size=5), nn.Sigmoid(),
        nn.AvgPool2d(kernel_size=2, stride=2),
        nn.Flatten(),
        nn.Linear(16 * 5 * 5, 120), nn.Sigmoid(),
        nn.Linear(120, 84), nn.Sigmoid(),
        nn.Linear(84, num_classes))


def lenet_bn(num_classes=10):
    """D2L's LeNet with batch normalisation (concise version) for 1x28x28 input:
    conv 6@5x5 (no padding), BatchNorm2d, sigmoid, avg-pool 2/2; conv 16@5x5, BatchNorm2d,
    sigmoid, avg-pool 2/2; flatten (16*4*4 = 256); FC 120, BatchNorm1d, sigmoid; FC 84,
    BatchNorm1d, sigmoid; FC num_classes. An ``nn.Sequential`` (keys ``0.*``, ``1.*``, ...).
    """
    return nn.Sequential(
        nn.Conv2d(1, 6, kernel_size=5), nn.BatchNorm2d(6), nn.Sigmoid(),
        nn.AvgPool2d(kernel_size=2, stride=2),
        nn.Conv2d(6, 16, kernel_size=5), nn.BatchNorm2d(16), nn.Sigmoid(),
        nn.AvgPool2d(kernel_size=2, stride=2), nn.Flatten(),
        nn.Linear(256, 120), nn.BatchNorm1d(120), nn.Sigmoid(),
        nn.Linear(120, 84), nn.BatchNorm1d(84), nn.Sigmoid(),
        nn.Linear(84, num_classes))
