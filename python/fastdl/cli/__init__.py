"""fastdl's command line: ``python -m fastdl [info|demo|bench|experiment] [options]``.

Each subcommand is a module with ``register(subparsers)``, which adds its parser and sets
``func`` (called with the parsed arguments, returns the exit code). ``info`` (the default when
no subcommand is given), ``demo`` and ``bench`` live here; ``experiment`` is registered from
``fastdl.experiments.cli`` when that package is installed. Options are validated by argparse
type functions (``fastdl.cli.argtypes``): a bad value is a one-line usage error, exit code 2.
"""
from __future__ import annotations

import argparse
import importlib
import sys

__all__ = ["main", "build_parser"]

# (module, required): the optional ones are skipped when their package is absent.
SUBCOMMANDS = [
    ("fastdl.cli.info", True),
    ("fastdl.cli.demo", True),
    ("fastdl.cli.bench", True),
    ("fastdl.experiments.cli", False),
]


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Keeps the descriptions' line breaks; wider option column."""

    def __init__(self, prog):
        super().__init__(prog, max_help_position=30)


def build_parser():
    """The ``fastdl`` argument parser with every available subcommand."""
    from .. import __version__

    p = argparse.ArgumentParser(
        prog="fastdl", formatter_class=HelpFormatter,
        description="fastdl: fast CPU deep learning. Without a subcommand: 'info'.",
        epilog="Run 'fastdl <command> --help' for a command's options.")
    p.add_argument("--version", action="version", version=f"fastdl {__version__}")
    sub = p.add_subparsers(dest="command", metavar="<command>", title="commands")
    for module, required in SUBCOMMANDS:
        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError as e:
            if required or not module.startswith(e.name or "\0"):
                raise
            continue
        mod.register(sub)
    return p


def main(argv=None) -> int:
    """Parse ``argv`` (default ``sys.argv[1:]``) and run the subcommand; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        args = parser.parse_args(["info"] + list(sys.argv[1:] if argv is None else argv))
    return args.func(args)
