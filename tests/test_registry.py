"""The solver registry: one option spec per solver drives validation, defaults and the docstrings."""
import numpy as np
import pytest

import layerinv
from layerinv import ReLUNet, invert, recover
from layerinv.ops import GaussianCS, Identity, Inpainting, PhaseRetrieval
from layerinv.recover import methods_for
from layerinv.solvers import SOLVERS, Option, get_solver, names_for


def test_every_solver_declares_valid_options():
    assert list(SOLVERS) == ["exact", "linf", "l1", "gn", "pgd", "gd", "milp", "auto"]
    G = ReLUNet.random([3, 10, 20], rng=0)
    for s in SOLVERS.values():
        specs = [s.options] + [spec for _, spec in s.recover_options]
        for spec in specs:
            names = [o.name for o in spec]
            assert len(names) == len(set(names)), s.name
            for o in spec:
                assert o.doc and o.rule()
                if not o.required and o.default is not None:  # a default passes its own check
                    assert o.check(o.default, "test", G) == o.default


def test_one_meaning_per_option_name():
    """An option name has one type everywhere (tol, steps, time_limit ... mean one thing)."""
    kinds = {}
    for s in SOLVERS.values():
        for spec in [s.options] + [spec for _, spec in s.recover_options]:
            for o in spec:
                kinds.setdefault(o.name, set()).add(o.type.rstrip("s") if o.type.startswith("latent") else o.type)
    assert all(len(k) == 1 for k in kinds.values()), kinds
    assert "max_iter" not in kinds and "iters" not in kinds


def test_docstrings_list_every_option():
    for s in SOLVERS.values():
        if s.invert is not None:
            assert all(f"``{o.name}``" in invert.__doc__ for o in s.options), s.name
        for _, spec in s.recover_options or [(None, s.options)]:
            if s.recover is not None:
                assert all(f"``{o.name}``" in recover.__doc__ for o in spec), s.name


def test_validate_fills_defaults_and_cleans():
    clean = SOLVERS["exact"].validate({"tol": 1e-3, "time_limit": 2}, "here")
    assert clean == {"tol": 1e-3, "time_limit": 2.0} and isinstance(clean["time_limit"], float)
    clean = SOLVERS["auto"].validate({"lam": "auto", "starts": 3}, "here")
    assert clean["lam"] == "auto" and clean["starts"] == 3 and clean["polish"] is True
    assert SOLVERS["auto"].validate({}, "here")["starts"] == 8
    with pytest.raises(ValueError, match=r"The 'starts' option of here must be an integer >= 1; got 0"):
        SOLVERS["auto"].validate({"starts": 0}, "here")
    with pytest.raises(ValueError, match=r"The 'lam' option of here must be a finite real number >= 0 and <= 1e\+150, or 'auto'"):
        SOLVERS["auto"].validate({"lam": "big"}, "here")
    with pytest.raises(ValueError, match="eps is a noise budget"):
        SOLVERS["milp"].validate({"eps": 0.1}, "here")


def test_unknown_names_list_the_valid_ones():
    with pytest.raises(TypeError, match=r"here got unknown option\(s\) 'x'; valid options are: time_limit, tol\."):
        SOLVERS["exact"].validate({"x": 1}, "here")
    with pytest.raises(ValueError, match=r"method must be one of 'exact', 'linf', 'l1', 'gd', 'milp', 'auto'; got 'gn'"):
        get_solver("gn")
    with pytest.raises(ValueError, match=r"method \(for PhaseRetrieval\) must be one of 'gn', 'gd', 'auto'"):
        get_solver("pgd", op=PhaseRetrieval(3, 10, 0))


def test_names_and_options_per_operator():
    assert names_for() == names_for(Identity(10)) == ["exact", "linf", "l1", "gd", "milp", "auto"]
    assert names_for(Inpainting.random(10, 0.5, 0)) == ["exact", "linf", "l1", "gn", "pgd", "gd", "auto"]
    cs = GaussianCS(3, 10, 0)
    assert methods_for(cs)["auto"] == methods_for(cs)["gn"]
    assert {"tol", "eps", "gap_tol"} <= methods_for(Inpainting.random(10, 0.5, 0))["auto"]
    assert methods_for(Identity(10)) == {n: {o.name for o in SOLVERS[n].options} for n in names_for()}


def test_option_type_must_be_known():
    with pytest.raises(ValueError, match="Option type"):
        Option("x", "complex", 0, "doc")


def test_auto_runs_the_exact_pass_once_before_the_ladder(monkeypatch):
    """An underdetermined net: exact is inconclusive, the ladder reuses that pass."""
    import importlib

    from layerinv.solvers import auto, layerwise as lw_module

    ladder_module = importlib.import_module("layerinv.solvers.milp.ladder")

    calls = []
    real = lw_module.layerwise

    def counting(G, x, mode, **kw):
        calls.append((G.dims, mode))
        return real(G, x, mode, **kw)

    monkeypatch.setattr(auto, "layerwise", counting)
    monkeypatch.setattr(ladder_module, "layerwise", counting)
    for seed in range(20):
        G = ReLUNet.random([4, 6, 8], rng=seed)
        x = G(np.random.default_rng(seed).standard_normal(4))
        calls.clear()
        res = invert(G, x)
        if any(step[0] == "milp" for step in res.info.get("steps", [])):
            break
    else:
        pytest.skip("no inconclusive case among the seeds")
    assert [c for c in calls if c == (G.dims, "exact")] == [(G.dims, "exact")]


def test_import_loads_no_torch():
    import subprocess
    import sys

    code = "import sys, layerinv, layerinv.solvers; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
    assert layerinv.invert is invert


def test_time_limit_covers_the_whole_call():
    G = ReLUNet.random([10, 100, 300], rng=0)
    x = G(np.random.default_rng(1).standard_normal(10)) + 0.05 * np.random.default_rng(2).standard_normal(300)
    res = invert(G, x, "linf", time_limit=1e-9)
    assert res.status == "time_limit" and "spent before layer 0" in res.message and np.all(np.isnan(res.z))
