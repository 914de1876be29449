"""The progress bar of fit(verbose=1): metrics visible at 80 columns, in a terminal and in a
notebook (tqdm.auto), and the full line printed under the bar after each epoch."""
import io
import re

import pytest
from train_doubles import MLP, SGD, CrossEntropyLoss

from fastdl.train import fit
from fastdl.train import loop as loop_mod

tqdm_auto = pytest.importorskip("tqdm.auto")

ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


class FakeTerminal(io.StringIO):
    def isatty(self):
        return True


def _blobs(n=96):
    import numpy as np

    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, n)
    X = (rng.standard_normal((n, 4)) + 3 * np.eye(3, 4)[y]).astype(np.float32)
    return X, y


def _screen_lines(text):
    """What a terminal shows: each carriage return or newline starts over; escapes removed."""
    return [ANSI.sub("", s) for s in re.split(r"[\r\n]", text) if ANSI.sub("", s).strip()]


def _fit_on_terminal(monkeypatch, columns, epochs=12, batches=120):
    term = FakeTerminal()
    monkeypatch.setattr("sys.stdout", term)
    monkeypatch.setenv("COLUMNS", str(columns))
    X, y = _blobs(batches)
    model = MLP((4, 8, 3))
    fit(model, (X, y), CrossEntropyLoss(), SGD(model.parameters(), lr=0.1), epochs=epochs, val_data=(X, y),
        batch_size=1, verbose=1)
    return _screen_lines(term.getvalue())


@pytest.mark.parametrize("columns", [80, 60])
def test_bar_fits_and_keeps_metrics_visible(monkeypatch, columns):
    lines = _fit_on_terminal(monkeypatch, columns)
    bars = [ln for ln in lines if ln.startswith("Epoch ")]
    assert bars, lines
    assert max(len(ln) for ln in bars) <= columns
    final = [ln for ln in bars if "100%" in ln or ln.startswith("Epoch 12/12 ")][-1]
    # loss and accuracy, short names, four decimals, never cut
    assert re.match(r"Epoch 12/12 loss \d\.\d{4} acc \d\.\d{4} ", final), final
    if columns >= 80:
        assert "120/120" in final and "100%" in final


def test_full_line_after_each_epoch(monkeypatch):
    lines = _fit_on_terminal(monkeypatch, 80, epochs=2, batches=20)
    summaries = [ln for ln in lines if ln.startswith("  loss ")]
    assert len(summaries) == 2
    assert re.fullmatch(r"  loss \d\.\d{4} acc \d\.\d{4} val_loss \d\.\d{4} val_acc \d\.\d{4} lr 0\.1 "
                        r"\d+ samples/s", summaries[-1]), summaries[-1]
    assert all(len(ln) <= 80 for ln in summaries)


def test_notebook_uses_the_widget_without_a_column_count(monkeypatch):
    made = []

    class FakeNotebookBar:
        def __init__(self, **kwargs):
            self.kwargs, self.total, self.descs, self.n, self.closed = kwargs, kwargs["total"], [], 0, False
            made.append(self)

        def set_description_str(self, s, refresh=True):
            self.descs.append(s)

        def update(self, n):
            self.n += n

        def close(self):
            self.closed = True

    FakeNotebookBar.__module__ = "tqdm.notebook"
    monkeypatch.setattr(tqdm_auto, "tqdm", FakeNotebookBar)
    out = io.StringIO()  # a notebook's stdout is not a terminal
    monkeypatch.setattr("sys.stdout", out)
    X, y = _blobs(40)
    model = MLP((4, 8, 3))
    fit(model, (X, y), CrossEntropyLoss(), SGD(model.parameters(), lr=0.1), epochs=2, batch_size=8, verbose=1)
    assert len(made) == 2 and all(b.closed and b.n == 5 for b in made)
    assert "ncols" not in made[0].kwargs  # a widget sizes itself; ncols would be pixels
    assert re.fullmatch(r"Epoch 2/2 loss \d\.\d{4} acc \d\.\d{4}", made[1].descs[-1])
    assert out.getvalue().count("  loss ") == 2


def test_fixed_precision_formatting():
    assert loop_mod._fixed(0.5) == "0.5000"
    assert loop_mod._fixed(123456.0) == "1.235e+05"
    assert loop_mod._fixed(float("nan")) == "nan"
