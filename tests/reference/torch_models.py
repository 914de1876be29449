"""The model zoo written with torch.nn (Dive into Deep Learning's code): the reference that
fastdl.models must match parameter for parameter (tests/test_models.py) and the PyTorch side
of bench/train.py. Takes the torch module as an argument, so importing this file never
imports torch."""


def torch_models(torch):
    """name -> builder of the torch.nn model (D2L's code); "Residual" is the block class."""
    tnn = torch.nn

    class Residual(tnn.Module):
        def __init__(self, in_channels, out_channels, use_1x1conv=False, strides=1):
            super().__init__()
            self.conv1 = tnn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1, stride=strides)
            self.conv2 = tnn.Conv2d(out_channels, out_channels, kernel_size=3, padding=1)
            self.conv3 = tnn.Conv2d(in_channels, out_channels, kernel_size=1, stride=strides) if use_1x1conv else None
            self.bn1 = tnn.BatchNorm2d(out_channels)
            self.bn2 = tnn.BatchNorm2d(out_channels)

        def forward(self, X):
            Y = torch.relu(self.bn1(self.conv1(X)))
            Y = self.bn2(self.conv2(Y))
            if self.conv3 is not None:
                X = self.conv3(X)
            return torch.relu(Y + X)

    def lenet():
        return tnn.Sequential(
            tnn.Conv2d(1, 6, kernel_size=5, padding=2), tnn.Sigmoid(), tnn.AvgPool2d(kernel_size=2, stride=2),
            tnn.Conv2d(6, 16, kernel_size=5), tnn.Sigmoid(), tnn.AvgPool2d(kernel_size=2, stride=2),
            tnn.Flatten(), tnn.Linear(16 * 5 * 5, 120), tnn.Sigmoid(), tnn.Linear(120, 84), tnn.Sigmoid(),
            tnn.Linear(84, 10))

    def lenet_bn():
        return tnn.Sequential(
            tnn.Conv2d(1, 6, kernel_size=5), tnn.BatchNorm2d(6), tnn.Sigmoid(), tnn.AvgPool2d(kernel_size=2, stride=2),
            tnn.Conv2d(6, 16, kernel_size=5), tnn.BatchNorm2d(16), tnn.Sigmoid(),
            tnn.AvgPool2d(kernel_size=2, stride=2), tnn.Flatten(),
            tnn.Linear(256, 120), tnn.BatchNorm1d(120), tnn.Sigmoid(),
            tnn.Linear(120, 84), tnn.BatchNorm1d(84), tnn.Sigmoid(), tnn.Linear(84, 10))

    def nin_block(i, o, k, s, p):
        return tnn.Sequential(tnn.Conv2d(i, o, k, s, p), tnn.ReLU(), tnn.Conv2d(o, o, kernel_size=1), tnn.ReLU(),
                              tnn.Conv2d(o, o, kernel_size=1), tnn.ReLU())

    def nin():
        return tnn.Sequential(
            nin_block(1, 96, 5, 2, 2), tnn.MaxPool2d(3, stride=2),
            nin_block(96, 256, 5, 1, 2), tnn.MaxPool2d(3, stride=2),
            nin_block(256, 384, 3, 1, 1), tnn.MaxPool2d(3, stride=2, padding=1),
            tnn.Dropout(0.5), nin_block(384, 10, 3, 1, 1), tnn.AdaptiveAvgPool2d((1, 1)), tnn.Flatten())

    def resnet_block(i, o, n, first_block=False):
        return [Residual(i, o, use_1x1conv=True, strides=2) if j == 0 and not first_block else Residual(o, o)
                for j in range(n)]

    def resnet18():
        b1 = tnn.Sequential(tnn.Conv2d(1, 64, kernel_size=7, stride=2, padding=3), tnn.BatchNorm2d(64), tnn.ReLU(),
                            tnn.MaxPool2d(kernel_size=3, stride=2, padding=1))
        return tnn.Sequential(b1, tnn.Sequential(*resnet_block(64, 64, 2, first_block=True)),
                              tnn.Sequential(*resnet_block(64, 128, 2)), tnn.Sequential(*resnet_block(128, 256, 2)),
                              tnn.Sequential(*resnet_block(256, 512, 2)), tnn.AdaptiveAvgPool2d((1, 1)),
                              tnn.Flatten(), tnn.Linear(512, 10))

    return {"lenet": lenet, "lenet_bn": lenet_bn, "nin": nin, "resnet18": resnet18, "Residual": Residual}
