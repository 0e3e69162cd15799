"""Mutation testing of layerinv's core, one module group at a time (mutmut 3; not part of CI).

    python tools/mutate.py GROUP [--children N] [--sync-only]   # GROUP from [tool.layerinv.mutation]
    python tools/mutate.py GROUP --sample N [--seed S]           # a uniform random sample of N mutants
    python tools/mutate.py GROUP --report                        # counts, survivors, score of the last run
    python tools/mutate.py GROUP --by-hand NAME [NAME ...]       # re-run mutants with pytest, no mutmut clock
    python tools/mutate.py --list

Shared mutmut settings live in ``[tool.mutmut]`` of pyproject.toml; each group in
``[tool.layerinv.mutation.<group>]`` names the files to mutate (``only_mutate``) and the fast test subset
that can kill them (``tests``: pytest arguments). The working tree is copied to ``.mutation/<group>/``
(git-ignored; mutmut's cache lives there, so a re-run only re-tests what changed), the group's settings
are appended to the copy's ``[tool.mutmut]``, and ``mutmut run`` runs there under ``nice -n 10``.
Afterwards: ``cd .mutation/<group> && mutmut results`` (survivors), ``mutmut show <name>`` (a diff),
``mutmut export-cicd-stats`` (counts). See docs/testing.md.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def groups():
    data = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))
    return data["tool"]["layerinv"]["mutation"]


def sync(dest):
    """Copy the working tree (tracked and untracked, not ignored files) into ``dest``."""
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT, check=True,
                           capture_output=True).stdout.decode().split("\0")
    for rel in filter(None, files):
        src, dst = ROOT / rel, dest / rel
        if not src.is_file():
            continue
        if dst.exists() and dst.stat().st_mtime >= src.stat().st_mtime and dst.stat().st_size == src.stat().st_size:
            continue
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, dst)


def configure(dest, group):
    text = (ROOT / "pyproject.toml").read_text("utf-8")
    assert text.rstrip().splitlines()[-1].strip() and "[tool.mutmut]" in text
    # [tool.mutmut] must be the last table of pyproject.toml: the group's keys are appended to it
    last = text.rfind("\n[")
    assert text[last:].lstrip().startswith("[tool.mutmut]"), "[tool.mutmut] must be the last table"
    extra = (f"only_mutate = {group['only_mutate']!r}\n"
             f"pytest_add_cli_args_test_selection = {group['tests']!r}\n").replace("'", '"')
    head, table = text[:last], text[last:].rstrip()
    for key in ("timeout_multiplier", "timeout_constant"):  # a group's own CPU-time limit overrides the shared one
        if key in group:
            lines = [ln for ln in table.splitlines() if not ln.strip().startswith(key)]
            table = "\n".join(lines)
            extra += f"{key} = {float(group[key])!r}\n"
    (dest / "pyproject.toml").write_text(head + table + "\n" + extra, "utf-8")


GENERATE = """
import os
from mutmut.__main__ import create_mutants, set_mutant_under_test
from mutmut.utils.file_utils import copy_src_dir, copy_also_copy_files, setup_source_paths
set_mutant_under_test("mutant_generation")
os.makedirs("mutants", exist_ok=True)
copy_src_dir(); copy_also_copy_files(); setup_source_paths()
create_mutants(1)
"""


def mutant_names(dest, group):
    """Generate the group's mutants in ``dest`` (no tests run) and return their names, sorted."""
    subprocess.run([sys.executable, "-c", GENERATE], cwd=dest, check=True, capture_output=True)
    names = []
    for pattern in group["only_mutate"]:
        for meta in sorted((dest / "mutants").glob(pattern + ".meta")):
            names += json.loads(meta.read_text("utf-8"))["exit_code_by_key"]
    return sorted(names)


def sample(dest, group, n, seed):
    """A uniform random sample of ``n`` of the group's mutant names (``random.Random(seed).sample``
    over the sorted names); written to ``dest/sample.txt``."""
    names = mutant_names(dest, group)
    picked = sorted(random.Random(seed).sample(names, min(n, len(names))))
    (dest / "sample.txt").write_text("\n".join(picked) + "\n", "utf-8")
    print(f"sampled {len(picked)} of {len(names)} mutants (seed {seed}); list in {dest / 'sample.txt'}")
    return picked


STATUS = {1: "killed", 3: "killed", 0: "survived", 5: "no tests", 33: "no tests", 34: "skipped", 36: "timeout",
          -24: "timeout", 24: "timeout", 152: "timeout", 255: "timeout", -11: "segfault", -9: "segfault",
          None: "not run"}  # mutmut.stats.status_by_exit_code


def wilson(k, n, z=1.96):
    """The 95% Wilson score interval of a proportion k / n."""
    if n == 0:
        return 0.0, 1.0
    p = k / n
    mid, half = p + z * z / (2 * n), z * (p * (1 - p) / n + z * z / (4 * n * n)) ** 0.5
    return (mid - half) / (1 + z * z / n), (mid + half) / (1 + z * z / n)


def report(dest, group):
    """Counts of the last sample's (or every) mutant by mutmut status, the names of those not killed,
    and killed / decided with its 95% Wilson interval (decided = killed + survived + no tests)."""
    codes = {}
    for pattern in group["only_mutate"]:
        for meta in (dest / "mutants").glob(pattern + ".meta"):
            codes.update(json.loads(meta.read_text("utf-8"))["exit_code_by_key"])
    listed = dest / "sample.txt"
    names = listed.read_text("utf-8").split() if listed.exists() else sorted(codes)
    by = {}
    for n in names:
        by.setdefault(STATUS.get(codes.get(n), "suspicious"), []).append(n)
    print(f"{len(names)} mutants ({'sample.txt' if listed.exists() else 'all'} of {len(codes)}): "
          + ", ".join(f"{k} {len(v)}" for k, v in sorted(by.items())))
    for k in sorted(by):
        if k != "killed":
            print(f"{k}:\n  " + "\n  ".join(by[k]))
    killed = len(by.get("killed", []))
    decided = killed + len(by.get("survived", [])) + len(by.get("no tests", []))
    lo, hi = wilson(killed, decided)
    print(f"killed / decided = {killed}/{decided}" + (f" = {killed / decided:.1%} (95% CI {lo:.1%}-{hi:.1%})"
                                                        if decided else ""))


def by_hand(dest, group, names, limit, tests=None):
    """Re-run mutants without mutmut's clock (its wall limit turns slow survivors into timeouts on a loaded
    machine): ``MUTANT_UNDER_TEST=NAME pytest -x`` in ``dest/mutants`` on the tests mutmut maps to the mutated
    function (the group's whole subset when it maps none), ``limit`` seconds each."""
    mapped = json.loads((dest / "mutants" / "mutmut-stats.json").read_text("utf-8"))["tests_by_mangled_function_name"]
    for name in names:
        run = tests or sorted(mapped.get(name.rsplit("__mutmut_", 1)[0], [])) or list(group["tests"])
        env = dict(os.environ, MUTANT_UNDER_TEST=name, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
        try:
            r = subprocess.run(["nice", "-n", "15", sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider",
                                *run], cwd=dest / "mutants", env=env, capture_output=True, text=True, timeout=limit)
            verdict = {0: "survived", 1: "killed"}.get(r.returncode, f"pytest exit {r.returncode}")
        except subprocess.TimeoutExpired:
            verdict = f"timeout ({limit} s)"
        print(f"{verdict:10s} {name} ({' '.join(run) if tests else f'{len(run)} tests'})", flush=True)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("group", nargs="?")
    p.add_argument("--list", action="store_true")
    p.add_argument("--children", type=int, default=1, help="parallel mutant workers (default 1)")
    p.add_argument("--nice", type=int, default=10, help="niceness of the run (default 10)")
    p.add_argument("--sync-only", action="store_true", help="prepare .mutation/GROUP, do not run")
    p.add_argument("--sample", type=int, help="run a uniform random sample of this many mutants")
    p.add_argument("--by-hand", action="store_true", help="re-run the named mutants with pytest directly")
    p.add_argument("--tests", help="--by-hand: pytest arguments to run instead of the mapped tests (one string)")
    p.add_argument("--limit", type=float, default=600.0, help="--by-hand: seconds per mutant (default 600)")
    p.add_argument("--report", action="store_true", help="summarise the last run (its sample), run nothing")
    p.add_argument("--seed", type=int, default=0, help="seed of --sample (default 0)")
    p.add_argument("mutants", nargs="*", help="mutant names or globs to (re-)run (default: all of the group)")
    a = p.parse_intermixed_args(argv)
    g = groups()
    if a.list or a.group is None:
        for name, spec in g.items():
            print(f"{name:12s} mutate {', '.join(spec['only_mutate'])}\n{'':12s} tests  {' '.join(spec['tests'])}")
        return 0
    if a.group not in g:
        p.error(f"GROUP must be one of {', '.join(g)}; got {a.group!r}")
    dest = ROOT / ".mutation" / a.group
    if a.report:
        report(dest, g[a.group])
        return 0
    if a.by_hand and a.sample is None:  # the named mutants of the last run: no new sync
        by_hand(dest, g[a.group], a.mutants, a.limit, a.tests.split() if a.tests else None)
        return 0
    dest.mkdir(parents=True, exist_ok=True)
    sync(dest)
    configure(dest, g[a.group])
    if a.sync_only:
        return 0
    names = list(a.mutants)
    if a.sample is not None:
        names = sample(dest, g[a.group], a.sample, a.seed)
    if a.by_hand:
        by_hand(dest, g[a.group], names, a.limit, a.tests.split() if a.tests else None)
        return 0
    mutmut = Path(sys.executable).with_name("mutmut")
    cmd = ["nice", "-n", str(a.nice), str(mutmut), "run", "--max-children", str(a.children), *names]
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    return subprocess.call(cmd, cwd=dest, env=env)


if __name__ == "__main__":
    sys.exit(main())
