"""fastdl._args: the one home of the Python argument helpers."""
import numpy as np
import pytest

from fastdl import _args


def test_is_int_takes_python_and_numpy_ints_but_not_bools():
    assert _args.is_int(3) and _args.is_int(np.int32(3)) and _args.is_int(np.uint8(3))
    for v in (True, np.bool_(True), 3.0, "3", None):
        assert not _args.is_int(v)


def test_pair_and_int_arg_name_the_operation_and_argument():
    assert _args.pair(2, "stride", "op") == (2, 2)
    assert _args.pair((1, np.int64(3)), "stride", "op") == (1, 3)
    with pytest.raises(TypeError, match=r"op: stride must be an int, got float"):
        _args.pair((1, 2.0), "stride", "op")
    with pytest.raises(ValueError, match=r"op: padding must be an int or a pair of ints, got \(1, 2, 3\)"):
        _args.pair((1, 2, 3), "padding", "op")
    with pytest.raises(OverflowError, match=r"op: k=\d+ does not fit in int64"):
        _args.int_arg(2**63, "k", "op")


@pytest.mark.parametrize("minimum, words", [(0, "a non-negative int"), (1, "a positive integer"), (2, "an integer >= 2")])
def test_count_arg(minimum, words):
    assert _args.count_arg(5, "n", "Op", minimum) == 5
    with pytest.raises(ValueError, match=f"Op: n must be {words}, got -1"):
        _args.count_arg(-1, "n", "Op", minimum)


def test_reduction_honours_the_legacy_flags_and_rejects_unknown_names():
    assert _args.reduction(None, None, "sum") == "sum"
    assert _args.reduction(False, None, "mean") == "sum"
    assert _args.reduction(None, False, "mean") == "none"
    with pytest.raises(ValueError, match="avg is not a valid value for reduction"):
        _args.reduction(None, None, "avg")


def test_unbroadcast_sums_added_and_stretched_dims():
    g = np.ones((2, 3, 4), np.float32)
    np.testing.assert_array_equal(_args.unbroadcast(g, (3, 1)), np.full((3, 1), 8, np.float32))
    assert _args.unbroadcast(g, (2, 3, 4)) is g


def test_norm_dims():
    assert _args.norm_dims((-1, 0), 3, "sum") == (0, 2)
    with pytest.raises(IndexError, match=r"sum: dim 3 out of range for a tensor with 3 dimensions"):
        _args.norm_dim(3, 3, "sum")
    with pytest.raises(ValueError, match=r"repeats a dimension"):
        _args.norm_dims((0, -3), 3, "sum")
