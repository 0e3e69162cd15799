"""Figure helpers for the experiments. matplotlib is imported lazily, with the Agg backend.

Every function here draws from plain arrays (read back from an experiment's CSV); none runs an
experiment.
"""
from __future__ import annotations

import numpy as np

__all__ = ["pyplot", "save", "METHOD_STYLE", "success_curves", "scatter_with_medians", "rate_axes",
           "success_figure"]

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
    """The method's entry of :data:`METHOD_STYLE` (just a label for others)."""
    return METHOD_STYLE.get(method, dict(label=method))


def save(fig, path, dpi=150):
    """Write ``fig`` to ``path`` (PNG, ``dpi``) and close it; return the path."""
    plt = pyplot()
    fig.savefig(path, dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    return path


def success_curves(ax, ks, rates, method, trials=None, style_=None):
    """One method's success rate against k, with a binomial standard-error band when ``trials`` given.

    ks : array (m,); rates : array (m,) in [0, 1]; trials : array (m,) of run counts; ``style_``:
    the line's colour, marker and label (default :data:`METHOD_STYLE`).
    """
    ks, rates = np.asarray(ks, float), np.asarray(rates, float)
    st = style_ or style(method)
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


def rate_axes(ax, xlabel, ylabel, title):
    """Finish an axes of success rates in [0, 1]: labels, limits, grid, legend outside on the right."""
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_ylim(-0.03, 1.03)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ax.set_title(title, fontsize=8)


def success_figure(rows, methods, styles, x):
    """A figure with one success-rate curve (and band) per method against summary column ``x``.

    rows : summary rows with ``method``, ``x``, ``success_rate`` and ``trials``; styles : method ->
    colour, marker and label. Returns ``(fig, ax)``.
    """
    fig, ax = pyplot().subplots(figsize=(6.5, 4.2))
    for method in methods:
        rs = sorted((r for r in rows if r["method"] == method), key=lambda r: r[x])
        if rs:
            success_curves(ax, [r[x] for r in rs], [r["success_rate"] for r in rs], method,
                           [r["trials"] for r in rs], styles[method])
    return fig, ax
