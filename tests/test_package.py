"""The top-level package: lazily loaded submodules and names."""
import subprocess
import sys

import pytest

import fastdl


def test_import_does_not_load_the_training_stack():
    code = ("import sys, fastdl; heavy = [m for m in ('fastdl.train', 'fastdl.io', 'fastdl.data', "
            "'fastdl.optim', 'tqdm', 'safetensors', 'matplotlib') if m in sys.modules]; print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("name", sorted(fastdl._LAZY))
def test_lazy_names_resolve(name):
    value = getattr(fastdl, name)
    module, attr = fastdl._LAZY[name]
    if attr is None:
        assert value.__name__ == f"fastdl.{module}"
    else:
        assert callable(value) and value.__name__ == attr
    assert name in dir(fastdl)


def test_unknown_attribute_raises():
    with pytest.raises(AttributeError, match="no attribute 'nonexistent'"):
        fastdl.nonexistent


def test_gradcheck_and_summary_are_functions_whatever_is_imported():
    # The functions live in fastdl._gradcheck / fastdl._summary; the old module paths are
    # aliases, so importing them neither fails nor replaces the functions (see d623d23).
    code = ("import fastdl.gradcheck, fastdl.summary, fastdl; "
            "from fastdl.gradcheck import gradcheck, GradcheckError; from fastdl.summary import summary; "
            "assert callable(fastdl.gradcheck) and fastdl.gradcheck is gradcheck, fastdl.gradcheck; "
            "assert callable(fastdl.summary) and fastdl.summary is summary, fastdl.summary; "
            "assert fastdl.GradcheckError is GradcheckError; print('ok')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"
