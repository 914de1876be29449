"""``python -m fastdl experiment NAME|all|--list [--quick] [--seed N] [--out DIR] [--threads N]``."""
from __future__ import annotations

import sys

from ..cli.argtypes import non_negative_int, positive_int
from .runner import DEFAULT_OUT

__all__ = ["register", "main"]


def register(sub):
    """Add the ``experiment`` subcommand to the ``fastdl`` command's subparsers (fastdl.cli)."""
    p = sub.add_parser(
        "experiment", help="check a course's claim with an experiment: plot + verdict from the run's numbers",
        description="Run one of the course's claims as an experiment on real (or stated-rule generated) data: "
                    "writes DIR/NAME.png and DIR/NAME.json and prints the claim, a table and the verdict, "
                    "which is computed from the run's own metrics. 'all' runs every experiment and writes "
                    "DIR/index.html.")
    p.add_argument("name", nargs="?", metavar="NAME", help="an experiment name (see --list) or 'all'")
    p.add_argument("--list", action="store_true", help="list the experiments, one line each, and exit (default: off)")
    p.add_argument("--quick", action="store_true", help="a smaller setup, seconds instead of up to a minute (default: off, the full setup)")
    p.add_argument("--seed", type=non_negative_int, default=0, help="random seed (default: %(default)s)")
    p.add_argument("--out", default=DEFAULT_OUT, metavar="DIR", help="output directory, created if missing (default: %(default)s)")
    p.add_argument("--threads", type=positive_int, default=None, metavar="N",
                   help="number of compute threads (default: fastdl's current setting)")
    p.set_defaults(experiment_parser=p, func=main)
    return p


def main(args) -> int:
    """Handle parsed ``experiment`` arguments; usage errors exit with status 2."""
    import fastdl

    from . import REGISTRY, run

    parser = args.experiment_parser
    if args.list:
        if args.name is not None:
            parser.error("--list takes no NAME")
        width = max(len(n) for n in REGISTRY)
        for name, exp in REGISTRY.items():
            print(f"{name:<{width}}  {exp.summary}")
        return 0
    if args.name is None:
        parser.error("give an experiment NAME, 'all' or --list")
    if args.seed >= 2**32:
        parser.error(f"--seed must be < 2**32, got {args.seed}")
    if args.name != "all" and args.name not in REGISTRY:
        parser.error(f"unknown experiment {args.name!r}; choose from: all, {', '.join(REGISTRY)}")
    previous = fastdl.get_num_threads()
    if args.threads is not None:
        fastdl.set_num_threads(args.threads)
    try:
        run(args.name, quick=args.quick, seed=args.seed, out=args.out)
    except ImportError as e:
        print(f"fastdl experiment: {e}", file=sys.stderr)
        return 1
    finally:
        fastdl.set_num_threads(previous)
    return 0
