from numpy import float32
from numpy.typing import ArrayLike, NDArray

# ---- rnn
def rnn_forward(mode: int, input: ArrayLike, h0: ArrayLike | None, c0: ArrayLike | None, weight_ih: ArrayLike,
                weight_hh: ArrayLike, bias_ih: ArrayLike | None, bias_hh: ArrayLike | None,
                reverse: bool = False) -> tuple[NDArray[float32], NDArray[float32], NDArray[float32] | None,
                                                 NDArray[float32] | None, NDArray[float32] | None]: ...
def rnn_backward(mode: int, gates: ArrayLike | None, states: ArrayLike | None, output: ArrayLike, input: ArrayLike,
                 h0: ArrayLike | None, c0: ArrayLike | None, weight_ih: ArrayLike, weight_hh: ArrayLike,
                 has_bias: bool, grad_output: ArrayLike, grad_h_n: ArrayLike | None, grad_c_n: ArrayLike | None,
                 reverse: bool = False, need_input_grad: bool = True) -> tuple[
                     NDArray[float32] | None, NDArray[float32], NDArray[float32] | None, NDArray[float32],
                     NDArray[float32], NDArray[float32] | None, NDArray[float32] | None]: ...
def embedding_forward(weight: ArrayLike, indices: ArrayLike) -> NDArray[float32]: ...
def embedding_backward(grad_output: ArrayLike, indices: ArrayLike, num_embeddings: int,
                       padding_idx: int = -1) -> NDArray[float32]: ...
