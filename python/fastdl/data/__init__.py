"""fastdl.data: datasets, the DataLoader, feature scalers and bundled/file-based data sets."""
from . import datasets, transforms  # noqa: F401
from .dataloader import DataLoader  # noqa: F401
from .dataset import Dataset, TensorDataset  # noqa: F401
from .datasets import train_test_split  # noqa: F401
from .sampler import DistributedSampler  # noqa: F401
from .trees import Tree  # noqa: F401

__all__ = ["Dataset", "TensorDataset", "DataLoader", "train_test_split", "DistributedSampler", "transforms",
           "datasets", "Tree"]
