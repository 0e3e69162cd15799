"""The paper's experiments, one command each: ``layerinv experiment NAME [options]``.

``layerinv experiment --help`` lists them; ``layerinv experiment NAME --help`` lists NAME's options
(the command itself is :mod:`layerinv.cli.experiment`). The demos (``layerinv demo``) live here too:
:mod:`.demo` (random nets) and :mod:`.mnist_demo` (the shipped MNIST generator).

Contract for an experiment module (add its dotted path to :data:`EXPERIMENTS`)
------------------------------------------------------------------------------
A module ``layerinv.experiments.<name>`` defines

* ``DESCRIPTION`` : str
    One line for ``--help``.
* ``add_arguments(parser)``
    Declares the module's options on an ``argparse`` parser: ``g = _args.add_common_arguments(parser,
    trials=..., out=...)`` adds the options every experiment has (``--trials``, ``--seed``,
    ``--out DIR``, ``--jobs N``, ``--quick``, ``--plot-only``, ``--quiet``) and returns the group for
    the module's own ones; ``_args.add_gd_arguments(g, ...)`` adds the GD baseline's. Validate values
    with the argparse types in ``_args`` (``positive_int``, ``int_list``, ``choice_list(METHODS)``,
    ``widths``, ...): a bad value is an argparse error.
* ``run(args) -> list[str]``
    Runs the experiment (unless ``args.plot_only``) and returns the files written: the data files
    (CSV, JSON with the options and versions) first, then the figures. ``--quick`` must finish in
    seconds. Errors in combinations of options raise ``ValueError`` (the CLI prints one line).
* ``plot(out_dir) -> list[str]``
    Draws the figure(s) *from the files in out_dir only* (never from in-memory results), so a
    figure can be redrawn with ``--plot-only``. ``layerinv.plotting`` imports matplotlib lazily
    (Agg backend) and holds the shared drawing helpers.

The skeleton in ``_common`` (``run`` is a few lines on top of it):

* Seeding: trial ``i`` of setting ``s`` draws from ``trial_rng(args.seed, s, i)``, i.e.
  ``SeedSequence(seed).spawn(...)`` children fixed by their key, so results are identical for any
  ``--jobs`` and for any ``--trials`` (trial i is the same instance in a 5- and a 200-trial run).
* ``run_trials(args, trial, tasks, desc=..., methods=...)`` runs module-level ``trial`` over
  picklable ``tasks`` (``parallel_map``: in order, in ``spawn``-ed single-threaded processes, with a
  tqdm bar) and returns the rows and the seconds; ``timed_call`` times one solver call and turns an
  exception into a recorded ``'error: ...'`` status.
* ``groups`` / ``error_count`` for summaries; ``write_results`` (trials CSV, summary CSV, optional
  markdown table, JSON via ``run_metadata``) and ``read_results`` for the figure.

Torch and matplotlib are imported only inside functions, so ``layerinv --help`` stays fast.
"""
from __future__ import annotations

import importlib

__all__ = ["EXPERIMENTS", "load"]

#: Experiment name -> module path (imported when the CLI parser is built or the experiment runs).
EXPERIMENTS = {
    "random-k": "layerinv.experiments.random_k",
    "noise": "layerinv.experiments.noise",
    "timing": "layerinv.experiments.timing",
    "mnist": "layerinv.experiments.mnist",
    "cs": "layerinv.experiments.cs",
    "inpainting": "layerinv.experiments.inpainting",
    "phase-retrieval": "layerinv.experiments.phase_retrieval",
    "conv": "layerinv.experiments.conv",
    "sample-quality": "layerinv.experiments.sample_quality",
}


def load(name):
    """Import and return the module of experiment ``name``."""
    if name not in EXPERIMENTS:
        raise ValueError(f"unknown experiment {name!r}; choose one of {', '.join(EXPERIMENTS)}.")
    return importlib.import_module(EXPERIMENTS[name])
