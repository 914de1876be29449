"""nn.Embedding: a lookup table of num_embeddings vectors of size embedding_dim."""
from __future__ import annotations

import numpy as np

from .. import random as _random
from ..functional.recurrent import embedding as _embedding
from .module import Module, Parameter
from .._args import count_arg

__all__ = ["Embedding"]


class Embedding(Module):
    """``weight[input]`` with weight (num_embeddings, embedding_dim) initialised N(0, 1) (PyTorch's);
    row ``padding_idx`` is zeroed and receives no gradient."""

    def __init__(self, num_embeddings, embedding_dim, padding_idx=None):
        super().__init__()
        for name, v in (("num_embeddings", num_embeddings), ("embedding_dim", embedding_dim)):
            count_arg(v, name, "Embedding")
        self.num_embeddings = int(num_embeddings)
        self.embedding_dim = int(embedding_dim)
        if padding_idx is not None:
            padding_idx = int(padding_idx)
            if not -self.num_embeddings <= padding_idx < self.num_embeddings:
                raise ValueError(f"Embedding: padding_idx {padding_idx} must be within num_embeddings "
                                 f"{self.num_embeddings}")
            if padding_idx < 0:
                padding_idx += self.num_embeddings
        self.padding_idx = padding_idx
        self.weight = Parameter(np.zeros((self.num_embeddings, self.embedding_dim), np.float32))
        self.reset_parameters()

    @classmethod
    def from_pretrained(cls, embeddings, freeze=True, padding_idx=None):
        """An Embedding holding a copy of ``embeddings`` (V, D); ``freeze`` turns its gradient off."""
        w = np.asarray(embeddings.data if hasattr(embeddings, "data") else embeddings, dtype=np.float32)
        if w.ndim != 2:
            raise ValueError(f"Embedding.from_pretrained: embeddings must be 2-D, got shape {w.shape}")
        e = cls(w.shape[0], w.shape[1], padding_idx)
        e.weight.data[...] = w
        e.weight.requires_grad = not freeze
        return e

    def reset_parameters(self):
        """Re-draw the weight from N(0, 1), with the padding_idx row (if any) zero."""
        self.weight.data[...] = _random.default_generator().standard_normal(self.weight.shape).astype(np.float32)
        if self.padding_idx is not None:
            self.weight.data[self.padding_idx] = 0

    def forward(self, input):
        """int64 indices of any shape (*) -> (*, embedding_dim) rows of the weight; IndexError for
        an index outside [0, num_embeddings).
        """
        return _embedding(input, self.weight, self.padding_idx)

    def extra_repr(self):
        """num_embeddings, embedding_dim (and padding_idx when set)."""
        s = f"{self.num_embeddings}, {self.embedding_dim}"
        return s + (f", padding_idx={self.padding_idx}" if self.padding_idx is not None else "")
