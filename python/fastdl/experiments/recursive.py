"""A sequence model (LSTM over the tokens) against a recursive model (binary Tree-LSTM over the
parse) on a generated sentiment treebank whose labels are computed along the parse tree."""
from __future__ import annotations

import numpy as np

import fastdl
import fastdl.functional as F
from fastdl import nn, optim

from ._common import integer_xticks
from ._registry import Experiment, Result, register

POSITIVE = ("good", "great", "fun", "nice")
NEGATIVE = ("bad", "dull", "awful", "boring")
NOUNS = ("film", "plot", "cast", "story")
WORDS = POSITIVE + NEGATIVE + NOUNS + ("the", "is", "not", "both", "and", "either", "or")
VOCAB = {w: i + 1 for i, w in enumerate(WORDS)}
PAD = 0


def _leaf(word):
    return nn.Tree(token=word)


def phrase(rng, depth, exact=False):
    """A sentiment phrase with operators nested up to ``depth`` deep (exactly ``depth`` on its
    first branch when ``exact``). Returns (binary tree, polarity: True = positive).

    P = ADJ                   polarity of the adjective
      | not P                 (not P): the opposite of P
      | both P and Q          (both (P (and Q))): positive iff P and Q are
      | either P or Q         (either (P (or Q))): positive iff P or Q is
    """
    if depth == 0 or (not exact and rng.random() < 0.3):
        w = str(rng.choice(POSITIVE + NEGATIVE))
        return _leaf(w), w in POSITIVE
    op = rng.choice(["not", "both", "either"], p=[0.3, 0.35, 0.35])
    p, vp = phrase(rng, depth - 1, exact)
    if op == "not":
        return nn.Tree([_leaf("not"), p]), not vp
    q, vq = phrase(rng, depth - 1)
    joiner = "and" if op == "both" else "or"
    tree = nn.Tree([_leaf(str(op)), nn.Tree([p, nn.Tree([_leaf(joiner), q])])])
    return tree, (vp and vq) if op == "both" else (vp or vq)


def make_treebank(n, rng, depth=3, exact=False):
    """``n`` sentences ((the NOUN) (is P)) with P from ``phrase``; the root is labelled 1 when P
    is positive, else 0 (the label is computed bottom-up along the tree)."""
    trees = []
    for _ in range(n):
        p, v = phrase(rng, depth, exact)
        subject = nn.Tree([_leaf("the"), _leaf(str(rng.choice(NOUNS)))])
        trees.append(nn.Tree([subject, nn.Tree([_leaf("is"), p])], label=int(v)))
    return trees


def _padded(trees):
    """Token ids, left-padded with PAD so every sequence ends at the last position."""
    seqs = [[VOCAB[w] for w in t.words()] for t in trees]
    L = max(len(s) for s in seqs)
    out = np.full((len(seqs), L), PAD, np.int64)
    for i, s in enumerate(seqs):
        out[i, L - len(s):] = s
    return out


class SequenceClassifier(nn.Module):
    """Embedding -> LSTM over the (left-padded) tokens -> Linear on the last hidden state."""

    def __init__(self, embedding_dim, hidden_size, classes=2):
        super().__init__()
        self.embedding = nn.Embedding(len(VOCAB) + 1, embedding_dim, padding_idx=PAD)
        self.lstm = nn.LSTM(embedding_dim, hidden_size, batch_first=True)
        self.fc = nn.Linear(hidden_size, classes)

    def forward(self, trees):
        out, _ = self.lstm(self.embedding(_padded(trees)))
        return self.fc(out[:, -1])


class TreeModel(nn.Module):
    """Binary Tree-LSTM over the parse, softmax classifier on the root's state."""

    def __init__(self, embedding_dim, hidden_size, classes=2):
        super().__init__()
        self.net = nn.TreeClassifier(nn.BinaryTreeLSTM(len(VOCAB) + 1, embedding_dim, hidden_size), classes,
                                     root_only=True)

    def forward(self, trees):
        return self.net(trees, VOCAB)[0]


def _labels(trees):
    return np.array([t.label for t in trees], np.int64)


def _train(model, train, test, epochs, rng, batch_size=25, lr=0.01):
    opt = optim.Adam(model.parameters(), lr=lr)
    y = _labels(train)
    acc = []
    for _ in range(epochs):
        model.train()
        order = rng.permutation(len(train))
        for b in range(0, len(train), batch_size):
            idx = order[b:b + batch_size]
            loss = F.cross_entropy(model([train[i] for i in idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
        acc.append(_accuracy(model, test))
    return acc


def _accuracy(model, trees):
    model.eval()
    with fastdl.no_grad():
        pred = model(trees).data.argmax(1)
    return float((pred == _labels(trees)).mean())


RULE = ("supported if, on test sentences nested deeper (depth 5) than any training sentence (depth <= 3), the "
        "Tree-LSTM's root accuracy is at least 10 percentage points above the LSTM's, and on held-out sentences "
        "of the training depth it is not below the LSTM's (same training trees, same epochs)")


def verdict(m):
    acc, deep = m["test_accuracy"], m["deeper_test_accuracy"]
    return deep["tree_lstm"] >= deep["lstm"] + 0.10 and acc["tree_lstm"] >= acc["lstm"]


def run(ctx):
    n_train, n_test, epochs = (600, 300, 4) if ctx.quick else (1500, 600, 6)
    train, test = make_treebank(n_train, ctx.rng), make_treebank(n_test, ctx.rng)
    deep = make_treebank(n_test, ctx.rng, depth=5, exact=True)
    curves, deep_acc = {}, {}
    for name, cls in (("lstm", SequenceClassifier), ("tree_lstm", TreeModel)):
        fastdl.manual_seed(ctx.seed)
        model = cls(16, 32)
        curves[name] = _train(model, train, test, epochs, ctx.rng)
        deep_acc[name] = _accuracy(model, deep)
    y, yd = _labels(test), _labels(deep)
    m = {"test_accuracy": {k: v[-1] for k, v in curves.items()}, "deeper_test_accuracy": deep_acc,
         "majority_baseline": float(max(y.mean(), 1 - y.mean())),
         "deeper_majority_baseline": float(max(yd.mean(), 1 - yd.mean()))}
    table = [["model", "test accuracy per epoch (depth <= 3)", "final", "deeper test (depth 5)"]]
    table += [[k, " ".join(f"{a:.3f}" for a in v), v[-1], deep_acc[k]] for k, v in curves.items()]
    table.append(["majority class", "", m["majority_baseline"], m["deeper_majority_baseline"]])
    config = {"data": "generated treebank (make_treebank): 'the NOUN is P' with P built from adjectives by not / "
                      "both-and / either-or nested up to depth 3; root label = polarity computed along the tree",
              "deeper_test": "the same grammar with operators nested exactly 5 deep on the first branch",
              "train_trees": n_train, "test_trees": n_test, "epochs": epochs,
              "models": "LSTM over the tokens (embedding 16, hidden 32, last state) vs binary Tree-LSTM over the "
                        "parse (embedding 16, hidden 32, root state); both trained on root labels only",
              "optimizer": "Adam lr 0.01, batch 25", "example": str(train[0])}
    return Result(m, config, {"accuracy": curves}, table)


def plot(fig, r):
    a1, a2 = fig.subplots(1, 2)
    for i, (k, v) in enumerate(r.curves["accuracy"].items()):
        a1.plot(np.arange(1, len(v) + 1), v, "o-", color=f"C{i}", label=f"{k} (depth <= 3)")
        a1.plot([len(v)], [r.metrics["deeper_test_accuracy"][k]], "*", ms=14, color=f"C{i}",
                label=f"{k}, deeper test (depth 5)")
    a1.axhline(r.metrics["majority_baseline"], color="k", ls=":", lw=0.8, label="majority class")
    a1.set(xlabel="epoch", ylabel="test root accuracy", title="sentiment of generated parse trees", ylim=(0.4, 1.02))
    a1.legend(fontsize=8)
    integer_xticks(a1)
    names = list(r.metrics["test_accuracy"])
    x = np.arange(len(names))
    a2.bar(x - 0.2, [r.metrics["test_accuracy"][n] for n in names], 0.4, label="test, depth <= 3")
    a2.bar(x + 0.2, [r.metrics["deeper_test_accuracy"][n] for n in names], 0.4, label="deeper test, depth 5")
    a2.set_xticks(x, names)
    a2.set(ylabel="root accuracy", title="sequence (LSTM) vs tree (Tree-LSTM)", ylim=(0, 1.05))
    a2.legend(loc="lower right")


register(Experiment(
    "recurrent_vs_recursive", "LSTM over tokens vs Tree-LSTM over the parse on a generated sentiment treebank",
    "On data whose meaning is composed along a parse tree, a recursive network over the tree beats a recurrent "
    "network over the same tokens - most clearly on sentences nested deeper than any seen in training.",
    RULE, verdict, run, plot))
