"""fastdl.train: fit / evaluate / predict, History, callbacks, schedulers and clipping, with the
numpy test doubles of tests/train_doubles.py (the real layers follow the same contract)."""
import csv
import math
import os
import sys

import numpy as np
import pytest
from train_doubles import MLP, SGD, CrossEntropyLoss, Linear, MSELoss, Plateau, StepDecay

import fastdl
from fastdl.data import DataLoader, TensorDataset, datasets, train_test_split
from fastdl.data.transforms import StandardScaler
from fastdl.nn import Module
from fastdl.train import (CSVLogger, Callback, EarlyStopping, History, ModelCheckpoint, TerminateOnNaN, accuracy,
                          evaluate, fit, predict)
from fastdl.train import loop as loop_mod


def _blobs(n=200, seed=0, classes=3, dim=4):
    rng = np.random.default_rng(seed)
    centers = rng.standard_normal((classes, dim)) * 3
    y = rng.integers(0, classes, n)
    X = (centers[y] + rng.standard_normal((n, dim))).astype(np.float32)
    return X, y


class Recorder(Callback):
    def __init__(self):
        self.events = []

    def on_train_begin(self, logs=None):
        self.events.append(("train_begin",))

    def on_epoch_begin(self, epoch, logs=None):
        self.events.append(("epoch_begin", epoch))

    def on_batch_end(self, batch, logs=None):
        self.events.append(("batch", batch, logs["size"], logs["loss"]))

    def on_epoch_end(self, epoch, logs=None):
        self.events.append(("epoch_end", epoch, dict(logs)))

    def on_train_end(self, logs=None):
        self.events.append(("train_end",))


# ---- convergence -------------------------------------------------------------------------
def test_fit_linear_regression_converges():
    X, y = datasets.synthetic_linear(512, np.array([2.0, -3.4]), 4.2, noise=0.01, seed=0)
    model = Linear(2, 1, np.random.default_rng(0))
    opt = SGD(model.parameters(), lr=0.05)
    fastdl.manual_seed(0)
    hist = fit(model, (X, y), MSELoss(), opt, epochs=20, metrics=(), verbose=0)
    np.testing.assert_allclose(model.weight.data.ravel(), [2.0, -3.4], atol=1e-2)
    np.testing.assert_allclose(model.bias.data, [4.2], atol=1e-2)
    h = hist.history
    assert set(h) == {"loss", "lr", "epoch_time", "samples_per_sec"}
    assert len(h["loss"]) == 20 and h["loss"][-1] < 1e-3 < h["loss"][0]
    assert h["lr"] == [0.05] * 20 and all(t > 0 for t in h["epoch_time"])


def test_fit_mlp_on_digits_reaches_high_accuracy():
    X, y = datasets.load_digits()
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.25, seed=0, stratify=y)
    sc = StandardScaler().fit(Xtr)
    Xtr, Xte = sc.transform(Xtr), sc.transform(Xte)
    model = MLP((64, 64, 10), seed=0)
    opt = SGD(model.parameters(), lr=0.05, momentum=0.9)
    train = DataLoader(TensorDataset(Xtr, ytr), batch_size=32, shuffle=True, seed=0)
    hist = fit(model, train, CrossEntropyLoss(), opt, epochs=8, val_data=(Xte, yte), verbose=0)
    h = hist.history
    assert list(h)[:4] == ["loss", "accuracy", "val_loss", "val_accuracy"]
    assert h["val_accuracy"][-1] >= 0.95 and h["accuracy"][-1] >= 0.95
    assert h["loss"][-1] < h["loss"][0]
    res = evaluate(model, (Xte, yte), CrossEntropyLoss())
    assert res["accuracy"] == pytest.approx(h["val_accuracy"][-1]) and res["loss"] == pytest.approx(h["val_loss"][-1])


# ---- evaluate / predict ----------------------------------------------------------------------
def test_evaluate_weights_batches_by_size():
    X, y = _blobs(103)
    model = MLP((4, 8, 3), seed=1)
    full = evaluate(model, (X, y), CrossEntropyLoss(), batch_size=103)
    small = evaluate(model, DataLoader(TensorDataset(X, y), batch_size=10), CrossEntropyLoss())
    assert small["loss"] == pytest.approx(full["loss"], rel=1e-5)
    out = model(fastdl.tensor(X)).data
    assert full["accuracy"] == pytest.approx(np.mean(out.argmax(1) == y))
    assert set(evaluate(model, (X, y))) == {"accuracy"}  # no loss_fn: metrics only


def test_evaluate_and_predict_use_eval_mode_no_grad_and_restore():
    X, y = _blobs(20)
    model = MLP((4, 8, 3))
    model.train()
    model.fc1.eval()  # a mixed state must come back exactly
    out = predict(model, X, batch_size=7)
    assert model.probe.seen == [False] * 3
    assert model.training and not model.fc1.training and model.probe.training
    ref = model(fastdl.tensor(X))
    np.testing.assert_array_equal(out, ref.data)
    assert ref.requires_grad  # outside no_grad the graph is recorded ...
    evaluate(model, (X, y), CrossEntropyLoss())
    assert model.training and not model.fc1.training
    with fastdl.no_grad():
        assert not model(fastdl.tensor(X)).requires_grad  # ... and inside it is not


def test_predict_inputs():
    X, y = _blobs(10)
    model = MLP((4, 8, 3))
    ref = predict(model, X)
    close = dict(rtol=1e-6, atol=1e-6)  # BLAS may round differently per batch size
    np.testing.assert_allclose(predict(model, fastdl.tensor(X), batch_size=3), ref, **close)
    np.testing.assert_allclose(predict(model, X.astype(np.float64), batch_size=4), ref, **close)
    np.testing.assert_allclose(predict(model, DataLoader(TensorDataset(X, y), batch_size=4)), ref, **close)
    np.testing.assert_array_equal(predict(model, TensorDataset(X, y)), ref)
    assert predict(model, X[:0]).shape == (0, 3)
    with pytest.raises(ValueError, match="batch_size"):
        predict(model, X, batch_size=0)


# ---- fit mechanics ----------------------------------------------------------------------------
def test_fit_callback_order_batches_and_modes():
    X, y = _blobs(100)
    model = MLP((4, 8, 3))
    model.eval()
    rec = Recorder()
    fit(model, (X, y), CrossEntropyLoss(), SGD(model.parameters(), lr=0.1), epochs=2, callbacks=[rec], verbose=0)
    kinds = [e[0] for e in rec.events]
    assert kinds == (["train_begin"] + (["epoch_begin"] + ["batch"] * 4 + ["epoch_end"]) * 2 + ["train_end"])
    sizes = [e[2] for e in rec.events if e[0] == "batch"]
    assert sizes == [32, 32, 32, 4] * 2  # default batch size 32, last partial batch kept
    assert set(model.probe.seen) == {True}  # trained in train mode
    assert not model.training  # the previous mode is back
    logs = rec.events[-2][2]
    assert set(logs) == {"loss", "accuracy", "lr", "epoch_time", "samples_per_sec"}
    batch_losses = [e[3] for e in rec.events[8:12]]
    assert logs["loss"] == pytest.approx(np.average(batch_losses, weights=[32, 32, 32, 4]))


def test_fit_tuple_data_is_shuffled_from_global_generator():
    X, y = _blobs(64)

    def run():
        fastdl.manual_seed(5)
        model = MLP((4, 8, 3))
        return fit(model, (X, y), CrossEntropyLoss(), SGD(model.parameters(), lr=0.1), epochs=3, verbose=0,
                   batch_size=16).history["loss"]

    a, b = run(), run()
    assert a == b
    model = MLP((4, 8, 3))
    c = fit(model, DataLoader(TensorDataset(X, y), batch_size=16), CrossEntropyLoss(),
            SGD(model.parameters(), lr=0.1), epochs=3, verbose=0).history["loss"]
    assert c != a  # unshuffled loader: a different trajectory


def test_scheduler_steps_once_per_epoch_and_lr_is_logged():
    X, y = _blobs(40)
    model = MLP((4, 8, 3))
    opt = SGD(model.parameters(), lr=0.1)
    hist = fit(model, (X, y), CrossEntropyLoss(), opt, epochs=4, scheduler=StepDecay(opt, 0.5), verbose=0)
    np.testing.assert_allclose(hist.history["lr"], [0.1, 0.05, 0.025, 0.0125])
    assert opt.param_groups[0]["lr"] == pytest.approx(0.00625)


def test_plateau_scheduler_gets_val_loss_or_loss():
    X, y = _blobs(40)
    model = MLP((4, 8, 3))
    opt = SGD(model.parameters(), lr=0.1)
    sched = Plateau(opt)
    hist = fit(model, (X, y), CrossEntropyLoss(), opt, epochs=3, val_data=(X[:10], y[:10]), scheduler=sched,
               verbose=0)
    assert sched.seen == hist.history["val_loss"]
    sched2 = Plateau(opt)
    hist2 = fit(model, (X, y), CrossEntropyLoss(), opt, epochs=2, scheduler=sched2, verbose=0)
    assert sched2.seen == hist2.history["loss"]


def test_clip_grad_norm_bounds_the_update():
    X, y = _blobs(64)
    norms = []

    class Spy(SGD):
        def step(self):
            norms.append(math.sqrt(sum(float((p.grad.data.astype(np.float64) ** 2).sum()) for p in self.params)))
            super().step()

    for clip in (None, 0.05):
        model = MLP((4, 8, 3))
        fit(model, (X * 100, y), CrossEntropyLoss(), Spy(model.parameters(), lr=0.01), epochs=1,
            clip_grad_norm=clip, verbose=0)
    unclipped, clipped = norms[:2], norms[2:]
    assert min(unclipped) > 0.05
    assert max(clipped) <= 0.05 * (1 + 1e-4)


def test_custom_metric_and_nan_loss_is_logged():
    X, y = _blobs(40)
    model = MLP((4, 8, 3))

    def top2(out, tgt):
        return float(np.mean((np.argsort(-out, axis=1)[:, :2] == tgt[:, None]).any(1)))

    hist = fit(model, (X, y), CrossEntropyLoss(), SGD(model.parameters(), lr=0.1), epochs=1,
               metrics=("accuracy", top2), val_data=(X, y), verbose=0)
    assert {"top2", "val_top2"} <= set(hist.history)
    assert hist.history["top2"][0] >= hist.history["accuracy"][0]
    Xn = X.copy()
    Xn[3] = np.nan
    model = MLP((4, 8, 3))
    hist = fit(model, (Xn, y), CrossEntropyLoss(), SGD(model.parameters(), lr=0.1), epochs=2, verbose=0)
    assert len(hist.history["loss"]) == 2 and math.isnan(hist.history["loss"][-1])  # defined: logged, not raised


# ---- callbacks -------------------------------------------------------------------------------
def test_terminate_on_nan_stops_after_the_bad_batch():
    X, y = _blobs(64)
    X[40] = np.nan  # in the second batch of 32
    model = MLP((4, 8, 3))
    rec, term = Recorder(), TerminateOnNaN()
    hist = fit(model, DataLoader(TensorDataset(X, y), batch_size=32), CrossEntropyLoss(),
               SGD(model.parameters(), lr=0.1), epochs=5, callbacks=[term, rec], verbose=0)
    assert term.stopped_batch == (0, 1)
    assert [e[0] for e in rec.events].count("batch") == 2 and len(hist.epoch) == 1
    assert rec.events[-1] == ("train_end",)


def test_early_stopping_patience_and_restore_best_weights():
    X, y = _blobs(64)
    model = MLP((4, 8, 3))
    snapshots = {}

    class Snap(Callback):
        def on_epoch_end(self, epoch, logs=None):
            snapshots[epoch] = self.model.state_dict()

    # min_delta larger than any possible improvement: only epoch 0 counts as "best"
    es = EarlyStopping(monitor="loss", patience=2, min_delta=1e9, restore_best_weights=True)
    hist = fit(model, (X, y), CrossEntropyLoss(), SGD(model.parameters(), lr=0.1), epochs=10,
               callbacks=[Snap(), es], verbose=0)
    assert len(hist.epoch) == 3 and es.stopped_epoch == 2 and es.best_epoch == 0
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(v, snapshots[0][k])
    assert not np.array_equal(snapshots[2]["fc1.weight"], snapshots[0]["fc1.weight"])


def test_early_stopping_modes_and_missing_monitor():
    model = MLP((4, 8, 3))
    es = EarlyStopping(monitor="val_accuracy", patience=1)
    assert es.mode == "max"
    es.set_context(model, None)
    es.on_train_begin()
    model.stop_training = False
    for epoch, acc in enumerate([0.5, 0.6, 0.6, 0.55]):
        es.on_epoch_end(epoch, {"val_accuracy": acc})
    assert model.stop_training and es.best == 0.6 and es.best_epoch == 1 and es.stopped_epoch == 3
    X, y = _blobs(20)
    with pytest.raises(KeyError, match="val_loss.*pass val_data"):
        fit(model, (X, y), CrossEntropyLoss(), SGD(model.parameters(), lr=0.1), epochs=1,
            callbacks=[EarlyStopping()], verbose=0)
    with pytest.raises(ValueError, match="mode"):
        EarlyStopping(mode="up")
    with pytest.raises(ValueError, match="patience"):
        EarlyStopping(patience=-1)


def test_model_checkpoint_best_and_last(tmp_path):
    X, y = _blobs(64)
    model = MLP((4, 8, 3))
    opt = SGD(model.parameters(), lr=0.1, momentum=0.9)
    best = ModelCheckpoint(tmp_path / "best.safetensors", monitor="val_loss", save_best_only=True)
    every = ModelCheckpoint(str(tmp_path / "ep{epoch:02d}-{loss:.3f}.safetensors"))
    weights = ModelCheckpoint(tmp_path / "w.safetensors", save_weights_only=True)
    hist = fit(model, (X, y), CrossEntropyLoss(), opt, epochs=3, val_data=(X[:16], y[:16]),
               callbacks=[best, every, weights], verbose=0)
    assert len(every.saved) == 3 and every.saved[0].endswith(f"ep01-{hist.history['loss'][0]:.3f}.safetensors")
    vl = hist.history["val_loss"]
    n_improved = sum(1 for i in range(3) if vl[i] < min(vl[:i], default=math.inf))
    assert len(best.saved) == n_improved
    bundle = fastdl.load(every.saved[-1])
    assert bundle["epoch"] == 3 and set(bundle) == {"model", "optimizer", "epoch", "rng_state", "logs"}
    assert bundle["logs"]["loss"] == hist.history["loss"][-1]
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(bundle["model"][k], v)
        np.testing.assert_array_equal(fastdl.load(tmp_path / "w.safetensors")[k], v)
    np.testing.assert_array_equal(bundle["optimizer"]["state"][0]["momentum_buffer"],
                                  opt.state[0]["momentum_buffer"])
    assert fastdl.load(tmp_path / "best.safetensors")["logs"]["val_loss"] == min(vl)


def test_model_checkpoint_keep_last_rotates(tmp_path):
    X, y = _blobs(48)
    model = MLP((4, 8, 3))
    rot = ModelCheckpoint(str(tmp_path / "ep{epoch}.safetensors"), keep_last=2)
    best = ModelCheckpoint(str(tmp_path / "best{epoch}.safetensors"), monitor="loss", save_best_only=True,
                           keep_last=1)
    fit(model, (X, y), CrossEntropyLoss(), SGD(model.parameters(), lr=0.1), epochs=4, callbacks=[rot, best],
        verbose=0)
    assert len(rot.saved) == 4
    assert sorted(p.name for p in tmp_path.glob("ep*")) == ["ep3.safetensors", "ep4.safetensors"]
    assert rot.kept == rot.saved[-2:]
    assert [p.name for p in tmp_path.glob("best*")] == [os.path.basename(best.saved[-1])]
    for k in (0, -1, 1.5, "2"):
        with pytest.raises(ValueError, match="keep_last"):
            ModelCheckpoint(tmp_path / "x.safetensors", keep_last=k)


def test_csv_logger(tmp_path):
    X, y = _blobs(40)
    model = MLP((4, 8, 3))
    path = tmp_path / "log.csv"
    for _ in range(2):  # the second run truncates
        hist = fit(model, (X, y), CrossEntropyLoss(), SGD(model.parameters(), lr=0.1), epochs=3,
                   val_data=(X, y), callbacks=[CSVLogger(path)], verbose=0)
    rows = list(csv.DictReader(open(path)))
    assert [r["epoch"] for r in rows] == ["0", "1", "2"]
    assert [float(r["val_loss"]) for r in rows] == hist.history["val_loss"]
    fit(model, (X, y), CrossEntropyLoss(), SGD(model.parameters(), lr=0.1), epochs=1,
        callbacks=[CSVLogger(path, append=True)], verbose=0)
    assert len(list(csv.DictReader(open(path)))) == 4


# ---- output -------------------------------------------------------------------------------------
def test_verbose_plain_lines_when_not_a_terminal(capsys):
    X, y = _blobs(40)
    model = MLP((4, 8, 3))
    fit(model, (X, y), CrossEntropyLoss(), SGD(model.parameters(), lr=0.1), epochs=2, val_data=(X, y), verbose=1)
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("Epoch 1/2") and "samples/s" in lines[0]
    assert all(k in lines[1] for k in ("loss:", "accuracy:", "val_loss:", "val_accuracy:", "lr:"))
    fit(model, (X, y), CrossEntropyLoss(), SGD(model.parameters(), lr=0.1), epochs=2, verbose=0)
    assert capsys.readouterr().out == ""


def test_verbose_progress_bar_on_a_terminal(monkeypatch, capsys):
    pytest.importorskip("tqdm")
    monkeypatch.setattr(loop_mod, "_is_terminal", lambda stream: True)
    X, y = _blobs(40)
    model = MLP((4, 8, 3))
    fit(model, (X, y), CrossEntropyLoss(), SGD(model.parameters(), lr=0.1), epochs=2, verbose=1)
    out = capsys.readouterr().out
    assert "Epoch 1/2" in out and "Epoch 2/2" in out and "100%" in out and "2/2 [" in out
    assert "samples/s" in out and "loss" in out


def test_history_plot(tmp_path, monkeypatch):
    pytest.importorskip("matplotlib")
    X, y = _blobs(40)
    model = MLP((4, 8, 3))
    hist = fit(model, (X, y), CrossEntropyLoss(), SGD(model.parameters(), lr=0.1), epochs=3, val_data=(X, y),
               verbose=0)
    p = tmp_path / "curves.png"
    assert hist.plot(p) == p
    assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and p.stat().st_size > 1000
    with pytest.raises(ValueError, match="no epochs"):
        History().plot(tmp_path / "empty.png")
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    with pytest.raises(ImportError, match=r"fastdl\[plot\]"):
        hist.plot(tmp_path / "x.png")


def test_history_append_fills_missing_with_nan():
    h = History()
    h.append(0, {"loss": 1.0})
    h.append(1, {"loss": 0.5, "val_loss": 0.7})
    h.append(2, {"val_loss": 0.6})
    assert h.epoch == [0, 1, 2] and h.history["loss"][:2] == [1.0, 0.5] and math.isnan(h.history["loss"][2])
    assert math.isnan(h.history["val_loss"][0]) and h.history["val_loss"][1:] == [0.7, 0.6]


# ---- metrics ----------------------------------------------------------------------------------
def test_accuracy_metric():
    out = np.array([[0.1, 0.9], [0.8, 0.2], [0.3, 0.7]])
    assert accuracy(out, np.array([1, 0, 0])) == pytest.approx(2 / 3)
    assert accuracy(out, np.array([[0, 1], [1, 0], [1, 0]], dtype=np.float32)) == pytest.approx(2 / 3)
    logits = np.array([[2.0], [-1.0], [0.5], [-0.1]])
    assert accuracy(logits, np.array([[1.0], [0.0], [0.0], [0.0]])) == pytest.approx(0.75)
    assert accuracy(logits.ravel(), np.array([1, 0, 1, 0])) == 1.0
    with pytest.raises(ValueError, match="do not match"):
        accuracy(out, np.array([1, 0]))
    with pytest.raises(ValueError, match="metrics=\\(\\)"):
        accuracy(np.zeros((3, 1)), np.array([[0.5], [1.0], [2.0]]))


# ---- bad arguments ----------------------------------------------------------------------------
def test_fit_bad_arguments():
    X, y = _blobs(20)
    model = MLP((4, 8, 3))
    opt = SGD(model.parameters(), lr=0.1)
    ce = CrossEntropyLoss()
    with pytest.raises(ValueError, match="epochs"):
        fit(model, (X, y), ce, opt, epochs=-1)
    with pytest.raises(TypeError, match="train_data"):
        fit(model, X, ce, opt, epochs=1)
    with pytest.raises(TypeError, match="val_data"):
        fit(model, (X, y), ce, opt, epochs=1, val_data=(X, y, y))
    with pytest.raises(ValueError, match="unknown metric"):
        fit(model, (X, y), ce, opt, epochs=1, metrics=("f1",))
    with pytest.raises(TypeError, match="Callback"):
        fit(model, (X, y), ce, opt, epochs=1, callbacks=[object()])
    with pytest.raises(ValueError, match="verbose"):
        fit(model, (X, y), ce, opt, epochs=1, verbose=3)
    with pytest.raises(ValueError, match="clip_grad_norm"):
        fit(model, (X, y), ce, opt, epochs=1, clip_grad_norm=0)
    with pytest.raises(ValueError, match="no batches"):
        fit(model, (X[:0], y[:0]), ce, opt, epochs=1, verbose=0)
    with pytest.raises(ValueError, match="no batches"):
        fit(model, DataLoader(TensorDataset(X, y), batch_size=32, drop_last=True), ce, opt, epochs=1, verbose=0)
    with pytest.raises(ValueError, match=r"\(inputs, targets\)"):
        fit(model, DataLoader(TensorDataset(X), batch_size=8), ce, opt, epochs=1, verbose=0)
    assert fit(model, (X, y), ce, opt, epochs=0, verbose=0).epoch == []
    assert isinstance(model, Module) and model.training


def test_exception_mid_epoch_closes_bar_and_restores_modes(monkeypatch, capsys):
    monkeypatch.setattr(loop_mod, "_is_terminal", lambda stream: True)
    X, y = _blobs(64)
    model = MLP((4, 8, 3))
    model.eval()
    calls = []

    def bad_loss(out, tgt):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("boom in loss")
        return CrossEntropyLoss()(out, tgt)

    with pytest.raises(RuntimeError, match="boom in loss"):
        fit(model, (X, y), bad_loss, SGD(model.parameters(), lr=0.1), epochs=2, verbose=1)
    assert not model.training and not model.probe.training
    assert "Epoch 1/2" in capsys.readouterr().out


# ---- with the real layers, losses and optimizers -------------------------------------------
def _real():
    nn = fastdl.nn
    if not all(hasattr(nn, n) for n in ("Linear", "ReLU", "Sequential", "CrossEntropyLoss")) or \
            not hasattr(fastdl, "optim"):
        pytest.skip("real layers/losses/optimizers not available")
    import fastdl.optim as optim

    return nn, optim


@pytest.fixture
def one_thread():
    """Tiny GEMMs: one thread keeps this loop test fast on a busy 2-core machine."""
    prev = fastdl.get_num_threads()
    fastdl.set_num_threads(1)
    yield
    fastdl.set_num_threads(prev)


def test_real_mlp_on_digits_with_plateau_scheduler_and_checkpoint(tmp_path, one_thread):
    nn, optim = _real()
    fastdl.manual_seed(0)
    X, y = datasets.load_digits()
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.25, seed=0, stratify=y)
    sc = StandardScaler().fit(Xtr)
    Xtr, Xte = sc.transform(Xtr), sc.transform(Xte)
    model = nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 10))
    opt = optim.Adam(model.parameters(), lr=3e-3)
    sched = optim.lr_scheduler.ReduceLROnPlateau(opt, factor=0.5, patience=0)
    ck = ModelCheckpoint(tmp_path / "best.safetensors", save_best_only=True)
    hist = fit(model, DataLoader(TensorDataset(Xtr, ytr), batch_size=32, shuffle=True, seed=0),
               nn.CrossEntropyLoss(), opt, epochs=6, val_data=(Xte, yte), scheduler=sched, callbacks=[ck],
               clip_grad_norm=5.0, verbose=0)
    assert hist.history["val_accuracy"][-1] >= 0.95
    assert len(ck.saved) >= 1
    bundle = fastdl.load(ck.saved[-1])
    fresh = nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 10))
    fresh.load_state_dict(bundle["model"])
    opt2 = optim.Adam(fresh.parameters(), lr=1.0)
    opt2.load_state_dict(bundle["optimizer"])
    res = evaluate(fresh, (Xte, yte), nn.CrossEntropyLoss())
    assert res["loss"] == pytest.approx(min(hist.history["val_loss"]), rel=1e-5)
