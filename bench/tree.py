"""Binary Tree-LSTM training throughput: fastdl (level batching: all nodes of one height
across the batch in one SGEMM) beside a node-by-node PyTorch implementation of the same
model (one small product per node, the straightforward way to write a Tree-LSTM).

Step = forward over a batch of random binary trees, cross-entropy at every node, backward.
Verifies first that both give the same logits and gradients from the same weights; prints
trees/s, the ratio fastdl/torch, threads, and the fraction of the FMA peak (fastdl.ops.fma_peak
on the same thread count, same run) each reaches on the step's GEMM FLOPs (leaf, node and
classifier products, forward + backward = 3x forward).

    python bench/tree.py [--batch 25] [--repeat 10] [--embed 64] [--hidden 128]
"""
import argparse
import statistics
import time

import numpy as np

import fastdl
import fastdl.functional as F
from fastdl import nn

VOCAB, CLASSES = 1000, 5


def random_tree(rng, n_leaves):
    """A random binary tree over n_leaves random tokens, random labels at every node."""
    nodes = [nn.Tree(token=int(rng.integers(VOCAB)), label=int(rng.integers(CLASSES))) for _ in range(n_leaves)]
    while len(nodes) > 1:  # merge a random adjacent pair
        i = int(rng.integers(len(nodes) - 1))
        nodes[i:i + 2] = [nn.Tree([nodes[i], nodes[i + 1]], label=int(rng.integers(CLASSES)))]
    return nodes[0]


def torch_model(model, torch):
    """The fastdl model's parameters as torch leaves + a node-by-node forward."""
    P = {n: torch.tensor(p.data, requires_grad=True) for n, p in model.named_parameters()}
    H = model.encoder.hidden_size
    e = "encoder."

    def forward(trees):
        hs = []
        for t in trees:
            memo = {}
            for n in t.postorder():
                if n.is_leaf:
                    g = P[e + "weight_leaf"] @ P[e + "embedding"][n.token] + P[e + "bias_leaf"]
                    c = torch.sigmoid(g[:H]) * torch.tanh(g[2 * H:])
                else:
                    (hl, cl), (hr, cr) = memo[id(n.children[0])], memo[id(n.children[1])]
                    g = P[e + "weight"] @ torch.cat([hl, hr]) + P[e + "bias"]
                    c = (torch.sigmoid(g[:H]) * torch.tanh(g[2 * H:3 * H]) + torch.sigmoid(g[3 * H:4 * H]) * cl
                         + torch.sigmoid(g[4 * H:]) * cr)
                h = torch.sigmoid(g[H:2 * H]) * torch.tanh(c)
                memo[id(n)] = (h, c)
                hs.append(h)
        return torch.stack(hs) @ P["weight"].T + P["bias"]

    return P, forward


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=25)
    ap.add_argument("--repeat", type=int, default=10)
    ap.add_argument("--embed", type=int, default=64)
    ap.add_argument("--hidden", type=int, default=128)
    args = ap.parse_args()
    import torch

    rng = np.random.default_rng(0)
    trees = [random_tree(rng, int(rng.integers(8, 25))) for _ in range(args.batch)]
    nodes = sum(len(t) for t in trees)
    fastdl.manual_seed(0)
    model = nn.TreeClassifier(nn.BinaryTreeLSTM(VOCAB, args.embed, args.hidden), CLASSES)
    P, tforward = torch_model(model, torch)
    batch = nn.TreeBatch(trees)

    def fastdl_step():
        logits, labels = model(batch)
        loss = F.cross_entropy(logits, labels)
        model.zero_grad()
        loss.backward()
        return logits, loss

    labels_t = torch.tensor(batch.labels)

    def torch_step():
        for p in P.values():
            p.grad = None
        logits = tforward(trees)
        loss = torch.nn.functional.cross_entropy(logits, labels_t)
        loss.backward()
        return logits, loss

    # verify
    fl, floss = fastdl_step()
    tl, tloss = torch_step()
    np.testing.assert_allclose(fl.data, tl.detach().numpy(), rtol=1e-4, atol=1e-5)
    for n, p in model.named_parameters():
        np.testing.assert_allclose(p.grad.data, P[n].grad.numpy(), rtol=1e-3, atol=1e-6, err_msg=n)
    print(f"Binary Tree-LSTM, embed {args.embed}, hidden {args.hidden}: {args.batch} trees, {nodes} nodes, "
          f"{len(batch.levels)} levels; verified against torch. fastdl ISA={fastdl.get_isa()}")

    params = dict(model.named_parameters())
    leaves = sum(1 for t in trees for n in t.postorder() if n.is_leaf)
    flops = 3 * 2 * (leaves * params["encoder.weight_leaf"].data.size
                     + (nodes - leaves) * params["encoder.weight"].data.size + nodes * params["weight"].data.size)

    def median(fn):
        fn()
        ts = []
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            fn()
            ts.append(time.perf_counter() - t0)
        return statistics.median(ts)

    for threads in (1, 2):
        fastdl.set_num_threads(threads)
        torch.set_num_threads(threads)
        peak = fastdl.ops.fma_peak()
        tf, tt = median(fastdl_step), median(torch_step)
        print(f"threads={threads}  fastdl level-batched {args.batch / tf:8.1f} trees/s ({tf * 1e3:7.2f} ms/batch, "
              f"{flops / tf / 1e9 / peak:5.1%} of peak)   torch node-by-node {args.batch / tt:8.1f} trees/s "
              f"({tt * 1e3:7.2f} ms/batch, {flops / tt / 1e9 / peak:5.1%} of peak)   ratio fastdl/torch {tt / tf:.1f}x"
              f"   (peak {peak:.0f} GFLOP/s)")


if __name__ == "__main__":
    main()
