"""fastdl.train: a Keras-style loop around PyTorch-shaped models.

``fit`` trains, ``evaluate`` measures, ``predict`` runs a model batch by batch; ``History``
holds the per-epoch numbers; callbacks (EarlyStopping, ModelCheckpoint, TerminateOnNaN,
CSVLogger, TensorBoard) hook into the loop.
"""
from .callbacks import Callback, CSVLogger, EarlyStopping, ModelCheckpoint, TensorBoard, TerminateOnNaN  # noqa: F401
from .history import History  # noqa: F401
from .loop import evaluate, fit, predict  # noqa: F401
from .metrics import accuracy  # noqa: F401

__all__ = ["fit", "evaluate", "predict", "History", "Callback", "EarlyStopping", "ModelCheckpoint",
           "TerminateOnNaN", "CSVLogger", "TensorBoard", "accuracy"]
