"""``python -m fastdl`` (or the ``fastdl`` script): the command line, see :mod:`fastdl.cli`."""
import sys

from .cli import main  # noqa: F401  (the console script's entry point: fastdl.__main__:main)

if __name__ == "__main__":
    sys.exit(main())
