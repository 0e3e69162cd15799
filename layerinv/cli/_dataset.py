"""Flags of dataset runs (``--jobs``, ``--batch-size``, ``--scheduler``), shared by invert and compress."""
from __future__ import annotations

__all__ = ["add_dataset_arguments", "dataset_options"]


def add_dataset_arguments(p):
    g = p.add_argument_group("dataset runs", "x of shape (N, n): read memory-mapped, run in chunks, each finished "
                                             "chunk checkpointed beside the output; a re-run resumes.")
    g.add_argument("--jobs", type=int, default=None, help="worker processes (-1: all cores; default 1)")
    g.add_argument("--batch-size", dest="batch_size", type=int, default=None,
                   help="images per chunk and checkpoint (default 256)")
    g.add_argument("--scheduler", default=None,
                   help="address of a Dask scheduler (tcp://host:8786): the chunks run on its workers")


def dataset_options(args):
    """``run_dataset`` keywords from the flags (checked)."""
    from ..batch import check_parallel

    n_jobs, batch_size = check_parallel(args.jobs, args.batch_size)
    return {"n_jobs": n_jobs, "batch_size": batch_size, "scheduler": args.scheduler}
