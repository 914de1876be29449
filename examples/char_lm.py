"""Character-level language model: an LSTM (hidden 256) trained with truncated
backpropagation through time (sequences of 35, batch 32, gradient clipping 1) on any UTF-8
text file; prints the perplexity of every epoch and a generated sample.

    python examples/char_lm.py [FILE] [--epochs 10] [--max-chars 20000] [--cell lstm|gru]

Without FILE it reads the LICENSE of the running Python installation.
"""
import argparse
import math
import os
import sys
import time

import numpy as np

import fastdl
import fastdl.functional as F
from fastdl import nn


def default_text_file():
    """The LICENSE file that ships with the running Python (next to the standard library)."""
    import sysconfig

    for d in (os.path.dirname(os.__file__), sysconfig.get_paths()["stdlib"], sys.base_prefix):
        for name in ("LICENSE.txt", "LICENSE"):
            path = os.path.join(d, name)
            if os.path.isfile(path):
                return path
    raise SystemExit("no LICENSE file found next to the Python standard library; pass a text file")


class CharLM(nn.Module):
    def __init__(self, vocab_size, hidden=256, embed=64, cell="lstm"):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, embed)
        self.rnn = (nn.LSTM if cell == "lstm" else nn.GRU)(embed, hidden)
        self.decoder = nn.Linear(hidden, vocab_size)

    def forward(self, ids, state=None):  # ids (T, N) -> logits (T, N, V), new state
        out, state = self.rnn(self.embed(ids), state)
        return self.decoder(out), state


def batches(data, batch_size, seq_len):
    """Sequential partitioning: batch_size parallel streams, consecutive chunks of seq_len
    (the state of one chunk is carried into the next)."""
    n = (len(data) - 1) // batch_size
    streams = data[:n * batch_size].reshape(batch_size, n).T       # (n, N)
    targets = data[1:n * batch_size + 1].reshape(batch_size, n).T
    for t in range(0, n - seq_len + 1, seq_len):
        yield streams[t:t + seq_len], targets[t:t + seq_len]


def sample(model, chars, index, prefix, length, rng, temperature=0.8):
    with fastdl.no_grad():
        state = None
        ids = np.array([[index[c] for c in prefix]], np.int64).T  # (T, 1)
        logits, state = model(ids, state)
        out = list(prefix)
        last = logits.data[-1, 0]
        for _ in range(length):
            p = np.exp((last - last.max()) / temperature)
            c = int(rng.choice(len(chars), p=p / p.sum()))
            out.append(chars[c])
            logits, state = model(np.array([[c]], np.int64), state)
            last = logits.data[-1, 0]
    return "".join(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("file", nargs="?", default=None)
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--max-chars", type=int, default=0, help="use only the first N characters (0: all)")
    ap.add_argument("--cell", choices=["lstm", "gru"], default="lstm")
    ap.add_argument("--lr", type=float, default=0.002)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    path = args.file or default_text_file()
    with open(path, encoding="utf-8", errors="replace") as f:
        text = f.read()
    if args.max_chars:
        text = text[:args.max_chars]
    chars = sorted(set(text))
    index = {c: i for i, c in enumerate(chars)}
    data = np.array([index[c] for c in text], np.int64)
    seq_len, batch_size = 35, 32
    if len(data) < batch_size * seq_len + 1:
        raise SystemExit(f"{path}: {len(data)} characters is too short for batch {batch_size} x {seq_len}")
    print(f"{path}: {len(text)} characters, vocabulary {len(chars)}; fastdl ISA {fastdl.get_isa()}, "
          f"{fastdl.get_num_threads()} thread(s)")
    fastdl.manual_seed(args.seed)
    model = CharLM(len(chars), cell=args.cell)
    opt = fastdl.optim.Adam(model.parameters(), lr=args.lr)
    for epoch in range(args.epochs):
        t0, total, count, state = time.perf_counter(), 0.0, 0, None
        for x, y in batches(data, batch_size, seq_len):
            state = nn.detach_state(state)  # truncated BPTT: keep the state, drop its history
            logits, state = model(x, state)
            loss = F.cross_entropy(logits.reshape(-1, len(chars)), y.reshape(-1))
            opt.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            total += loss.item() * y.size
            count += y.size
        dt = time.perf_counter() - t0
        print(f"epoch {epoch + 1:3d}  perplexity {math.exp(total / count):8.3f}  "
              f"{count / dt:8.0f} chars/s")
    print("sample:", repr(sample(model, chars, index, text[:1], 200, np.random.default_rng(args.seed))))


if __name__ == "__main__":
    main()
