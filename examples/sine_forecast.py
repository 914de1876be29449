"""Forecasting a noisy sine wave with a GRU or LSTM: the network reads 30 noisy samples and
predicts the next one; prints the test MSE beside the naive "repeat the last value" forecast
and the noise floor.

    python examples/sine_forecast.py [--cell gru|lstm] [--steps 300]
"""
import argparse
import time

import numpy as np

import fastdl
import fastdl.functional as F
from fastdl import nn

NOISE = 0.05


def make_windows(n, length, rng):
    """n windows of `length` noisy samples of sin(0.25 t + phase) and their next sample."""
    phase = rng.uniform(0, 2 * np.pi, (n, 1))
    t = phase + 0.25 * np.arange(length + 1)[None]
    s = (np.sin(t) + NOISE * rng.standard_normal(t.shape)).astype(np.float32)
    return s[:, :length, None], s[:, length:]


class Forecaster(nn.Module):
    def __init__(self, cell="gru", hidden=32):
        super().__init__()
        self.rnn = (nn.GRU if cell == "gru" else nn.LSTM)(1, hidden, batch_first=True)
        self.head = nn.Linear(hidden, 1)

    def forward(self, x):  # x (N, T, 1) -> (N, 1)
        _, h = self.rnn(x)
        h = h[0] if isinstance(h, tuple) else h  # LSTM returns (h_n, c_n)
        return self.head(h[-1])


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cell", choices=["gru", "lstm"], default="gru")
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    fastdl.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    model = Forecaster(args.cell)
    opt = fastdl.optim.Adam(model.parameters(), lr=0.01)
    t0 = time.perf_counter()
    for step in range(1, args.steps + 1):
        x, y = make_windows(64, 30, rng)
        loss = F.mse_loss(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 50 == 0:
            print(f"step {step:4d}  train MSE {loss.item():.5f}")
    x, y = make_windows(1000, 30, rng)
    with fastdl.no_grad():
        mse = float(((model(x).data - y) ** 2).mean())
    naive = float(((x[:, -1] - y) ** 2).mean())
    print(f"{args.cell.upper()} test MSE {mse:.5f}  (naive last-value forecast {naive:.5f}, noise floor "
          f"{NOISE ** 2:.5f}); {time.perf_counter() - t0:.1f} s")


if __name__ == "__main__":
    main()
