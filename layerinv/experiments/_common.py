"""The skeleton every experiment shares: seeding, running trials, summaries, files.

An experiment's ``run(args)`` is: ``if args.plot_only: return plot(out)``; build a config;
``rows, seconds = run_trials(args, _trial, tasks, ...)``; ``write_results(...)`` (trials CSV,
summary CSV, JSON with the options and versions); ``plot(out)`` from those files. Its options are
declared with :mod:`._args`. Nothing here imports torch or matplotlib at module level.
"""
from __future__ import annotations

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

__all__ = ["trial_rng", "trial_seed", "parallel_map", "single_thread", "run_trials", "timed_call", "groups",
           "error_count", "summarize", "write_csv", "read_csv", "write_json", "read_json", "write_results", "execute", "read_results",
           "out_dir", "check_out_dir", "relative_error", "run_metadata", "add_noise"]


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


def run_trials(args, trial, tasks, *, desc, methods=()):
    """``trial`` over ``tasks`` with :func:`parallel_map` (``--jobs``, ``--quiet``; torch threads
    limited when ``"gd"`` is among ``methods``); returns (the trials' rows flattened, seconds)."""
    t0 = time.perf_counter()
    results = parallel_map(trial, tasks, jobs=args.jobs, desc=desc, progress=not args.quiet, torch="gd" in methods)
    return [r for rs in results for r in rs], time.perf_counter() - t0


def timed_call(func, *args, **kwargs):
    """``func(*args, **kwargs)`` timed: ``(result, status, wall_seconds, cpu_seconds)``.

    ``status`` is ``result.status`` (``"ok"`` for a result without one); an exception gives ``result = None`` and status
    ``'error: <type>: <message>'`` (recorded in the CSV and counted as a failure, never hidden).
    """
    c0 = time.process_time()
    t0 = time.perf_counter()
    try:
        res = func(*args, **kwargs)
        status = getattr(res, "status", "ok")
    except Exception as exc:  # recorded and counted, never hidden
        res, status = None, f"error: {type(exc).__name__}: {exc}".replace("\n", " ")
    return res, status, time.perf_counter() - t0, time.process_time() - c0


def groups(rows, fields, order=None):
    """``[(key, rows with that key)]`` for the distinct values of ``fields`` (a tuple of column
    names), sorted by ``order(key)`` (default: the key itself)."""
    def key_of(r):
        return tuple(r[f] for f in fields)
    keys = sorted({key_of(r) for r in rows}, key=order)
    return [(k, [r for r in rows if key_of(r) == k]) for k in keys]


def error_count(rows):
    """How many runs raised (status ``'error: ...'``)."""
    return sum(str(r["status"]).startswith("error") for r in rows)


_STATS = {"mean": np.mean, "median": np.median, "q25": lambda v: np.quantile(v, 0.25),
          "q75": lambda v: np.quantile(v, 0.75),
          "sem": lambda v: np.std(v, ddof=1) / math.sqrt(len(v)) if len(v) > 1 else 0.0}


def summarize(rows, fields, order=None, count="trials", **stats):
    """One summary row per group of ``rows`` (see :func:`groups`): the ``fields``, ``count`` (the
    group's size), and each ``name="stat:column"`` with stat one of mean, median, q25, q75, sem
    (standard error of the mean), first (the first row's value), or ``name="errors"`` (:func:`error_count`)."""
    out = []
    for key, rs in groups(rows, fields, order):
        rec = dict(zip(fields, key))
        rec[count] = len(rs)
        for name, spec in stats.items():
            if spec == "errors":
                rec[name] = error_count(rs)
                continue
            stat, col = spec.split(":")
            rec[name] = rs[0][col] if stat == "first" else float(_STATS[stat]([r[col] for r in rs]))
        out.append(rec)
    return out


# ---------------------------------------------------------------------------------------------- maths
def planted(seed, key, k, widths, activation="relu", noise=0.0):
    """The planted instance ``(G, z_star, x)`` drawn from ``trial_rng(seed, *key)``:
    ``G = ReLUNet.random([k] + widths, activation=activation)``, ``z_star ~ N(0, I_k)`` and
    ``x = G(z_star)`` plus ``U[-noise, noise]`` noise when ``noise > 0``."""
    from .. import ReLUNet

    rng = trial_rng(seed, *key)
    G = ReLUNet.random([k] + list(widths), rng, activation=activation)
    z = rng.standard_normal(k)
    x = add_noise(G(z), noise, "uniform", rng) if noise > 0 else G(z)
    return G, z, x


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
def check_out_dir(path):
    """``ValueError`` when the output folder ``path`` names an existing file (checked before a run)."""
    if os.path.exists(path) and not os.path.isdir(path):
        raise ValueError(f"--out {path!r} is an existing file; it must name a folder (created if missing).")
    return path


def out_dir(path):
    """Create (if needed) and return the output folder; ``ValueError`` when ``path`` is an existing
    file or cannot be created."""
    check_out_dir(path)
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as exc:
        raise ValueError(f"--out folder {path!r} cannot be created ({type(exc).__name__}: "
                         f"{exc.strerror or exc}).") from None
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


def write_results(args, name, stem, rows, trial_columns, summary, summary_columns, seconds, *, table=None,
                  **meta):
    """Write ``<stem>_trials.csv``, ``<stem>_summary.csv``, ``<stem>_table.md`` (when ``table`` is
    given) and ``<stem>.json`` (:func:`run_metadata` with ``meta``); return the paths in that order."""
    files = [write_csv(stem + "_trials.csv", rows, trial_columns),
             write_csv(stem + "_summary.csv", summary, summary_columns)]
    if table is not None:
        with open(stem + "_table.md", "w") as fh:
            fh.write(table)
        files.append(stem + "_table.md")
    files.append(write_json(stem + ".json", run_metadata(name, args, seconds, **meta)))
    return files


def execute(args, name, trial, tasks, cfg, summarize, columns, plot, *, stem=None, table=None, **meta):
    """The end of an experiment's ``run``: the trials (:func:`run_trials`), the files
    (:func:`write_results`: ``summarize(rows)``, ``table(summary)`` when given, ``config=cfg`` and
    ``meta`` in the JSON), then ``plot(args.out)``. ``columns`` = (trial columns, summary columns);
    ``stem`` defaults to ``name`` with ``-`` -> ``_``. Returns every file written."""
    rows, seconds = run_trials(args, trial, tasks, desc=name, methods=cfg.get("methods", ()))
    summary = summarize(rows)
    stem = os.path.join(args.out, stem or name.replace("-", "_"))
    files = write_results(args, name, stem, rows, columns[0], summary, columns[1], seconds,
                          table=None if table is None else table(summary), config=cfg, **meta)
    return files + plot(args.out)


def read_results(stem, which="summary"):
    """``(rows of <stem>_<which>.csv, the config in <stem>.json)``: what a figure is drawn from."""
    return read_csv(f"{stem}_{which}.csv"), read_json(stem + ".json")["config"]


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
