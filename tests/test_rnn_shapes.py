"""Recurrent layers at the edges of the packed / fused paths (issue 11): hidden sizes around
the GEMM panel widths (16 on generic/avx2, 32 on avx512: the fused step's last block of hidden
units is narrower unless H is a multiple of it), sequence length 1, batch 1, against PyTorch and the float64 reference; and
bitwise-identical results on 1, 2 and 3 threads."""
import numpy as np
import pytest

import fastdl
from fastdl import _C, nn
from conftest import torch_or_skip
from test_rnn import MODE_ID, MODES, _check_kernel, _layer_arrays, _load_from_torch

HIDDEN = [1, 7, 15, 16, 17, 32, 33, 64]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("H", HIDDEN)
def test_kernel_hidden_sizes(mode, H, isa, rng):
    _check_kernel(mode, 3, 5, 4, H, reverse=False, bias=True, states=True, rng=rng)
    _check_kernel(mode, 3, 5, 4, H, reverse=True, bias=False, states=False, rng=rng)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("T,N", [(1, 4), (5, 1), (1, 1)])
def test_kernel_seq1_batch1(mode, T, N, isa, rng):
    _check_kernel(mode, T, N, 3, 32, reverse=False, bias=True, states=True, rng=rng)
    _check_kernel(mode, T, N, 3, 17, reverse=True, bias=True, states=False, rng=rng)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("I", [63, 64, 70])
def test_kernel_input_widths(mode, I, isa, rng):
    """Both sides of kNarrowInput (rnn.cpp): below it RNN / LSTM run the input projection inside
    each step ([x_t | h_prev | 1] [W_ih | W_hh | b]^T) and dW_ih as x^T dG; from it on, one
    projection over all steps and dW_ih = dG^T x."""
    _check_kernel(mode, 4, 5, I, 17, reverse=False, bias=True, states=True, rng=rng)
    _check_kernel(mode, 4, 5, I, 32, reverse=True, bias=False, states=False, rng=rng)


@pytest.mark.parametrize("mode", ["LSTM", "GRU", "RNN_TANH"])
@pytest.mark.parametrize("H", [1, 16, 17, 33, 64])
@pytest.mark.parametrize("T,N", [(1, 3), (4, 1), (6, 5)])
def test_layer_vs_torch_shapes(mode, H, T, N, rng):
    torch = torch_or_skip()
    cls = {"LSTM": "LSTM", "GRU": "GRU", "RNN_TANH": "RNN"}[mode]
    tm, m = getattr(torch.nn, cls)(5, H, num_layers=2), getattr(nn, cls)(5, H, num_layers=2)
    _load_from_torch(m, tm)
    x = rng.standard_normal((T, N, 5)).astype(np.float32)
    tx, fx = torch.tensor(x, requires_grad=True), fastdl.tensor(x, requires_grad=True)
    to, fo = tm(tx), m(fx)
    np.testing.assert_allclose(fo[0].data, to[0].detach().numpy(), rtol=1e-5, atol=1e-5)
    w = rng.standard_normal(tuple(to[0].shape)).astype(np.float32)
    (to[0] * torch.tensor(w)).sum().backward()
    fo[0].backward(w)
    gtol = dict(rtol=1e-4, atol=3e-5)
    np.testing.assert_allclose(fx.grad.data, tx.grad.numpy(), **gtol)
    for name, p in tm.named_parameters():
        np.testing.assert_allclose(getattr(m, name).grad.data, p.grad.numpy(), err_msg=name, **gtol)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("H,I", [(64, 12), (40, 12), (40, 70)])
def test_threads_bit_identical(mode, H, I, isa, rng):
    """Forward and backward are bitwise the same on 1, 2 and 3 threads (fused and unfused;
    narrow and wide input)."""
    a = _layer_arrays(rng, mode, 5, 24, I, H)
    m = MODE_ID[mode]
    dy = rng.standard_normal((5, 24, H)).astype(np.float32)
    dhn = rng.standard_normal((24, H)).astype(np.float32)
    dcn = dhn.copy() if mode == "LSTM" else None
    prev = fastdl.get_num_threads()
    cfg = _C._gemm_config()
    runs = []
    try:
        _C._set_gemm_config(cfg["mc"], cfg["kc"], cfg["nc"], cfg["path"], 0)  # split tiny work too
        for t in (1, 2, 3):
            fastdl.set_num_threads(t)
            y, hn, cn, gates, st = _C.rnn_forward(m, a["x"], a["h0"], a["c0"], a["w_ih"], a["w_hh"], a["b_ih"],
                                                  a["b_hh"], False)
            grads = _C.rnn_backward(m, gates, st, y, a["x"], a["h0"], a["c0"], a["w_ih"], a["w_hh"], True, dy,
                                    dhn, dcn, False, True)
            runs.append([v for v in (y, hn, cn, *grads) if v is not None])
    finally:
        fastdl.set_num_threads(prev)
        _C._set_gemm_config(**cfg)
    for r in runs[1:]:
        for got, want in zip(r, runs[0]):
            assert np.array_equal(got, want)
