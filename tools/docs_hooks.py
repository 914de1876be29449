"""MkDocs hooks for the fastdl documentation site (mkdocs.yml: ``hooks``).

- One API page per package in ``API_PAGES``, generated at build time (``docs/api/<name>.md``
  is never written to disk), with the package's public names and then any submodules listed
  beside it; a page whose module is not in ``python/`` (an optional package another change
  adds later, such as ``fastdl.onnx``) is skipped, so the list can name modules before they
  exist. To document a new package, add one line to ``API_PAGES``.
- ``<!-- README:Example -->`` in a page is replaced by the README's "## Example" section, so
  the example lives in one place.
"""
from __future__ import annotations

import ast
import os
import re

from mkdocs.structure.files import File

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGE = os.path.join(ROOT, "python")

# (page title, module, one-line summary, submodules rendered after it on the same page)
API_PAGES = [
    ("fastdl", "fastdl", "Tensors, autograd switches, creation functions, runtime controls.", []),
    ("fastdl.nn", "fastdl.nn", "Layers, containers, losses, initialisers.", ["fastdl.nn.init", "fastdl.nn.utils"]),
    ("fastdl.functional", "fastdl.functional", "The functional forms of the layers (with autograd).", []),
    ("fastdl.ops", "fastdl.ops", "The raw C++ kernels on numpy arrays, without autograd.", []),
    ("fastdl.optim", "fastdl.optim", "Optimizers and learning-rate schedulers.", ["fastdl.optim.lr_scheduler"]),
    ("fastdl.data", "fastdl.data", "Datasets, the DataLoader, scalers and bundled data sets.",
     ["fastdl.data.datasets", "fastdl.data.transforms"]),
    ("fastdl.train", "fastdl.train", "fit / evaluate / predict, History and callbacks.", []),
    ("fastdl.compiler", "fastdl.compiler", "compile_step / compile: traced steps replayed from C++.", []),
    ("fastdl.models", "fastdl.models", "Reference CNNs (LeNet, NiN, ResNet-18).", []),
    ("fastdl.io", "fastdl.io", "save / load in the safetensors format.", []),
    ("fastdl.onnx", "fastdl.onnx", "Export to and import from ONNX.", []),
    ("fastdl.distributed", "fastdl.distributed", "Data-parallel training across processes.", []),
    ("fastdl.experiments", "fastdl.experiments", "Reproducible experiments (the `experiment` command).", []),
    ("fastdl.cli", "fastdl.cli", "The `fastdl` command line.", []),
]


def _top_level_names():
    """[(name, source module)] that ``fastdl/__init__.py`` imports for its users (``from .x
    import a, b``), minus private names: the members of the ``fastdl`` page (it has no
    ``__all__``)."""
    tree = ast.parse(open(os.path.join(PACKAGE, "fastdl", "__init__.py"), encoding="utf-8").read())
    names = {}
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.level == 1 and node.module:  # not "from . import x"
            for alias in node.names:
                name = alias.asname or alias.name
                if not name.startswith("_"):
                    names.setdefault(name, f"fastdl.{node.module}")
    return list(names.items())


def _options(module):
    if module != "fastdl":
        return ""
    # A function named like its submodule (fastdl.tensor, fastdl.summary) is rendered from its
    # source module: the static analysis sees the submodule under that name.
    members = [n for n, _ in _top_level_names() if not module_exists(f"fastdl.{n}")]
    return f"      members: [{', '.join(members)}]\n"


def _shadowed_functions(module):
    if module != "fastdl":
        return []
    return [f"{src}.{n}" for n, src in _top_level_names() if module_exists(f"fastdl.{n}")]


def module_exists(module):
    rel = os.path.join(PACKAGE, *module.split("."))
    return os.path.isfile(rel + ".py") or os.path.isfile(os.path.join(rel, "__init__.py"))


def api_pages():
    """[(title, module, summary, submodules, page path)] for the modules present in python/."""
    return [(t, m, s, [x for x in subs if module_exists(x)], f"api/{m.split('.')[-1]}.md")
            for t, m, s, subs in API_PAGES if module_exists(m)]


def _page_source(module, summary, submodules):
    text = f"# {module}\n\n{summary}\n\n::: {module}\n    options:\n      show_root_heading: false\n{_options(module)}"
    for name in _shadowed_functions(module):
        text += f"\n::: {name}\n    options:\n      heading_level: 3\n"
    for sub in submodules:
        text += f"\n::: {sub}\n    options:\n      heading_level: 2\n"
    return text


def on_config(config):
    for entry in config["nav"]:
        if isinstance(entry, dict) and "API reference" in entry:
            entry["API reference"] = [{t: path} for t, _, _, _, path in api_pages()]
    return config


def on_files(files, config):
    for _, module, summary, submodules, path in api_pages():
        files.append(File.generated(config, path, content=_page_source(module, summary, submodules)))
    return files


def _readme_section(title):
    text = open(os.path.join(ROOT, "README.md"), encoding="utf-8").read()
    m = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", text, re.M | re.S)
    if m is None:
        raise ValueError(f"README.md has no '## {title}' section")
    return m.group(1).strip()


def on_page_markdown(markdown, page, config, files):
    return re.sub(r"<!-- README:([\w ]+) -->", lambda m: _readme_section(m.group(1)), markdown)
