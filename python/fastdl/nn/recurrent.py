"""Recurrent layers with PyTorch's contract: nn.RNN, nn.LSTM, nn.GRU (multi-layer,
bidirectional, batch_first, inter-layer dropout), nn.RNNCell, nn.LSTMCell, nn.GRUCell, and
``detach_state`` for truncated backpropagation through time.

Parameter names, shapes, gate order (LSTM i, f, g, o; GRU r, z, n) and initialisation
U(-1/sqrt(H), 1/sqrt(H)) are PyTorch's, so a PyTorch state_dict (as numpy) loads unchanged.
"""
from __future__ import annotations

import math

import numpy as np

from .. import random as _random
from ..functional import recurrent as _R
from ..functional.lstm_proj import lstm_proj
from ..tensor import Tensor
from ..tensor import as_float_tensor
from .module import Module, Parameter
from .._args import is_int

__all__ = ["RNNBase", "RNN", "LSTM", "GRU", "RNNCellBase", "RNNCell", "LSTMCell", "GRUCell", "detach_state"]


def detach_state(state):
    """Detach a recurrent state (a Tensor, or a tuple / list of Tensors such as LSTM's (h, c))
    from the graph, for truncated backpropagation through time between chunks. None stays None."""
    if state is None:
        return None
    if isinstance(state, Tensor):
        return state.detach()
    if isinstance(state, (tuple, list)):
        return type(state)(detach_state(s) for s in state)
    raise TypeError(f"detach_state: expected a Tensor or a tuple of Tensors, got {type(state).__name__}")


def _check_size(name, value, minimum=1):
    if not is_int(value) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


class RNNBase(Module):
    """Common implementation of RNN / LSTM / GRU (``mode`` 'RNN_TANH', 'RNN_RELU', 'LSTM', 'GRU')."""

    def __init__(self, mode, input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0,
                 bidirectional=False, proj_size=0):
        super().__init__()
        if mode not in _R.RNN_MODES:
            raise ValueError(f"unknown RNN mode {mode!r}")
        self.mode = mode
        self.input_size = _check_size("input_size", input_size)
        self.hidden_size = _check_size("hidden_size", hidden_size)
        self.num_layers = _check_size("num_layers", num_layers)
        self.bias = bool(bias)
        self.batch_first = bool(batch_first)
        if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or not 0 <= dropout <= 1:
            raise ValueError(f"dropout should be a number in range [0, 1] representing the probability of an "
                             f"element being zeroed, got {dropout!r}")
        self.dropout = float(dropout)
        self.bidirectional = bool(bidirectional)
        self.proj_size = _check_size("proj_size", proj_size, 0)
        if self.proj_size and mode != "LSTM":
            raise ValueError("proj_size argument is only supported for LSTM, not RNN or GRU")
        if self.proj_size >= self.hidden_size:
            raise ValueError(f"proj_size has to be smaller than hidden_size, got proj_size={self.proj_size}, "
                             f"hidden_size={self.hidden_size}")
        G = _R._GATES[_R.RNN_MODES[mode]]
        H = self.hidden_size
        R = self.proj_size or H  # the size of h (LSTM's projection, else hidden_size)
        D = 2 if bidirectional else 1
        self._flat_names = []
        for layer in range(self.num_layers):
            in_size = self.input_size if layer == 0 else R * D
            for d in range(D):
                sfx = f"_l{layer}" + ("_reverse" if d == 1 else "")
                shapes = [("weight_ih" + sfx, (G * H, in_size)), ("weight_hh" + sfx, (G * H, R))]
                if bias:
                    shapes += [("bias_ih" + sfx, (G * H,)), ("bias_hh" + sfx, (G * H,))]
                if self.proj_size:
                    shapes.append(("weight_hr" + sfx, (R, H)))
                for name, shape in shapes:
                    setattr(self, name, Parameter(np.zeros(shape, np.float32)))
                    self._flat_names.append(name)
        self.reset_parameters()

    def reset_parameters(self):
        """Re-draw every weight and bias from U(-1/sqrt(hidden_size), 1/sqrt(hidden_size))
        (PyTorch's initialisation).
        """
        k = 1.0 / math.sqrt(self.hidden_size)
        g = _random.default_generator()
        for name in self._flat_names:
            p = getattr(self, name)
            p.data[...] = g.uniform(-k, k, p.shape).astype(np.float32)

    @property
    def all_weights(self):
        """The parameters of every layer and direction in PyTorch's order (w_ih, w_hh[, b_ih,
        b_hh][, w_hr]).
        """
        return [getattr(self, n) for n in self._flat_names]

    def extra_repr(self):
        """The constructor arguments that differ from the defaults, as PyTorch prints them."""
        s = f"{self.input_size}, {self.hidden_size}"
        if self.proj_size:
            s += f", proj_size={self.proj_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        if not self.bias:
            s += ", bias=False"
        if self.batch_first:
            s += ", batch_first=True"
        if self.dropout:
            s += f", dropout={self.dropout}"
        if self.bidirectional:
            s += ", bidirectional=True"
        return s

    def _check_state(self, h, name, expected):
        if h.shape != expected:
            raise ValueError(f"{type(self).__name__}: expected {name} of shape {expected}, got {tuple(h.shape)}")

    def forward(self, input, hx=None):
        """input (L, N, H_in) (``batch_first``: (N, L, H_in)) or unbatched (L, H_in), optional
        initial state hx (zeros when None): (num_layers*D, N, H) for RNN / GRU, a pair (h_0,
        c_0) for LSTM. Returns (output (L, N, D*H_out), h_n) or, for LSTM, (output, (h_n, c_n)).
        ValueError naming the shapes for a wrong input or state shape, TypeError for a malformed
        hx.
        """
        x = as_float_tensor(input, "input")
        if x.ndim not in (2, 3):
            raise ValueError(f"{type(self).__name__}: expected input to be 2-D (L, H_in) or 3-D "
                             f"({'N, L' if self.batch_first else 'L, N'}, H_in), got shape {tuple(x.shape)}")
        unbatched = x.ndim == 2
        if x.shape[-1] != self.input_size:
            raise ValueError(f"{type(self).__name__}: input.size(-1) must be equal to input_size. "
                             f"Expected {self.input_size}, got {x.shape[-1]} (input shape {tuple(x.shape)})")
        if unbatched:
            T, N = x.shape[0], 1
        else:
            T, N = (x.shape[1], x.shape[0]) if self.batch_first else (x.shape[0], x.shape[1])
        if T == 0:
            raise ValueError(f"{type(self).__name__}: empty sequence (length 0) in input of shape {tuple(x.shape)}")
        if N == 0:
            raise ValueError(f"{type(self).__name__}: empty batch in input of shape {tuple(x.shape)}")
        D = 2 if self.bidirectional else 1
        expected = (self.num_layers * D, self.hidden_size) if unbatched else (self.num_layers * D, N, self.hidden_size)
        lstm = self.mode == "LSTM"
        if hx is not None:
            if lstm:
                if not isinstance(hx, (tuple, list)) or len(hx) != 2:
                    raise TypeError("LSTM: hx must be a tuple (h_0, c_0)")
                hx = (as_float_tensor(hx[0], "h_0"), as_float_tensor(hx[1], "c_0"))
                self._check_state(hx[0], "h_0", expected[:-1] + (self.proj_size or self.hidden_size,))
                self._check_state(hx[1], "c_0", expected)
            else:
                if isinstance(hx, (tuple, list)):
                    raise TypeError(f"{type(self).__name__}: hx must be a Tensor, got a {type(hx).__name__}")
                hx = as_float_tensor(hx, "hx")
                self._check_state(hx, "hx", expected)
        if self.proj_size:
            return self._forward_proj(x, hx, unbatched, expected)
        out = _R.rnn(x, hx, self.all_weights, self.mode, self.num_layers, self.bidirectional, self.batch_first,
                     self.bias, self.dropout, self.training, unbatched)
        if lstm:
            return out[0], (out[1], out[2])
        return out[0], out[1]


    def _forward_proj(self, x, hx, unbatched, c_shape):
        """LSTM with proj_size > 0 through the step-by-step path (functional.lstm_proj)."""
        if unbatched:
            x = x.unsqueeze(1)
        elif self.batch_first:
            x = x.transpose(0, 1)
        if hx is None:
            n = x.shape[1]
            lead = c_shape[0]
            h0 = Tensor(np.zeros((lead, n, self.proj_size), np.float32))
            c0 = Tensor(np.zeros((lead, n, self.hidden_size), np.float32))
        else:
            h0, c0 = (hx[0].unsqueeze(1), hx[1].unsqueeze(1)) if unbatched else hx
        out, h_n, c_n = lstm_proj(x, h0, c0, self.all_weights, self.num_layers, self.bidirectional, self.bias,
                                  self.dropout, self.training)
        if unbatched:
            return out.squeeze(1), (h_n.squeeze(1), c_n.squeeze(1))
        if self.batch_first:
            out = out.transpose(0, 1)
        return out, (h_n, c_n)


class RNN(RNNBase):
    """Elman RNN: h_t = act(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh), act = tanh or relu."""

    def __init__(self, input_size, hidden_size, num_layers=1, nonlinearity="tanh", bias=True, batch_first=False,
                 dropout=0.0, bidirectional=False):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"Unknown nonlinearity '{nonlinearity}'. Select from 'tanh' or 'relu'.")
        super().__init__("RNN_TANH" if nonlinearity == "tanh" else "RNN_RELU", input_size, hidden_size, num_layers,
                         bias, batch_first, dropout, bidirectional)
        self.nonlinearity = nonlinearity

    def extra_repr(self):
        """As RNNBase, plus ``nonlinearity='relu'`` when set."""
        s = super().extra_repr()
        return s + (", nonlinearity='relu'" if self.nonlinearity == "relu" else "")


class LSTM(RNNBase):
    """LSTM (PyTorch's equations and gate order i, f, g, o). Returns (output, (h_n, c_n)).

    ``proj_size=P`` (0 < P < hidden_size) projects each h_t = W_hr (o_t * tanh(c_t)) with an
    extra ``weight_hr_l{k}[_reverse]`` (P, hidden_size) per layer and direction, as PyTorch:
    output and h are of size P, c of size hidden_size; weight_hh is (4H, P) and layers after
    the first take D*P inputs. That path runs the time loop in Python (slower than the fused
    kernel). ValueError for proj_size < 0 or >= hidden_size.
    """

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0,
                 bidirectional=False, proj_size=0):
        super().__init__("LSTM", input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
                         proj_size)


class GRU(RNNBase):
    """GRU (PyTorch's equations and gate order r, z, n; n = tanh(W_in x + b_in + r*(W_hn h + b_hn)))."""

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0,
                 bidirectional=False):
        super().__init__("GRU", input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional)


class RNNCellBase(Module):
    """One time step of RNN / LSTM / GRU with parameters weight_ih, weight_hh, bias_ih, bias_hh."""

    def __init__(self, mode, input_size, hidden_size, bias=True):
        super().__init__()
        self.mode = mode
        self.input_size = _check_size("input_size", input_size)
        self.hidden_size = _check_size("hidden_size", hidden_size)
        self.bias = bool(bias)
        G = _R._GATES[_R.RNN_MODES[mode]]
        H = self.hidden_size
        self.weight_ih = Parameter(np.zeros((G * H, self.input_size), np.float32))
        self.weight_hh = Parameter(np.zeros((G * H, H), np.float32))
        if bias:
            self.bias_ih = Parameter(np.zeros(G * H, np.float32))
            self.bias_hh = Parameter(np.zeros(G * H, np.float32))
        self.reset_parameters()

    def reset_parameters(self):
        """Re-draw every weight and bias from U(-1/sqrt(hidden_size), 1/sqrt(hidden_size))."""
        k = 1.0 / math.sqrt(self.hidden_size)
        g = _random.default_generator()
        for p in self.parameters():
            p.data[...] = g.uniform(-k, k, p.shape).astype(np.float32)

    def extra_repr(self):
        """input_size, hidden_size (and ``bias=False``)."""
        return f"{self.input_size}, {self.hidden_size}" + ("" if self.bias else ", bias=False")

    def forward(self, input, hx=None):
        """One step: input (N, input_size) or (input_size,), optional state hx ((h, c) for
        LSTMCell; zeros when None) of shape (N, hidden_size). Returns h' (RNNCell, GRUCell) or
        (h', c') (LSTMCell). ValueError naming the shapes for a mismatch.
        """
        x = as_float_tensor(input, "input")
        name = type(self).__name__
        if x.ndim not in (1, 2):
            raise ValueError(f"{name}: Expected input to be 1-D or 2-D but received {x.ndim}-D tensor")
        if x.shape[-1] != self.input_size:
            raise ValueError(f"{name}: input has inconsistent input_size: got {x.shape[-1]} expected "
                             f"{self.input_size} (input shape {tuple(x.shape)})")
        expected = (self.hidden_size,) if x.ndim == 1 else (x.shape[0], self.hidden_size)
        if x.ndim == 2 and x.shape[0] == 0:
            raise ValueError(f"{name}: empty batch in input of shape {tuple(x.shape)}")
        states = None
        if hx is not None:
            if self.mode == "LSTM":
                if not isinstance(hx, (tuple, list)) or len(hx) != 2:
                    raise TypeError("LSTMCell: hx must be a tuple (h_0, c_0)")
                states = (as_float_tensor(hx[0], "h_0"), as_float_tensor(hx[1], "c_0"))
            else:
                states = (as_float_tensor(hx, "hx"),)
            for nm, s in zip(("h_0", "c_0"), states):
                if s.shape != expected:
                    raise ValueError(f"{name}: expected {nm} of shape {expected}, got {tuple(s.shape)}")
            states = states if self.mode == "LSTM" else states[0]
        weights = [self.weight_ih, self.weight_hh] + ([self.bias_ih, self.bias_hh] if self.bias else [])
        return _R.rnn_cell(x, states, weights, self.mode, self.bias)


class RNNCell(RNNCellBase):
    """h' = act(W_ih x + b_ih + W_hh h + b_hh), act = tanh or relu."""

    def __init__(self, input_size, hidden_size, bias=True, nonlinearity="tanh"):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"Unknown nonlinearity: {nonlinearity}")
        super().__init__("RNN_TANH" if nonlinearity == "tanh" else "RNN_RELU", input_size, hidden_size, bias)
        self.nonlinearity = nonlinearity


class LSTMCell(RNNCellBase):
    """One LSTM step; returns (h', c')."""

    def __init__(self, input_size, hidden_size, bias=True):
        super().__init__("LSTM", input_size, hidden_size, bias)


class GRUCell(RNNCellBase):
    """One GRU step; returns h'."""

    def __init__(self, input_size, hidden_size, bias=True):
        super().__init__("GRU", input_size, hidden_size, bias)
