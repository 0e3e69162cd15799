"""The paper's experiments, one command each: ``layerinv experiment NAME [options]``.

``layerinv experiment --help`` lists them; ``layerinv experiment NAME --help`` lists NAME's options.

Contract for an experiment module (add its dotted path to :data:`EXPERIMENTS`)
------------------------------------------------------------------------------
A module ``layerinv.experiments.<name>`` defines

* ``DESCRIPTION`` : str
    One line for ``--help``.
* ``add_arguments(parser)``
    Adds the module's own options to an ``argparse`` parser. It must call
    ``_common.add_common_arguments(parser, trials=..., out=...)``, which adds the options every
    experiment has: ``--trials``, ``--seed``, ``--out DIR``, ``--jobs N``, ``--quick``,
    ``--plot-only``, ``--quiet``. Validate values with the argparse types in ``_common``
    (``positive_int``, ``positive_float``, ``int_list``, ...): a bad value is an argparse error.
* ``run(args) -> list[str]``
    Runs the experiment (unless ``args.plot_only``) and returns the files written: the data files
    (CSV, JSON with the options and versions) first, then the figures. ``--quick`` must finish in
    seconds. Errors in combinations of options raise ``ValueError`` (the CLI prints one line).
* ``plot(out_dir) -> list[str]``
    Draws the figure(s) *from the files in out_dir only* (never from in-memory results), so a
    figure can be redrawn with ``--plot-only``. Import matplotlib inside (``layerinv.plotting``
    does it lazily with the Agg backend).

Rules the helpers in ``_common`` implement:

* Seeding: trial ``i`` of setting ``s`` draws from ``trial_rng(args.seed, s, i)``, i.e.
  ``SeedSequence(seed).spawn(...)`` children fixed by their key, so results are identical for any
  ``--jobs`` and for any ``--trials`` (trial i is the same instance in a 5- and a 200-trial run).
* ``parallel_map(func, tasks, jobs=args.jobs, desc=..., progress=not args.quiet, torch=...)`` runs
  module-level ``func`` over picklable ``tasks`` in order, in ``spawn``-ed processes, single-threaded,
  with a tqdm bar.
* ``write_csv`` / ``read_csv`` / ``write_json`` / ``read_json`` / ``run_metadata``.

Torch and matplotlib are imported only inside functions, so ``layerinv --help`` stays fast.
"""
from __future__ import annotations

import importlib

__all__ = ["EXPERIMENTS", "register_cli", "load"]

#: Experiment name -> module path (imported when the CLI parser is built or the experiment runs).
EXPERIMENTS = {
    "random-k": "layerinv.experiments.random_k",
    "noise": "layerinv.experiments.noise",
    "timing": "layerinv.experiments.timing",
    "mnist": "layerinv.experiments.mnist",
    "cs": "layerinv.experiments.cs",
    "inpainting": "layerinv.experiments.inpainting",
    "phase-retrieval": "layerinv.experiments.phase_retrieval",
}


def load(name):
    """Import and return the module of experiment ``name``."""
    if name not in EXPERIMENTS:
        raise ValueError(f"unknown experiment {name!r}; choose one of {', '.join(EXPERIMENTS)}.")
    return importlib.import_module(EXPERIMENTS[name])


def _handler(args):
    files = load(args.experiment).run(args)
    for f in files:
        print(f)
    return 0


def register_cli(subparsers):
    """Add ``experiment NAME [options]`` to the ``layerinv`` command line."""
    p = subparsers.add_parser(
        "experiment", help="reproduce one of the paper's experiments (CSV, JSON and a figure)",
        description="Reproduce one of the paper's experiments. Each writes CSV/JSON, then draws its figure from "
                    "those files; 'layerinv experiment NAME --help' lists NAME's options.")
    sub = p.add_subparsers(dest="experiment", metavar="NAME", required=True)
    for name in EXPERIMENTS:
        mod = load(name)
        q = sub.add_parser(name, help=mod.DESCRIPTION, description=mod.DESCRIPTION)
        mod.add_arguments(q)
        q.set_defaults(func=_handler, experiment=name)
    return p
