"""Recursive (tree-structured) networks: ``Tree`` with the Stanford Sentiment Treebank parser,
``TreeRNN``, ``BinaryTreeLSTM``, ``ChildSumTreeLSTM`` (Tai, Socher & Manning 2015) and
``TreeClassifier``.

A batch of trees is evaluated level by level: every node of one height (leaves = 0, a parent
is one above its highest child) across the whole batch is computed together — children states
gathered with index arrays, ONE linear layer (SGEMM) per level, a fused cell — through
differentiable Functions, so autograd works across levels. ``level_batching=False`` evaluates
the same model one node at a time (same numbers; for tests and comparison).

Tokens: a node's ``token`` is an int id, or a string looked up in the ``vocab`` dict given to
``TreeBatch`` (unknown words map to ``vocab['<unk>']`` when present, else KeyError). Only
leaves carry tokens; internal nodes are composed from their children.
"""
from __future__ import annotations

import math

import numpy as np

from .. import _C
from .. import random as _random
from ..autograd import Function
from ..functional.activation import tanh
from ..functional.linear import linear
from ..functional.recurrent import embedding
from .module import Module, Parameter
from .._args import is_int

__all__ = ["Tree", "TreeBatch", "TreeRNN", "BinaryTreeLSTM", "ChildSumTreeLSTM", "TreeClassifier"]


# ====================================================================================== Tree
class Tree:
    """A tree node: ``children`` (list of Tree), optional integer ``label`` and ``token``."""

    __slots__ = ("children", "label", "token")

    def __init__(self, children=(), label=None, token=None):
        self.children = list(children)
        for c in self.children:
            if not isinstance(c, Tree):
                raise TypeError(f"Tree: children must be Tree instances, got {type(c).__name__}")
        if label is not None and not is_int(label):
            raise TypeError(f"Tree: label must be an int or None, got {label!r}")
        self.label = None if label is None else int(label)
        self.token = token

    @property
    def is_leaf(self):
        return not self.children

    def postorder(self):
        """All nodes, children before parents, left to right (iterative: deep trees are fine)."""
        out, stack = [], [(self, False)]
        while stack:
            node, done = stack.pop()
            if done or node.is_leaf:
                out.append(node)
                continue
            stack.append((node, True))
            for c in reversed(node.children):
                stack.append((c, False))
        return out

    def leaves(self):
        """Leaf nodes, left to right."""
        return [n for n in self.postorder() if n.is_leaf]

    def words(self):
        """The tokens of the leaves, left to right."""
        return [n.token for n in self.leaves()]

    def depth(self):
        """Edges on the longest root-to-leaf path (a single leaf has depth 0)."""
        h = {}
        for n in self.postorder():
            h[id(n)] = 0 if n.is_leaf else 1 + max(h[id(c)] for c in n.children)
        return h[id(self)]

    def __len__(self):
        return len(self.postorder())

    def __str__(self):
        parts, stack = [], [(self, False)]
        while stack:
            node, done = stack.pop()
            if done:
                parts.append(")")
                continue
            lab = "" if node.label is None else str(node.label)
            if node.is_leaf:
                parts.append(f"({lab} {node.token})" if lab else f"({node.token})")
                continue
            parts.append("(" + lab)
            stack.append((node, True))
            for c in reversed(node.children):
                stack.append((c, False))
        out = []
        for p in parts:  # a space before each child
            out.append(p if p == ")" or not out else " " + p)
        return "".join(out)

    def __repr__(self):
        return f"Tree({str(self)!r})"

    @classmethod
    def parse(cls, s):
        """Parse the bracketed Stanford Sentiment Treebank format, e.g.
        ``(3 (2 not) (4 (3 very) (4 good)))``: every node is ``(label word)`` (a leaf) or
        ``(label child child ...)``; labels are integers. Raises ValueError naming the problem
        and its position for malformed strings."""
        if not isinstance(s, str):
            raise TypeError(f"Tree.parse: expected a str, got {type(s).__name__}")
        toks = []  # (kind, text, position)
        i, n = 0, len(s)
        while i < n:
            ch = s[i]
            if ch.isspace():
                i += 1
            elif ch in "()":
                toks.append((ch, ch, i))
                i += 1
            else:
                j = i
                while j < n and not s[j].isspace() and s[j] not in "()":
                    j += 1
                toks.append(("w", s[i:j], i))
                i = j
        if not toks:
            raise ValueError("Tree.parse: empty string")
        if toks[0][0] != "(":
            raise ValueError(f"Tree.parse: expected '(' at position {toks[0][2]}, got {toks[0][1]!r}")
        stack = []  # open nodes: [label, children, word, position]
        root = None
        k = 0
        while k < len(toks):
            kind, text, pos = toks[k]
            if root is not None:
                if kind == ")":
                    raise ValueError(f"Tree.parse: unbalanced ')' at position {pos}")
                raise ValueError(f"Tree.parse: trailing text {text!r} at position {pos} after the closing ')'")
            if kind == "(":
                if k + 1 >= len(toks) or toks[k + 1][0] != "w":
                    got = "end of string" if k + 1 >= len(toks) else repr(toks[k + 1][1])
                    raise ValueError(f"Tree.parse: missing label after '(' at position {pos} (got {got})")
                lab_text = toks[k + 1][1]
                try:
                    label = int(lab_text)
                except ValueError:
                    raise ValueError(f"Tree.parse: label {lab_text!r} at position {toks[k + 1][2]} is not an "
                                     "integer") from None
                stack.append([label, [], None, pos])
                k += 2
                continue
            if kind == "w":
                if not stack:
                    raise ValueError(f"Tree.parse: word {text!r} at position {pos} outside brackets")
                top = stack[-1]
                if top[1] or top[2] is not None:
                    raise ValueError(f"Tree.parse: unexpected word {text!r} at position {pos}: a node holds "
                                     "either one word or child nodes")
                top[2] = text
                k += 1
                continue
            # ')'
            if not stack:
                raise ValueError(f"Tree.parse: unbalanced ')' at position {pos}")
            label, children, word, opos = stack.pop()
            if word is None and not children:
                raise ValueError(f"Tree.parse: node opened at position {opos} has neither a word nor children")
            node = cls(children, label=label, token=word)
            if stack:
                if stack[-1][2] is not None:
                    raise ValueError(f"Tree.parse: node at position {opos} follows a word in the same node")
                stack[-1][1].append(node)
            else:
                root = node
            k += 1
        if stack:
            raise ValueError(f"Tree.parse: unbalanced parentheses: {len(stack)} node(s) not closed "
                             f"(opened at position {stack[-1][3]})")
        return root


# ================================================================================= TreeBatch
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
        self.levels = [np.flatnonzero(height == h) for h in range(int(height.max()) + 1)]

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


def _as_batch(trees, vocab=None):
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
        out = np.empty((M, k, D), np.float32)
        for s, a in enumerate(sources):
            mask = src == s
            if mask.any():
                out[mask] = _C.embedding_forward(a, row[mask])
        ctx.save(src, row)
        ctx.shapes = [a.shape for a in sources]
        return out.reshape(M, k * D)

    @staticmethod
    def backward(ctx, dout):
        src, row = ctx.saved
        M, k = src.shape
        d3 = dout.reshape(M, k, -1)
        grads = []
        for s, shape in enumerate(ctx.shapes):
            if not ctx.needs_input_grad[2 + s]:
                grads.append(None)
                continue
            mask = src == s
            grads.append(_C.embedding_backward(np.ascontiguousarray(d3[mask]), row[mask], shape[0], -1))
        return (None, None, *grads)


def _gather(sources, src, row):
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


def _uniform(shape, k):
    return Parameter(_random.default_generator().uniform(-k, k, shape).astype(np.float32))


# =================================================================================== encoders
class _TreeEncoder(Module):
    """Runs a batch level by level. Subclasses define ``_leaves(ids) -> states`` and
    ``_internal(nodes, batch, gather) -> states`` (states: a tuple of (M, H) Tensors, h first)."""

    def forward(self, trees, vocab=None, level_batching=True):
        """Returns (h, batch): h (num_nodes, hidden_size) in the batch's node order."""
        batch = _as_batch(trees, vocab)
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
            return _gather([s[which] for s in sources], loc_src[idx], loc_row[idx])

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


class BinaryTreeLSTM(_TreeEncoder):
    """Binary (N-ary, N = 2) Tree-LSTM of Tai et al. 2015. Leaves: (i, o, u) = W x + b,
    c = sig(i) tanh(u). Internal nodes: (i, o, u, f_l, f_r) = U [h_l; h_r] + b_u,
    c = sig(i) tanh(u) + sig(f_l) c_l + sig(f_r) c_r. Everywhere h = sig(o) tanh(c)."""

    def __init__(self, num_embeddings, embedding_dim, hidden_size):
        super().__init__()
        self.num_embeddings, self.embedding_dim, self.hidden_size = int(num_embeddings), int(embedding_dim), int(hidden_size)
        E, H = self.embedding_dim, self.hidden_size
        self.embedding = Parameter(_random.default_generator().standard_normal((num_embeddings, E)).astype(np.float32))
        k = 1 / math.sqrt(H)
        self.weight_leaf = _uniform((3 * H, E), k)
        self.bias_leaf = _uniform((3 * H,), k)
        self.weight = _uniform((5 * H, 2 * H), k)
        self.bias = _uniform((5 * H,), k)

    def _leaves(self, ids):
        gates = linear(embedding(ids, self.embedding), self.weight_leaf, self.bias_leaf)
        return _BinaryCell.apply(gates, np.zeros((len(ids), 0), np.float32))

    def _internal(self, nodes, batch, gather):
        ch = np.stack([_binary_children(batch, i) for i in nodes])
        gates = linear(gather(0, ch), self.weight, self.bias)
        return _BinaryCell.apply(gates, gather(1, ch))


class ChildSumTreeLSTM(_TreeEncoder):
    """Child-Sum Tree-LSTM of Tai et al. 2015 (any number of children). Leaves as in
    BinaryTreeLSTM; internal nodes: h~ = sum of children's h, (i, o, u) = U_iou h~ + b_iou,
    f_k = sig(U_f h_k + b_f) per child, c = sig(i) tanh(u) + sum_k f_k c_k, h = sig(o) tanh(c)."""

    def __init__(self, num_embeddings, embedding_dim, hidden_size):
        super().__init__()
        self.num_embeddings, self.embedding_dim, self.hidden_size = int(num_embeddings), int(embedding_dim), int(hidden_size)
        E, H = self.embedding_dim, self.hidden_size
        self.embedding = Parameter(_random.default_generator().standard_normal((num_embeddings, E)).astype(np.float32))
        k = 1 / math.sqrt(H)
        self.weight_leaf = _uniform((3 * H, E), k)
        self.bias_leaf = _uniform((3 * H,), k)
        self.weight_iou = _uniform((3 * H, H), k)
        self.bias_iou = _uniform((3 * H,), k)
        self.weight_f = _uniform((H, H), k)
        self.bias_f = _uniform((H,), k)

    def _leaves(self, ids):
        gates = linear(embedding(ids, self.embedding), self.weight_leaf, self.bias_leaf)
        return _BinaryCell.apply(gates, np.zeros((len(ids), 0), np.float32))

    def _internal(self, nodes, batch, gather):
        ch = np.concatenate([batch.children[i] for i in nodes])
        seg = np.repeat(np.arange(len(nodes)), [batch.children[i].size for i in nodes])
        hc = gather(0, ch[:, None])
        cc = gather(1, ch[:, None])
        hsum = _SegmentSum.apply(hc, seg, len(nodes))
        iou = linear(hsum, self.weight_iou, self.bias_iou)
        fpre = linear(hc, self.weight_f, self.bias_f)
        return _ChildSumCell.apply(iou, fpre, cc, seg)


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
        h, batch = self.encoder(trees, vocab, level_batching)
        if self.root_only:
            h = _gather([h], np.zeros((len(batch.roots), 1), np.int64), batch.roots[:, None])
            labels = batch.labels[batch.roots]
        else:
            labels = batch.labels
        return linear(h, self.weight, self.bias), labels
