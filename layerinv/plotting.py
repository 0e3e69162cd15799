"""Figure helpers for the experiments. matplotlib is imported lazily, with the Agg backend.

Every function here draws from plain arrays (read back from an experiment's CSV); none runs an
experiment.
"""
from __future__ import annotations

import numpy as np

__all__ = ["pyplot", "save", "METHOD_STYLE", "success_curves", "scatter_with_medians"]

#: Colour, marker and label of each method, shared by every figure.
METHOD_STYLE = {
    "exact": dict(color="tab:green", marker="s", label="exact (layer-wise)"),
    "linf": dict(color="tab:blue", marker="o", label=r"$\ell_\infty$ LP (layer-wise)"),
    "l1": dict(color="tab:orange", marker="^", label=r"$\ell_1$ LP (layer-wise)"),
    "gd": dict(color="tab:red", marker="x", label="GD (Adam)"),
    "auto": dict(color="tab:purple", marker="d", label="auto"),
}


def pyplot():
    """``matplotlib.pyplot`` on the non-interactive Agg backend (imported on first use)."""
    try:
        import matplotlib
    except ImportError:  # pragma: no cover
        raise ImportError("figures need matplotlib: pip install 'layerinv[plot]'") from None
    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def style(method):
    return METHOD_STYLE.get(method, dict(label=method))


def save(fig, path):
    """Write ``fig`` to ``path`` (PNG, 150 dpi) and close it; return the path."""
    plt = pyplot()
    fig.savefig(path, dpi=150, bbox_inches="tight")
    plt.close(fig)
    return path


def success_curves(ax, ks, rates, method, trials=None):
    """One method's success rate against k, with a binomial standard-error band when ``trials`` given.

    ks : array (m,); rates : array (m,) in [0, 1]; trials : array (m,) of run counts.
    """
    ks, rates = np.asarray(ks, float), np.asarray(rates, float)
    st = style(method)
    ax.plot(ks, rates, linestyle="-", markersize=5, **st)
    if trials is not None:
        se = np.sqrt(np.clip(rates * (1 - rates), 0, None) / np.asarray(trials, float))
        ax.fill_between(ks, np.clip(rates - 2 * se, 0, 1), np.clip(rates + 2 * se, 0, 1),
                        color=st.get("color"), alpha=0.12, linewidth=0)


def scatter_with_medians(ax, levels, values, method, *, jitter=0.06, rng=0):
    """One dot per run at (noise level, value) on log-log axes, and a line through the medians.

    levels, values : arrays (m,), one entry per run. Dots are spread horizontally by a factor
    ``10**U(-jitter, jitter)`` so that runs at one level do not hide each other (drawing only).
    """
    levels, values = np.asarray(levels, float), np.asarray(values, float)
    st = style(method)
    spread = 10 ** np.random.default_rng(rng).uniform(-jitter, jitter, size=levels.shape)
    ok = np.isfinite(values) & (values > 0)
    ax.scatter(levels[ok] * spread[ok], values[ok], s=6, alpha=0.3, color=st.get("color"), marker="o",
               linewidths=0)
    u = np.unique(levels)
    med = np.array([np.median(values[levels == v]) for v in u])
    ax.plot(u, med, linestyle="-", markersize=6, **st)
    ax.set_xscale("log")
    ax.set_yscale("log")
