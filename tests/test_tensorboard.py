"""fastdl.train.callbacks.TensorBoard: the event files are read back (record framing and CRCs
checked, events parsed with tensorboardX's protobuf classes; and with TensorBoard's own
EventAccumulator when tensorboard is installed)."""
import glob
import os
import struct

import numpy as np
import pytest
from train_doubles import MLP, SGD, CrossEntropyLoss

from fastdl.train import fit
from fastdl.train.callbacks import TensorBoard

tbx = pytest.importorskip("tensorboardX")
from tensorboardX.proto import event_pb2  # noqa: E402
from tensorboardX.record_writer import masked_crc32c  # noqa: E402


def read_events(run_dir):
    """Every Event in the one event file of ``run_dir`` (TFRecord framing: length, CRC of the
    length, payload, CRC of the payload)."""
    files = glob.glob(os.path.join(run_dir, "events.out.tfevents.*"))
    assert len(files) == 1, files
    data = open(files[0], "rb").read()
    events, pos = [], 0
    while pos < len(data):
        header = data[pos:pos + 8]
        (length,) = struct.unpack("<Q", header)
        assert struct.unpack("<I", data[pos + 8:pos + 12])[0] == masked_crc32c(header)
        payload = data[pos + 12:pos + 12 + length]
        assert struct.unpack("<I", data[pos + 12 + length:pos + 16 + length])[0] == masked_crc32c(payload)
        events.append(event_pb2.Event.FromString(payload))
        pos += 16 + length
    return events


def summaries(run_dir, field):
    """{tag: [(step, value)]} of the summary values holding ``field`` ('simple_value' for
    scalars, 'histo' for histograms)."""
    out = {}
    for ev in read_events(run_dir):
        for v in ev.summary.value:
            if v.HasField(field):
                out.setdefault(v.tag, []).append((ev.step, getattr(v, field)))
    return out


def scalars(run_dir):
    return summaries(run_dir, "simple_value")


def histograms(run_dir):
    return summaries(run_dir, "histo")


def _train(tmp_path, **kw):
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 60)
    X = (rng.standard_normal((60, 4)) + 3 * np.eye(3, 4)[y]).astype(np.float32)
    model = MLP((4, 8, 3))
    cb = TensorBoard(tmp_path / "logs", **kw)
    hist = fit(model, (X, y), CrossEntropyLoss(), SGD(model.parameters(), lr=0.1), epochs=3, val_data=(X, y),
               callbacks=[cb], verbose=0)
    return model, hist


def test_scalars_read_back(tmp_path):
    _, hist = _train(tmp_path)
    h = hist.history
    train = scalars(tmp_path / "logs" / "train")
    val = scalars(tmp_path / "logs" / "validation")
    assert set(train) == {"epoch_loss", "epoch_accuracy", "epoch_learning_rate", "epoch_time",
                          "epoch_samples_per_sec"}
    assert set(val) == {"epoch_loss", "epoch_accuracy"}
    for tag, key in [("epoch_loss", "loss"), ("epoch_accuracy", "accuracy"), ("epoch_learning_rate", "lr")]:
        assert [s for s, _ in train[tag]] == [1, 2, 3]
        np.testing.assert_allclose([v for _, v in train[tag]], h[key], rtol=1e-6)
    np.testing.assert_allclose([v for _, v in val["epoch_loss"]], h["val_loss"], rtol=1e-6)
    np.testing.assert_allclose([v for _, v in val["epoch_accuracy"]], h["val_accuracy"], rtol=1e-6)
    assert histograms(tmp_path / "logs" / "train") == {}


def test_weight_histograms(tmp_path):
    model, _ = _train(tmp_path, histograms=True)
    hists = histograms(tmp_path / "logs" / "train")
    names = [n for n, _ in model.named_parameters()]
    assert sorted(hists) == sorted(names)
    for name, p in model.named_parameters():
        steps = [s for s, _ in hists[name]]
        assert steps == [1, 2, 3]
        last = hists[name][-1][1]  # after the last epoch: the final weights
        assert last.num == p.data.size
        assert last.min == pytest.approx(float(p.data.min())) and last.max == pytest.approx(float(p.data.max()))
        assert last.sum == pytest.approx(float(p.data.sum()), abs=1e-4)


def test_tensorboard_reader_agrees(tmp_path):
    ea_mod = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")
    model, hist = _train(tmp_path, histograms=True)
    acc = ea_mod.EventAccumulator(str(tmp_path / "logs" / "validation"))
    acc.Reload()
    vals = [e.value for e in acc.Scalars("epoch_loss")]
    np.testing.assert_allclose(vals, hist.history["val_loss"], rtol=1e-6)
    tr = ea_mod.EventAccumulator(str(tmp_path / "logs" / "train"))
    tr.Reload()
    assert sorted(tr.Tags()["histograms"]) == sorted(n for n, _ in model.named_parameters())
    assert [e.step for e in tr.Scalars("epoch_learning_rate")] == [1, 2, 3]


def test_bad_log_dir():
    with pytest.raises(TypeError, match="log_dir must be a path"):
        TensorBoard(3)


def test_missing_library_names_the_extra(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "tensorboardX", None)
    with pytest.raises(ImportError, match=r"fastdl\[tensorboard\]"):
        TensorBoard("logs")
