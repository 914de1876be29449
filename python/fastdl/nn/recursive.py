"""Recursive (tree-structured) networks: ``TreeRNN``, ``BinaryTreeLSTM``, ``ChildSumTreeLSTM``
(Tai, Socher & Manning 2015) and ``TreeClassifier``.

A batch of trees is evaluated level by level: every node of one height (leaves = 0, a parent
is one above its highest child) across the whole batch is computed together — children states
gathered with index arrays, ONE linear layer (SGEMM) per level, a fused cell — through
differentiable Functions, so autograd works across levels. ``level_batching=False`` evaluates
the same model one node at a time (same numbers; for tests and comparison).

Tokens: a node's ``token`` is an int id, or a string looked up in the ``vocab`` dict given to
``TreeBatch`` (unknown words map to ``vocab['<unk>']`` when present, else KeyError). Only
leaves carry tokens; internal nodes are composed from their children.

The tree type and its Treebank parser are ``fastdl.data.trees.Tree``; the level schedule
(``TreeBatch``) and the differentiable cells are in ``fastdl.functional.recursive``. Both are
re-exported here.
"""
from __future__ import annotations

import math

import numpy as np

from .. import random as _random
from ..data.trees import Tree
from ..functional.activation import tanh
from ..functional.linear import linear
from ..functional.recurrent import embedding
from ..functional.recursive import (TreeBatch, as_batch, binary_tree_lstm_cell, child_sum_tree_lstm_cell,
                                    segment_sum, tree_gather)
from .module import Module, Parameter

__all__ = ["Tree", "TreeBatch", "TreeRNN", "BinaryTreeLSTM", "ChildSumTreeLSTM", "TreeClassifier"]


def _uniform(shape, k):
    return Parameter(_random.default_generator().uniform(-k, k, shape).astype(np.float32))


# =================================================================================== encoders
class _TreeEncoder(Module):
    """Runs a batch level by level. Subclasses define ``_leaves(ids) -> states`` and
    ``_internal(nodes, batch, gather) -> states`` (states: a tuple of (M, H) Tensors, h first)."""

    def forward(self, trees, vocab=None, level_batching=True):
        """Returns (h, batch): h (num_nodes, hidden_size) in the batch's node order."""
        batch = as_batch(trees, vocab)
        if batch.token_ids.max() >= self.num_embeddings or (batch.token_ids[batch.height == 0] < 0).any():
            bad = batch.token_ids[batch.height == 0]
            raise IndexError(f"{type(self).__name__}: token id out of range [0, {self.num_embeddings}): "
                             f"min {bad.min()}, max {bad.max()}")
        n = batch.num_nodes
        loc_src = np.full(n, -1, np.int64)
        loc_row = np.full(n, -1, np.int64)
        sources = []  # per group: tuple of state Tensors

        def gather(which, idx):
            """States `which` (0 = h, 1 = c) of the nodes idx (any shape (M, k)) -> (M, k*H)."""
            idx = np.asarray(idx, np.int64)
            # only the groups idx reads are passed (linear in the nodes, not in nodes x levels)
            used, where = np.unique(loc_src[idx], return_inverse=True)
            return tree_gather([sources[u][which] for u in used], where.reshape(idx.shape), loc_row[idx])

        for g, nodes in enumerate(batch.schedule(level_batching)):
            if batch.height[nodes[0]] == 0:
                states = self._leaves(batch.token_ids[nodes])
            else:
                states = self._internal(nodes, batch, gather)
            sources.append(states)
            loc_src[nodes] = g
            loc_row[nodes] = np.arange(len(nodes))
        h = gather(0, np.arange(n)[:, None])
        return h, batch


class TreeRNN(_TreeEncoder):
    """Recursive neural network over binary trees (Socher et al.): a leaf's state is its word
    embedding, a parent's is h = tanh(W [h_left; h_right] + b). Parameters: ``embedding``
    (V, H), ``weight`` (H, 2H), ``bias`` (H,)."""

    def __init__(self, num_embeddings, hidden_size):
        super().__init__()
        self.num_embeddings, self.hidden_size = int(num_embeddings), int(hidden_size)
        H = self.hidden_size
        self.embedding = Parameter(_random.default_generator().standard_normal((num_embeddings, H)).astype(np.float32)
                                   * np.float32(1 / math.sqrt(H)))
        self.weight = _uniform((H, 2 * H), 1 / math.sqrt(2 * H))
        self.bias = Parameter(np.zeros(H, np.float32))

    def _leaves(self, ids):
        return (embedding(ids, self.embedding),)

    def _internal(self, nodes, batch, gather):
        ch = np.stack([_binary_children(batch, i) for i in nodes])
        return (tanh(linear(gather(0, ch), self.weight, self.bias)),)


def _binary_children(batch, i):
    ch = batch.children[i]
    if ch.size != 2:
        raise ValueError(f"binary tree model: node {i} has {ch.size} children (expected 2); use "
                         "ChildSumTreeLSTM for trees of any arity")
    return ch


class _TreeLSTM(_TreeEncoder):
    """What both Tree-LSTMs share: the word embedding (V, E) and the leaf cell,
    (i, o, u) = W x + b, c = sig(i) tanh(u), h = sig(o) tanh(c)."""

    def __init__(self, num_embeddings, embedding_dim, hidden_size):
        super().__init__()
        self.num_embeddings, self.embedding_dim, self.hidden_size = int(num_embeddings), int(embedding_dim), int(hidden_size)
        E, H = self.embedding_dim, self.hidden_size
        self.embedding = Parameter(_random.default_generator().standard_normal((num_embeddings, E)).astype(np.float32))
        k = 1 / math.sqrt(H)
        self.weight_leaf = _uniform((3 * H, E), k)
        self.bias_leaf = _uniform((3 * H,), k)

    def _leaves(self, ids):
        gates = linear(embedding(ids, self.embedding), self.weight_leaf, self.bias_leaf)
        return binary_tree_lstm_cell(gates, np.zeros((len(ids), 0), np.float32))


class BinaryTreeLSTM(_TreeLSTM):
    """Binary (N-ary, N = 2) Tree-LSTM of Tai et al. 2015. Leaves: (i, o, u) = W x + b,
    c = sig(i) tanh(u). Internal nodes: (i, o, u, f_l, f_r) = U [h_l; h_r] + b_u,
    c = sig(i) tanh(u) + sig(f_l) c_l + sig(f_r) c_r. Everywhere h = sig(o) tanh(c)."""

    def __init__(self, num_embeddings, embedding_dim, hidden_size):
        super().__init__(num_embeddings, embedding_dim, hidden_size)
        H = self.hidden_size
        k = 1 / math.sqrt(H)
        self.weight = _uniform((5 * H, 2 * H), k)
        self.bias = _uniform((5 * H,), k)

    def _internal(self, nodes, batch, gather):
        ch = np.stack([_binary_children(batch, i) for i in nodes])
        gates = linear(gather(0, ch), self.weight, self.bias)
        return binary_tree_lstm_cell(gates, gather(1, ch))


class ChildSumTreeLSTM(_TreeLSTM):
    """Child-Sum Tree-LSTM of Tai et al. 2015 (any number of children). Leaves as in
    BinaryTreeLSTM; internal nodes: h~ = sum of children's h, (i, o, u) = U_iou h~ + b_iou,
    f_k = sig(U_f h_k + b_f) per child, c = sig(i) tanh(u) + sum_k f_k c_k, h = sig(o) tanh(c)."""

    def __init__(self, num_embeddings, embedding_dim, hidden_size):
        super().__init__(num_embeddings, embedding_dim, hidden_size)
        H = self.hidden_size
        k = 1 / math.sqrt(H)
        self.weight_iou = _uniform((3 * H, H), k)
        self.bias_iou = _uniform((3 * H,), k)
        self.weight_f = _uniform((H, H), k)
        self.bias_f = _uniform((H,), k)

    def _internal(self, nodes, batch, gather):
        ch = np.concatenate([batch.children[i] for i in nodes])
        seg = np.repeat(np.arange(len(nodes)), [batch.children[i].size for i in nodes])
        hc = gather(0, ch[:, None])
        cc = gather(1, ch[:, None])
        hsum = segment_sum(hc, seg, len(nodes))
        iou = linear(hsum, self.weight_iou, self.bias_iou)
        fpre = linear(hc, self.weight_f, self.bias_f)
        return child_sum_tree_lstm_cell(iou, fpre, cc, seg)


class TreeClassifier(Module):
    """A linear softmax classifier on a tree encoder's node states.

    ``forward(trees)`` returns (logits, labels): per node (``root_only=False``) or per root,
    labels int64 with -100 for unlabelled nodes (cross-entropy's default ignore_index).
    """

    def __init__(self, encoder, num_classes, root_only=False):
        super().__init__()
        self.encoder = encoder
        self.num_classes = int(num_classes)
        self.root_only = bool(root_only)
        H = encoder.hidden_size
        k = 1 / math.sqrt(H)
        self.weight = _uniform((num_classes, H), k)
        self.bias = _uniform((num_classes,), k)

    def forward(self, trees, vocab=None, level_batching=True):
        """Encode the trees (see the encoder) and classify every node (or only the roots with
        ``root_only``); returns logits (num_nodes, num_classes).
        """
        h, batch = self.encoder(trees, vocab, level_batching)
        if self.root_only:
            h = tree_gather([h], np.zeros((len(batch.roots), 1), np.int64), batch.roots[:, None])
            labels = batch.labels[batch.roots]
        else:
            labels = batch.labels
        return linear(h, self.weight, self.bias), labels
