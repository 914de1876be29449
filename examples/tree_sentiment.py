"""Sentiment of generated parse trees: a Binary Tree-LSTM against a bag-of-words MLP.

Sentences come from a small grammar with negation ("not good" is negative), intensifiers
("very bad" is very negative) and contrast ("the plot is dull but the film is very nice"
takes the second clause's sentiment). Every node is labelled compositionally on the
5-class scale of the Stanford Sentiment Treebank (0 very negative .. 4 very positive), so the
trees look like SST's: (3 (2 (2 the) (2 film)) (3 (2 is) (3 good))).

The Tree-LSTM is trained with a loss at every node and evaluated at the roots; the
bag-of-words MLP only sees word counts, so negation and word order defeat it.

    python examples/tree_sentiment.py [--epochs 4] [--train 2000] [--seed 0]
"""
import argparse
import time

import numpy as np

import fastdl
import fastdl.functional as F
from fastdl import nn

ADJ = {"good": 1, "nice": 1, "fun": 1, "great": 1, "bad": -1, "dull": -1, "boring": -1, "awful": -1}
NOUNS = ["movie", "film", "plot", "story", "cast"]
INTENS = ["very", "really", "extremely"]
NEGS = ["not", "never"]
FUNC = ["the", "is", "but"]
WORDS = sorted(set(ADJ) | set(NOUNS) | set(INTENS) | set(NEGS) | set(FUNC))
VOCAB = {w: i for i, w in enumerate(WORDS)}
DEFAULT_EPOCHS = 4


def _intensify(v):
    return 2 * int(np.sign(v))


def _negate(v):
    return -int(np.sign(v))


def _node(children, value):
    return nn.Tree(children, label=value + 2)


def _leaf(word, value=0):
    return nn.Tree(label=value + 2, token=word)


def _adj_phrase(rng, depth):
    if depth == 0 or rng.random() < 0.35:
        w = str(rng.choice(sorted(ADJ)))
        return _leaf(w, ADJ[w]), ADJ[w]
    sub, v = _adj_phrase(rng, depth - 1)
    if rng.random() < 0.5:
        nv = _intensify(v)
        return _node([_leaf(str(rng.choice(INTENS))), sub], nv), nv
    nv = _negate(v)
    return _node([_leaf(str(rng.choice(NEGS))), sub], nv), nv


def _clause(rng):
    np_ = _node([_leaf("the"), _leaf(str(rng.choice(NOUNS)))], 0)
    ap, v = _adj_phrase(rng, 3)
    vp = _node([_leaf("is"), ap], v)
    return _node([np_, vp], v), v


def make_treebank(n, rng):
    """n trees: a clause, or with probability 0.3 'clause but clause' (the second one decides)."""
    trees = []
    for _ in range(n):
        s, v = _clause(rng)
        if rng.random() < 0.3:
            s2, v2 = _clause(rng)
            s = _node([s, _node([_leaf("but"), s2], v2)], v2)
        trees.append(s)
    return trees


def _bow(trees):
    x = np.zeros((len(trees), len(VOCAB)), np.float32)
    for i, t in enumerate(trees):
        for w in t.words():
            x[i, VOCAB[w]] += 1
    return x


def _root_labels(trees):
    return np.array([t.label for t in trees], np.int64)


def run(epochs=DEFAULT_EPOCHS, n_train=2000, n_test=500, seed=0, batch_size=25, verbose=True):
    fastdl.manual_seed(seed)
    rng = np.random.default_rng(seed)
    train, test = make_treebank(n_train, rng), make_treebank(n_test, rng)
    t0 = time.perf_counter()

    # ---- Binary Tree-LSTM, loss at every node
    model = nn.TreeClassifier(nn.BinaryTreeLSTM(len(VOCAB), 24, 48), num_classes=5)
    opt = fastdl.optim.Adam(model.parameters(), lr=0.01)
    for epoch in range(epochs):
        order = rng.permutation(n_train)
        total = 0.0
        for b in range(0, n_train, batch_size):
            batch = [train[i] for i in order[b:b + batch_size]]
            logits, labels = model(batch, VOCAB)
            loss = F.cross_entropy(logits, labels)
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() * len(batch)
        if verbose:
            print(f"tree-lstm epoch {epoch + 1:2d}  node loss {total / n_train:.4f}")
    model.root_only = True
    with fastdl.no_grad():
        logits, labels = model(test, VOCAB)
    tree_acc = float((logits.data.argmax(1) == labels).mean())
    t_tree = time.perf_counter() - t0

    # ---- bag-of-words MLP on the roots
    t0 = time.perf_counter()
    mlp = nn.Sequential(nn.Linear(len(VOCAB), 64), nn.ReLU(), nn.Linear(64, 5))
    opt = fastdl.optim.Adam(mlp.parameters(), lr=0.01)
    xtr, ytr = _bow(train), _root_labels(train)
    for epoch in range(epochs * 4):
        order = rng.permutation(n_train)
        for b in range(0, n_train, batch_size):
            idx = order[b:b + batch_size]
            loss = F.cross_entropy(mlp(xtr[idx]), ytr[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    with fastdl.no_grad():
        bow_acc = float((mlp(_bow(test)).data.argmax(1) == _root_labels(test)).mean())
    t_bow = time.perf_counter() - t0
    if verbose:
        print(f"root accuracy on {n_test} test trees: Tree-LSTM {tree_acc:.3f} ({t_tree:.1f} s), "
              f"bag-of-words MLP {bow_acc:.3f} ({t_bow:.1f} s)")
    return {"tree_lstm_root_acc": tree_acc, "bow_root_acc": bow_acc}


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=DEFAULT_EPOCHS)
    ap.add_argument("--train", type=int, default=2000)
    ap.add_argument("--test", type=int, default=500)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    print("example tree:", make_treebank(1, np.random.default_rng(a.seed))[0])
    run(a.epochs, a.train, a.test, a.seed)
