"""Helpers shared by every experiment: options, seeding, a parallel map with a progress bar, files.

Nothing here imports torch or matplotlib at module level.
"""
from __future__ import annotations

import argparse
import contextlib
import csv
import json
import math
import os
import platform
import sys
import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np

__all__ = ["add_common_arguments", "positive_int", "nonnegative_int", "positive_float", "nonnegative_float",
           "choice_list", "int_list", "float_list", "trial_rng", "trial_seed", "parallel_map", "single_thread",
           "write_csv", "read_csv", "write_json", "read_json", "out_dir", "relative_error", "run_metadata",
           "add_noise"]


# ---------------------------------------------------------------------------------------------- options
def positive_int(text):
    """argparse type: an integer >= 1."""
    try:
        v = int(text)
    except (TypeError, ValueError):
        raise argparse.ArgumentTypeError(f"expected a positive integer; got {text!r}") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer; got {text!r}")
    return v


def nonnegative_int(text):
    """argparse type: an integer >= 0 (seeds)."""
    try:
        v = int(text)
    except (TypeError, ValueError):
        raise argparse.ArgumentTypeError(f"expected a non-negative integer; got {text!r}") from None
    if v < 0:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer; got {text!r}")
    return v


def _float(text, strict):
    try:
        v = float(text)
    except (TypeError, ValueError):
        raise argparse.ArgumentTypeError(f"expected a number; got {text!r}") from None
    if not math.isfinite(v) or v < 0 or (strict and v == 0):
        raise argparse.ArgumentTypeError(f"expected a finite number {'>' if strict else '>='} 0; got {text!r}")
    return v


def positive_float(text):
    """argparse type: a finite float > 0."""
    return _float(text, True)


def nonnegative_float(text):
    """argparse type: a finite float >= 0."""
    return _float(text, False)


def _list(text, item, what):
    parts = [p for p in str(text).replace(" ", "").split(",")]
    if not parts or any(p == "" for p in parts):
        raise argparse.ArgumentTypeError(f"expected a comma-separated list of {what}; got {text!r}")
    out = [item(p) for p in parts]
    if len(set(out)) != len(out):
        raise argparse.ArgumentTypeError(f"the list {text!r} has repeated entries")
    return out


def choice_list(choices):
    """argparse type factory: ``"a,b"`` -> ``["a", "b"]``, distinct names from ``choices``."""
    def parse(text):
        out = [m.strip() for m in str(text).split(",")]
        if not out or len(set(out)) != len(out) or any(m not in choices for m in out):
            raise argparse.ArgumentTypeError(f"expected distinct names from {', '.join(choices)}; got {text!r}")
        return out
    return parse


def int_list(text):
    """argparse type: ``"10,20,30"`` -> ``[10, 20, 30]`` (positive, distinct)."""
    return _list(text, positive_int, "positive integers")


def float_list(text):
    """argparse type: ``"1e-6,1e-5"`` -> ``[1e-06, 1e-05]`` (positive, distinct)."""
    return _list(text, positive_float, "positive numbers")


def add_common_arguments(parser, *, trials, out):
    """Add the options every experiment takes.

    ``--trials`` (default ``trials``), ``--seed`` (0), ``--out DIR`` (default ``out``), ``--jobs N`` (1),
    ``--quick`` (a seconds-long smoke run), ``--plot-only`` (redraw the figure from the files in --out),
    ``--quiet`` (no progress bar).
    """
    g = parser.add_argument_group("common options")
    g.add_argument("--trials", type=positive_int, default=trials,
                   help=f"random instances per setting (default {trials})")
    g.add_argument("--seed", type=nonnegative_int, default=0,
                   help="root seed; trial i of setting s uses SeedSequence(seed).spawn(...) (default 0)")
    g.add_argument("--out", default=out, help=f"output folder for CSV/JSON/PNG (default {out})")
    g.add_argument("--jobs", type=positive_int, default=1,
                   help="worker processes (default 1); results are identical for any value")
    g.add_argument("--quick", action="store_true", help="a tiny run that finishes in seconds (for smoke tests)")
    g.add_argument("--plot-only", action="store_true",
                   help="do not run anything: redraw the figure from the CSV already in --out")
    g.add_argument("--quiet", action="store_true", help="no progress bar")
    return g


# ---------------------------------------------------------------------------------------------- seeding
def trial_seed(seed, *key):
    """The ``SeedSequence`` of one trial: ``SeedSequence(seed, spawn_key=key)``.

    This equals ``SeedSequence(seed).spawn(key[0] + 1)[key[0]].spawn(key[1] + 1)[key[1]]...``: the
    children are fixed by their key alone, so a trial draws the same numbers whatever the number of
    trials, the list of settings or the number of worker processes.
    """
    return np.random.SeedSequence(int(seed), spawn_key=tuple(int(k) for k in key))


def trial_rng(seed, *key):
    """``numpy.random.Generator`` on :func:`trial_seed` ``(seed, *key)``."""
    return np.random.default_rng(trial_seed(seed, *key))


# ---------------------------------------------------------------------------------------------- running
def _torch_threads(n):
    """Set torch's intra-op threads to n; return the old value (None when torch is absent)."""
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is optional; only method "gd" needs it
        return None
    old = torch.get_num_threads()
    torch.set_num_threads(n)
    return old


@contextlib.contextmanager
def single_thread(torch=False):
    """Run the body with one BLAS thread (and, with ``torch=True``, one torch thread), restored after.

    Every trial is single-threaded; parallelism comes from ``--jobs`` only. This keeps timings
    comparable between methods and the shared machine usable.
    """
    from threadpoolctl import threadpool_limits

    old = _torch_threads(1) if torch else None
    try:
        with threadpool_limits(limits=1):
            yield
    finally:
        if old is not None:
            _torch_threads(old)


def _worker_init(torch):
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1)
    if torch:
        _torch_threads(1)


def parallel_map(func, tasks, *, jobs=1, desc="", progress=True, torch=False):
    """``[func(t) for t in tasks]``, in order, on ``jobs`` processes, with a tqdm progress bar.

    ``func`` must be a module-level function and ``tasks`` picklable. Each task carries its own seed
    (see :func:`trial_seed`), so the results do not depend on ``jobs``. Workers are started with the
    ``spawn`` method (fork after torch has started threads can deadlock) and run single-threaded;
    ``torch=True`` limits torch's threads too (pass it when a task runs method ``"gd"``).
    """
    from tqdm.auto import tqdm

    tasks = list(tasks)
    bar = tqdm(total=len(tasks), desc=desc, disable=not progress, file=sys.stderr, smoothing=0.05)
    out = []
    try:
        if jobs == 1 or len(tasks) <= 1:
            with single_thread(torch):
                for t in tasks:
                    out.append(func(t))
                    bar.update()
        else:
            ctx = multiprocessing.get_context("spawn")
            with ProcessPoolExecutor(max_workers=jobs, mp_context=ctx, initializer=_worker_init,
                                     initargs=(torch,)) as ex:
                for r in ex.map(func, tasks, chunksize=1):
                    out.append(r)
                    bar.update()
    finally:
        bar.close()
    return out


# ---------------------------------------------------------------------------------------------- maths
def relative_error(z, z_true):
    """``||z - z*|| / ||z*||`` (``inf`` when z has NaN: no answer)."""
    z = np.asarray(z, dtype=float)
    if not np.all(np.isfinite(z)):
        return math.inf
    return float(np.linalg.norm(z - z_true) / np.linalg.norm(z_true))


def add_noise(x, level, kind, rng, *, scale="absolute"):
    """Return ``x + e``.

    kind ``"uniform"``: e_j ~ U[-1, 1] i.i.d.; ``"gaussian"``: e_j ~ N(0, 1) i.i.d. Then with
    ``scale="absolute"`` e is multiplied by ``level`` (so |e_j| <= level for uniform noise); with
    ``scale="relative"`` it is rescaled to ``||e||_2 = level * ||x||_2`` exactly.
    """
    if level == 0:
        return np.array(x, dtype=float, copy=True)
    e = rng.uniform(-1.0, 1.0, size=np.shape(x)) if kind == "uniform" else rng.standard_normal(np.shape(x))
    if scale == "relative":
        e *= level * np.linalg.norm(x) / np.linalg.norm(e)
    else:
        e *= level
    return x + e


# ---------------------------------------------------------------------------------------------- files
def out_dir(path):
    """Create (if needed) and return the output folder."""
    os.makedirs(path, exist_ok=True)
    return path


def _fmt(v):
    if isinstance(v, (bool, np.bool_)):
        return str(bool(v))
    if isinstance(v, (float, np.floating)):
        return repr(float(v))
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    return str(v)


def write_csv(path, rows, columns):
    """Write ``rows`` (dicts) with the given column order; floats at full precision (``repr``)."""
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(columns)
        for r in rows:
            missing = [c for c in columns if c not in r]
            if missing:
                raise KeyError(f"row {r!r} lacks column(s) {missing}")
            w.writerow([_fmt(r[c]) for c in columns])
    return path


def _parse(v):
    for conv in (int, float):
        try:
            return conv(v)
        except ValueError:
            pass
    if v in ("True", "False"):
        return v == "True"
    return v


def read_csv(path):
    """Read a file written by :func:`write_csv`: a list of dicts, numbers parsed back."""
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path} does not exist; run the experiment first (without --plot-only).")
    with open(path, newline="") as fh:
        return [{k: _parse(v) for k, v in row.items()} for row in csv.DictReader(fh)]


def write_json(path, obj):
    with open(path, "w") as fh:
        json.dump(obj, fh, indent=2, sort_keys=True, default=_json_default)
        fh.write("\n")
    return path


def _json_default(o):
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def read_json(path):
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path} does not exist; run the experiment first (without --plot-only).")
    with open(path) as fh:
        return json.load(fh)


def run_metadata(name, args, seconds=None, **extra):
    """What a run needs to be reproduced: the command line, the options, versions, the machine."""
    import numpy
    import scipy

    from .. import __version__

    opts = {k: v for k, v in vars(args).items() if k not in ("func",) and not callable(v)}
    meta = {"experiment": name, "options": opts, "argv": sys.argv, "layerinv": __version__,
            "numpy": numpy.__version__, "scipy": scipy.__version__, "python": platform.python_version(),
            "machine": platform.machine(), "processor": platform.processor(), "cpus": os.cpu_count(),
            "date": time.strftime("%Y-%m-%d %H:%M:%S")}
    try:
        import highspy

        meta["highspy"] = getattr(highspy, "__version__", "unknown")
    except ImportError:  # pragma: no cover
        pass
    if "torch" in sys.modules:
        meta["torch"] = sys.modules["torch"].__version__
    if seconds is not None:
        meta["seconds"] = seconds
    meta.update(extra)
    return meta
