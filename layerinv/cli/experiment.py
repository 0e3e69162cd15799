"""``layerinv experiment NAME [options]``: reproduce one of the paper's experiments."""
from __future__ import annotations

from ..experiments import EXPERIMENTS, load


def _run(args):
    if getattr(args, "out", None) is not None:
        from ..experiments._common import check_out_dir

        check_out_dir(args.out)  # refuse a file before the run, not after it
    print("\n".join(load(args.experiment).run(args)))
    return 0


def register(subparsers):
    """Add ``experiment NAME [options]``; each experiment module adds its own options."""
    p = subparsers.add_parser(
        "experiment", help="reproduce one of the paper's experiments (CSV, JSON and a figure)",
        description="Reproduce one of the paper's experiments. Each writes CSV/JSON, then draws its figure from "
                    "those files; 'layerinv experiment NAME --help' lists NAME's options.")
    sub = p.add_subparsers(dest="experiment", metavar="NAME", required=True)
    for name in EXPERIMENTS:
        mod = load(name)
        q = sub.add_parser(name, help=mod.DESCRIPTION, description=mod.DESCRIPTION)
        mod.add_arguments(q)
        q.set_defaults(func=_run, experiment=name)
    return p
