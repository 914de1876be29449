"""Recursive networks: Tree parsing and helpers, level batching vs node-by-node, tree models
vs the same trees unrolled by hand in PyTorch (autograd), bad inputs, and the generated
sentiment treebank task (root accuracy >= 95 %)."""
import importlib.util
import pathlib

import numpy as np
import pytest

import fastdl
from fastdl import nn
from fastdl.nn import Tree, TreeBatch
from conftest import torch_or_skip

SST = "(3 (2 not) (4 (3 very) (4 good)))"


# ------------------------------------------------------------------------------ Tree / parser
def test_parse_and_helpers():
    t = Tree.parse(SST)
    assert t.label == 3 and len(t.children) == 2
    assert t.words() == ["not", "very", "good"]
    assert [n.label for n in t.postorder()] == [2, 3, 4, 4, 3]
    assert [n.token for n in t.leaves()] == ["not", "very", "good"]
    assert t.depth() == 2 and len(t) == 5
    assert str(t) == SST
    assert Tree.parse(str(t)).postorder()[1].token == "very"
    assert Tree.parse("  (1   word )\n").token == "word"
    assert Tree.parse("(0 (1 a) (2 b) (3 c))").children[2].label == 3  # n-ary allowed
    leaf = Tree(token="x")
    assert leaf.is_leaf and leaf.depth() == 0 and leaf.label is None


def test_parse_deep_tree_no_recursion_limit():
    depth = 5000
    s = "(1 (1 w) " * depth + "(1 w)" + ")" * depth
    t = Tree.parse(s)
    assert t.depth() == depth and len(t) == 2 * depth + 1
    b = TreeBatch([t], {"w": 0})
    assert len(b.levels) == depth + 1


@pytest.mark.parametrize("bad,msg", [
    ("", "empty"),
    ("   ", "empty"),
    ("(3 (2 not) (4 good)", "unbalanced"),
    ("(3 (2 not)))", "unbalanced"),
    ("(not)", "not an integer"),
    ("(x (2 a))", "not an integer"),
    ("(2.5 a)", "not an integer"),
    ("( (2 a))", "missing label"),
    ("(", "missing label"),
    ("(3)", "neither"),
    ("(3 (2 a)) extra", "trailing"),
    ("(3 (2 a)) (2 b)", "trailing"),
    ("(2 a b)", "unexpected word"),
    ("(2 a (2 b))", "follows a word"),
    ("(2 (2 a) b)", "unexpected word"),
    ("word", "expected '\\('"),
    (")", "expected '\\('"),
])
def test_parse_malformed(bad, msg):
    with pytest.raises(ValueError, match=msg):
        Tree.parse(bad)


def test_parse_type_error():
    with pytest.raises(TypeError):
        Tree.parse(None)


def test_batch_schedule():
    trees = [Tree.parse(SST), Tree.parse("(1 (0 bad) (2 movie))")]
    b = TreeBatch(trees, {"not": 0, "very": 1, "good": 2, "bad": 3, "movie": 4})
    assert b.num_nodes == 8 and list(b.roots) == [4, 7]
    assert [list(l) for l in b.levels] == [[0, 1, 2, 5, 6], [3, 7], [4]]
    assert list(b.token_ids) == [0, 1, 2, -1, -1, 3, 4, -1]
    assert list(b.labels) == [2, 3, 4, 4, 3, 0, 2, 1]
    with pytest.raises(KeyError):
        TreeBatch([Tree.parse("(1 unknown)")], {"a": 0})
    assert TreeBatch([Tree.parse("(1 unknown)")], {"<unk>": 7}).token_ids[0] == 7
    with pytest.raises(ValueError, match="no trees"):
        TreeBatch([])


# ------------------------------------------------------------------------------ models
VOCAB = {w: i for i, w in enumerate(["not", "very", "good", "bad", "movie", "a", "is", "<unk>"])}
TREES = [SST, "(1 (0 bad) (2 movie))", "(2 (2 a) (2 (2 movie) (1 (2 is) (1 (2 not) (3 good)))))", "(4 good)"]


def _model(kind, seed=0):
    fastdl.manual_seed(seed)
    V = len(VOCAB)
    if kind == "TreeRNN":
        enc = nn.TreeRNN(V, 6)
    elif kind == "BinaryTreeLSTM":
        enc = nn.BinaryTreeLSTM(V, 5, 6)
    else:
        enc = nn.ChildSumTreeLSTM(V, 5, 6)
    return nn.TreeClassifier(enc, 5)


def _grads_of(model, trees, level_batching, rng_seed=1):
    model.zero_grad()
    logits, labels = model(trees, VOCAB, level_batching=level_batching)
    w = np.random.default_rng(rng_seed).standard_normal(logits.shape).astype(np.float32)
    logits.backward(w)
    return logits.data, labels, {n: p.grad.data.copy() for n, p in model.named_parameters()}


@pytest.mark.parametrize("kind", ["TreeRNN", "BinaryTreeLSTM", "ChildSumTreeLSTM"])
def test_level_batching_equals_node_by_node(kind):
    trees = [Tree.parse(s) for s in TREES]
    m = _model(kind)
    a, la, ga = _grads_of(m, trees, True)
    b, lb, gb = _grads_of(m, trees, False)
    np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(la, lb)
    for n in ga:
        np.testing.assert_allclose(ga[n], gb[n], rtol=1e-5, atol=1e-6, err_msg=n)


def _torch_unrolled(kind, model, trees, torch):
    """The same model written node by node in PyTorch (recursion by hand, autograd)."""
    P = {n: torch.tensor(p.data, requires_grad=True) for n, p in model.named_parameters()}
    e = "encoder."
    H = model.encoder.hidden_size

    def node(t):
        if t.is_leaf:
            x = P[e + "embedding"][VOCAB[t.token]]
            if kind == "TreeRNN":
                return x, None
            g = P[e + "weight_leaf"] @ x + P[e + "bias_leaf"]
            c = torch.sigmoid(g[:H]) * torch.tanh(g[2 * H:])
            return torch.sigmoid(g[H:2 * H]) * torch.tanh(c), c
        kids = [node(c) for c in t.children]
        if kind == "TreeRNN":
            return torch.tanh(P[e + "weight"] @ torch.cat([kids[0][0], kids[1][0]]) + P[e + "bias"]), None
        if kind == "BinaryTreeLSTM":
            g = P[e + "weight"] @ torch.cat([kids[0][0], kids[1][0]]) + P[e + "bias"]
            c = (torch.sigmoid(g[:H]) * torch.tanh(g[2 * H:3 * H]) + torch.sigmoid(g[3 * H:4 * H]) * kids[0][1]
                 + torch.sigmoid(g[4 * H:]) * kids[1][1])
            return torch.sigmoid(g[H:2 * H]) * torch.tanh(c), c
        hs = sum(k[0] for k in kids)
        g = P[e + "weight_iou"] @ hs + P[e + "bias_iou"]
        c = torch.sigmoid(g[:H]) * torch.tanh(g[2 * H:])
        for hk, ck in kids:
            c = c + torch.sigmoid(P[e + "weight_f"] @ hk + P[e + "bias_f"]) * ck
        return torch.sigmoid(g[H:2 * H]) * torch.tanh(c), c

    # every node in post-order (TreeBatch's numbering); node() recomputes subtrees, fine for tiny trees
    h = torch.stack([node(n)[0] for t in trees for n in t.postorder()])
    return h @ P["weight"].T + P["bias"], P


@pytest.mark.parametrize("kind", ["TreeRNN", "BinaryTreeLSTM", "ChildSumTreeLSTM"])
def test_tree_models_vs_torch_unrolled(kind):
    torch = torch_or_skip()
    trees = [Tree.parse(s) for s in TREES]
    if kind == "ChildSumTreeLSTM":
        trees.append(Tree.parse("(2 (1 a) (3 good) (0 bad) (2 (2 is) (2 very) (4 good)))"))  # arity 3 and 4
    m = _model(kind)
    out, _, grads = _grads_of(m, trees, True)
    tout, P = _torch_unrolled(kind, m, trees, torch)
    np.testing.assert_allclose(out, tout.detach().numpy(), rtol=1e-5, atol=1e-5)
    w = np.random.default_rng(1).standard_normal(out.shape).astype(np.float32)
    (tout * torch.tensor(w)).sum().backward()
    for n, p in P.items():
        np.testing.assert_allclose(grads[n], p.grad.numpy(), rtol=1e-4, atol=1e-5, err_msg=n)


def test_root_only_classifier():
    trees = [Tree.parse(s) for s in TREES]
    m = _model("BinaryTreeLSTM")
    full, labels_full = m(trees, VOCAB)
    m.root_only = True
    roots, labels = m(trees, VOCAB)
    b = TreeBatch(trees, VOCAB)
    assert roots.shape == (4, 5) and list(labels) == [3, 1, 2, 4]
    np.testing.assert_allclose(roots.data, full.data[b.roots], rtol=1e-6)
    roots.backward(np.ones(roots.shape, np.float32))
    assert np.abs(m.encoder.weight.grad.data).sum() > 0


def test_tree_bad_inputs():
    m = _model("BinaryTreeLSTM")
    with pytest.raises(IndexError, match="out of range"):
        m([Tree.parse("(1 (2 a) (3 b))")], {"a": 0, "b": 100})
    with pytest.raises(IndexError, match="out of range"):
        m([Tree(children=[Tree(token=-1), Tree(token=0)], label=1)])
    with pytest.raises(ValueError, match="children"):
        m([Tree.parse("(1 (2 a) (3 good) (0 bad))")], VOCAB)
    with pytest.raises(ValueError, match="no token"):
        m([Tree(children=[Tree(), Tree(token=1)])])
    with pytest.raises(TypeError):
        Tree(children=["a"])
    with pytest.raises(TypeError):
        Tree(label="3")


# ------------------------------------------------------------------------------ convergence
def _load_example():
    path = pathlib.Path(__file__).resolve().parent.parent / "examples" / "tree_sentiment.py"
    spec = importlib.util.spec_from_file_location("tree_sentiment_example", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_tree_sentiment_task_reaches_95_percent():
    ex = _load_example()
    prev = fastdl.get_num_threads()
    fastdl.set_num_threads(1)  # small level GEMMs: one thread is fastest and deterministic
    try:
        res = ex.run(epochs=ex.DEFAULT_EPOCHS, seed=0, verbose=False)
    finally:
        fastdl.set_num_threads(prev)
    assert res["tree_lstm_root_acc"] >= 0.95, res
    assert res["tree_lstm_root_acc"] > res["bow_root_acc"], res


def test_cycle_and_shared_subtree_are_value_errors():
    t = Tree.parse("(1 (2 a) (3 b))")
    t.children.append(t)
    for f in (t.postorder, lambda: str(t), lambda: TreeBatch([t], vocab={"a": 0, "b": 1})):
        with pytest.raises(ValueError, match="cycle.*own descendant"):
            f()
    leaf = Tree(token=0, label=1)
    shared = Tree([leaf, Tree([leaf, Tree(token=1)])])
    with pytest.raises(ValueError, match=r"leaf 0, label 1 .*shared subtree"):
        nn.TreeRNN(4, 3)([shared])


def _right_branching(depth):
    t = Tree(token=0, label=1)
    for i in range(depth):
        t = Tree([Tree(token=i % 5 + 1, label=0), t], label=i % 3)
    return t


def _forward_backward_seconds(depth):
    import time
    fastdl.manual_seed(0)
    model = nn.TreeClassifier(nn.BinaryTreeLSTM(8, 4, 4), 3)
    tree = _right_branching(depth)
    t0 = time.perf_counter()
    logits, labels = model([tree])
    fastdl.functional.cross_entropy(logits, fastdl.tensor(labels)).backward()
    return time.perf_counter() - t0


def test_deep_right_branching_tree_scales_linearly():
    # level scheduling and gathers are linear in the nodes: doubling the depth must not
    # quadruple the time (it did: each gather scanned every earlier level)
    _forward_backward_seconds(50)  # warm-up
    small = min(_forward_backward_seconds(400) for _ in range(2))
    large = min(_forward_backward_seconds(1600) for _ in range(2))
    assert large < 8 * small, (small, large)  # quadratic would be 16x
    assert large < 1.0 * 3.2, large  # well under 1 s per 1000 nodes (3201 nodes)
