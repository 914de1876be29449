"""Tree-structured computation (the functional half of ``fastdl.nn.recursive``): ``TreeBatch``,
the level schedule of a batch of trees, and the differentiable pieces the tree models are
built of — ``tree_gather`` (children's states into one row per node), ``segment_sum``, and the
two Tree-LSTM cells (``binary_tree_lstm_cell``, ``child_sum_tree_lstm_cell``) of Tai, Socher &
Manning 2015.

The cells are numpy Functions: ``_C`` has fused LSTM kernels only for whole sequences
(``rnn_forward``, gate order i, f, g, o with one forget gate), not for a cell with one forget
gate per child. Gathers and their backward scatter-adds run on the embedding kernels.
"""
from __future__ import annotations

import numpy as np

from .. import _C
from .._args import is_int
from ..autograd import Function
from ..data.trees import Tree

__all__ = ["TreeBatch", "as_batch", "tree_gather", "segment_sum", "binary_tree_lstm_cell",
           "child_sum_tree_lstm_cell"]


class TreeBatch:
    """The evaluation schedule of a list of trees.

    Nodes are numbered trees first, post-order inside each tree. ``labels`` (int64, -100 where
    a node has no label), ``roots`` (node index of each tree's root), ``token_ids`` (leaves'
    ids, -1 for internal nodes), ``children`` (list of child-index arrays), ``levels`` (node
    indices of each height; level 0 = the leaves).
    """

    def __init__(self, trees, vocab=None):
        if isinstance(trees, Tree):
            trees = [trees]
        trees = list(trees)
        if not trees:
            raise ValueError("TreeBatch: no trees")
        nodes, roots, children = [], [], []
        for t in trees:
            if not isinstance(t, Tree):
                raise TypeError(f"TreeBatch: expected Tree objects, got {type(t).__name__}")
            base = len(nodes)
            order = t.postorder()
            index = {id(n): base + i for i, n in enumerate(order)}
            for n in order:
                children.append(np.array([index[id(c)] for c in n.children], np.int64))
            nodes.extend(order)
            roots.append(base + len(order) - 1)
        self.trees = trees
        self.nodes = nodes
        self.num_nodes = len(nodes)
        self.roots = np.array(roots, np.int64)
        self.children = children
        self.labels = np.array([-100 if n.label is None else n.label for n in nodes], np.int64)
        ids = np.full(len(nodes), -1, np.int64)
        for i, n in enumerate(nodes):
            if n.is_leaf:
                if n.token is None:
                    raise ValueError(f"TreeBatch: leaf {i} has no token")
                ids[i] = _token_id(n.token, vocab)
        self.token_ids = ids
        height = np.zeros(len(nodes), np.int64)
        for i, ch in enumerate(children):
            if ch.size:
                height[i] = 1 + height[ch].max()
        self.height = height
        # one stable sort, not one scan of all nodes per height (linear in the nodes)
        self.levels = [sel for _, sel in _groups(height, int(height.max()) + 1)]

    def __len__(self):
        return len(self.trees)

    def schedule(self, level_batching=True):
        """Groups of nodes computed together: the levels, or one node per group (post-order)."""
        if level_batching:
            return self.levels
        return [np.array([i], np.int64) for i in range(self.num_nodes)]


def _token_id(tok, vocab):
    if is_int(tok):
        return int(tok)
    if vocab is None:
        raise ValueError(f"TreeBatch: token {tok!r} is not an int id and no vocab was given")
    if tok in vocab:
        return int(vocab[tok])
    if "<unk>" in vocab:
        return int(vocab["<unk>"])
    raise KeyError(f"TreeBatch: token {tok!r} is not in the vocab (and there is no '<unk>')")


def as_batch(trees, vocab=None):
    return trees if isinstance(trees, TreeBatch) else TreeBatch(trees, vocab)


# ======================================================================= differentiable pieces
class _GatherRows(Function):
    """out[i, j*D:(j+1)*D] = sources[src[i, j]][row[i, j]] for index arrays src, row of shape
    (M, k): gathers k child states per node from the per-level state tensors into one row.
    Backward scatter-adds (duplicates summed) into each source that needs a gradient."""

    @staticmethod
    def forward(ctx, src, row, *sources):
        M, k = src.shape
        D = sources[0].shape[1]
        out = np.empty((M * k, D), np.float32)
        groups = _groups(src.ravel(), len(sources))
        flat_row = row.ravel()
        for s, sel in groups:
            out[sel] = _C.embedding_forward(sources[s], flat_row[sel])
        ctx.save(groups, flat_row)
        ctx.shapes = [a.shape for a in sources]
        return out.reshape(M, k * D)

    @staticmethod
    def backward(ctx, dout):
        groups, flat_row = ctx.saved
        d2 = dout.reshape(len(flat_row), -1)
        grads = [None] * len(ctx.shapes)
        for s, sel in groups:
            if ctx.needs_input_grad[2 + s]:
                grads[s] = _C.embedding_backward(np.ascontiguousarray(d2[sel]), flat_row[sel], ctx.shapes[s][0], -1)
        return (None, None, *grads)


def _groups(src, n):
    """[(s, positions where src == s)] for the sources s that occur: one stable sort, so the
    cost is O(len(src) log len(src) + n), not one scan of src per source."""
    order = np.argsort(src, kind="stable")
    counts = np.bincount(src, minlength=n)
    ends = np.cumsum(counts)
    return [(int(s), order[ends[s] - counts[s]:ends[s]]) for s in np.flatnonzero(counts)]


def tree_gather(sources, src, row):
    """Row i of the result concatenates sources[src[i, j]][row[i, j]] over j (see _GatherRows)."""
    return _GatherRows.apply(np.ascontiguousarray(src, np.int64), np.ascontiguousarray(row, np.int64), *sources)


class _SegmentSum(Function):
    """out[m] = sum of x[i] over i with seg[i] == m (m < M); backward gathers."""

    @staticmethod
    def forward(ctx, x, seg, M):
        out = np.zeros((M, x.shape[1]), np.float32)
        np.add.at(out, seg, x)
        ctx.save(seg)
        return out

    @staticmethod
    def backward(ctx, dout):
        (seg,) = ctx.saved
        return dout[seg], None, None


def _sig(x):
    half = np.float32(0.5)
    return half + half * np.tanh(half * x)  # float32 in, float32 out, no overflow


class _BinaryCell(Function):
    """N-ary (fixed k children) Tree-LSTM cell. gates (M, (3+k)H) = [i, o, u, f_1 .. f_k]
    pre-activations, cc (M, kH) the children's cells:
        c = sig(i) tanh(u) + sum_j sig(f_j) c_j,   h = sig(o) tanh(c).  Returns (h, c)."""

    @staticmethod
    def forward(ctx, gates, cc):
        M = gates.shape[0]
        H = (gates.shape[1] - cc.shape[1]) // 3  # gates (3+k)H wide, cc kH wide
        k = cc.shape[1] // H
        i, o, u = _sig(gates[:, :H]), _sig(gates[:, H:2 * H]), np.tanh(gates[:, 2 * H:3 * H])
        f = _sig(gates[:, 3 * H:]).reshape(M, k, H)
        c3 = cc.reshape(M, k, H)
        c = i * u + (f * c3).sum(axis=1)
        tc = np.tanh(c)
        h = o * tc
        ctx.save(i, o, u, f, c3, tc)
        return h.astype(np.float32), c.astype(np.float32)

    @staticmethod
    def backward(ctx, dh, dc):
        i, o, u, f, c3, tc = ctx.saved
        M, k, H = f.shape
        dct = dc + dh * o * (1 - tc * tc)
        g = np.empty((M, (3 + k) * H), np.float32)
        g[:, :H] = dct * u * i * (1 - i)
        g[:, H:2 * H] = dh * tc * o * (1 - o)
        g[:, 2 * H:3 * H] = dct * i * (1 - u * u)
        g[:, 3 * H:] = (dct[:, None] * c3 * f * (1 - f)).reshape(M, k * H)
        dcc = (dct[:, None] * f).reshape(M, k * H) if ctx.needs_input_grad[1] else None
        return g, dcc


class _ChildSumCell(Function):
    """Child-Sum Tree-LSTM cell. iou (M, 3H) pre-activations of i, o, u; fpre (C, H) one
    forget pre-activation per child; cc (C, H) the children's cells; seg (C,) each child's
    parent row:  c = sig(i) tanh(u) + sum_children sig(f) c_child,  h = sig(o) tanh(c)."""

    @staticmethod
    def forward(ctx, iou, fpre, cc, seg):
        H = iou.shape[1] // 3
        i, o, u = _sig(iou[:, :H]), _sig(iou[:, H:2 * H]), np.tanh(iou[:, 2 * H:])
        f = _sig(fpre)
        c = i * u
        np.add.at(c, seg, f * cc)
        tc = np.tanh(c)
        ctx.save(i, o, u, f, cc, tc, seg)
        return (o * tc).astype(np.float32), c.astype(np.float32)

    @staticmethod
    def backward(ctx, dh, dc):
        i, o, u, f, cc, tc, seg = ctx.saved
        dct = dc + dh * o * (1 - tc * tc)
        diou = np.concatenate([dct * u * i * (1 - i), dh * tc * o * (1 - o), dct * i * (1 - u * u)], axis=1)
        dcs = dct[seg]
        dfpre = dcs * cc * f * (1 - f)
        dcc = dcs * f
        return diou, dfpre, dcc, None


def segment_sum(x, seg, num_segments):
    """out[m] = sum of the rows x[i] with seg[i] == m, for m < num_segments."""
    return _SegmentSum.apply(x, seg, num_segments)


def binary_tree_lstm_cell(gates, cc):
    """N-ary Tree-LSTM cell (see _BinaryCell): returns (h, c)."""
    return _BinaryCell.apply(gates, cc)


def child_sum_tree_lstm_cell(iou, fpre, cc, seg):
    """Child-Sum Tree-LSTM cell (see _ChildSumCell): returns (h, c)."""
    return _ChildSumCell.apply(iou, fpre, cc, seg)
