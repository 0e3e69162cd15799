"""Convolutional generators (issue 12): every method against CSGM on a conv MNIST decoder and a DCGAN.

Nets (``--nets``):

* ``conv``: the MNIST conv decoder z(20) -> Linear -> 32x7x7 -> ConvTranspose2d(32, 16, 4, 2, 1) ->
  ConvTranspose2d(16, 1, 4, 2, 1) -> 28x28, ReLU after every layer: ``--decoder shipped`` (the
  default, :data:`DECODER`) loads ``load_mnist_generator("conv")`` (its torch module for CSGM from
  ``train_vae.to_sequential``); ``--decoder random`` builds the same architecture with seeded He weights.
* ``dcgan``: the PyTorch DCGAN tutorial's Generator (latent 100 -> 64x64x3, ngf 64, BatchNorm2d in
  eval mode, Tanh output) with the tutorial's random initialisation (conv weights N(0, 0.02),
  BatchNorm weights N(1, 0.02)), converted with ``ReLUNet.from_torch``.

Settings per net: ``clean`` (x = G(z*), z* ~ N(0, I)); on ``conv`` also Gaussian noise of variance
0.01 and 0.3 (x = G(z*) + e) and ``digits`` (x = the 100 held-out real MNIST digits, trial i = digit i).
Methods: layerinv's ``auto``, ``exact``, ``linf`` (``--lp-trials``), ``gd`` (``--gd-trials``), the
CSGM baseline ``csgm`` (Adam on ||G(z) - x||^2 through the torch module, float64, restarts run as one
batch; its lr is tuned ONCE per net on ``--tune-trials`` disjoint clean instances over ``--lr-grid``
by the median relative residual, and ``gd`` gets the same lr/steps/restarts) and the ``oracle`` that
knows z*'s activation pattern: G(z) = J z + c on that region, z = argmin ||J z + c - x||^2 (J built by
k batched products through the linearised layers; exact on noise-free x, first order for Tanh).

Per run: status; success ``||G(z) - x|| / ||x|| < 1e-6``; ``||z - z*|| / ||z*||``; pixel MSE against
the clean image (the real digit for ``digits``); wall seconds; peak memory (resident memory sampled
every 2 ms during the call minus its value at the start, after ``malloc_trim``; MiB); and the forward
check ``max |G(z*) - module(z*)|`` against torch.

Files: ``conv_trials.csv``, ``conv_summary.csv``, ``conv_table.md`` (with the issue's targets),
``conv.json`` (options, tuned lr and its grid), ``conv.png`` (drawn from the CSV).
"""
from __future__ import annotations

import os
import threading
import time

import numpy as np

from . import _args as A
from . import _common as C

DESCRIPTION = "conv MNIST decoder and DCGAN-size net: auto/exact/linf/gd vs CSGM and the pattern oracle"
#: The conv decoder used by default: "random" (seeded He weights) or "shipped" (load_mnist_generator("conv")).
DECODER = "shipped"
NETS = ("conv", "dcgan")
METHODS = ("auto", "exact", "linf", "gd", "csgm")
ALL_METHODS = METHODS + ("oracle",)
VARIANCES = (0.01, 0.3)
SETTINGS = ("clean",) + tuple(f"var={v:g}" for v in VARIANCES) + ("digits",)
LR_GRID = (0.003, 0.01, 0.03, 0.1)
SUCCESS = 1e-6
TRIAL_COLUMNS = ["net", "setting", "variance", "trial", "method", "status", "success", "residual", "z_err",
                 "pixel_mse", "seconds", "peak_mb", "forward_err"]
SUMMARY_COLUMNS = ["net", "setting", "method", "runs", "errors", "success_rate", "median_z_err", "median_residual",
                   "median_pixel_mse", "median_seconds", "max_seconds", "median_peak_mb", "max_peak_mb",
                   "max_forward_err"]
_CACHE = {}


# ---------------------------------------------------------------------------------------------- nets
def conv_module(latent=20, channels=(32, 16), side=7, seed=0):
    """The conv decoder as a float64 ``nn.Sequential`` with seeded He (kaiming normal) weights, zero biases."""
    import torch

    nn = torch.nn
    c1, c2 = channels
    gen = torch.Generator().manual_seed(int(seed))
    m = nn.Sequential(nn.Linear(latent, c1 * side * side), nn.ReLU(), nn.Unflatten(1, (c1, side, side)),
                      nn.ConvTranspose2d(c1, c2, 4, 2, 1), nn.ReLU(), nn.ConvTranspose2d(c2, 1, 4, 2, 1), nn.ReLU())
    m = m.double().eval()
    with torch.no_grad():
        for layer in m:
            if isinstance(layer, (nn.Linear, nn.ConvTranspose2d)):
                # fan-in: in_features, or in_channels * kernel^2 / stride^2 taps per output of a transposed conv
                conv = isinstance(layer, nn.ConvTranspose2d)
                fan_in = layer.weight.shape[0] * 4 if conv else layer.weight.shape[1]
                layer.weight.normal_(0.0, float(np.sqrt(2.0 / fan_in)), generator=gen)
                layer.bias.zero_()
    return m


def dcgan_module(nz=100, ngf=64, nc=3, seed=0):
    """The PyTorch DCGAN tutorial's Generator (its shapes; eval mode; float64) with its random init."""
    import torch

    nn = torch.nn

    class Generator(nn.Module):  # as written in the tutorial
        def __init__(self):
            super().__init__()
            self.main = nn.Sequential(
                nn.ConvTranspose2d(nz, ngf * 8, 4, 1, 0, bias=False), nn.BatchNorm2d(ngf * 8), nn.ReLU(True),
                nn.ConvTranspose2d(ngf * 8, ngf * 4, 4, 2, 1, bias=False), nn.BatchNorm2d(ngf * 4), nn.ReLU(True),
                nn.ConvTranspose2d(ngf * 4, ngf * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ngf * 2), nn.ReLU(True),
                nn.ConvTranspose2d(ngf * 2, ngf, 4, 2, 1, bias=False), nn.BatchNorm2d(ngf), nn.ReLU(True),
                nn.ConvTranspose2d(ngf, nc, 4, 2, 1, bias=False), nn.Tanh())

        def forward(self, x):
            return self.main(x)

    gen = torch.Generator().manual_seed(int(seed))
    m = Generator().double().eval()
    with torch.no_grad():
        for layer in m.modules():
            if isinstance(layer, nn.ConvTranspose2d):
                layer.weight.normal_(0.0, 0.02, generator=gen)
            elif isinstance(layer, nn.BatchNorm2d):
                layer.weight.normal_(1.0, 0.02, generator=gen)
                layer.bias.zero_()
    return m


def load(cfg, name):
    """``(module, G, module_input_shape)`` for net ``name`` under ``cfg`` (cached per process)."""
    key = (name, cfg["decoder"], cfg["seed"], tuple(cfg["sizes"][name]))
    if key not in _CACHE:
        from ..network import ReLUNet

        size = cfg["sizes"][name]
        if name == "dcgan":
            module, shape = dcgan_module(size[0], size[1], seed=cfg["seed"]), (size[0], 1, 1)
        elif cfg["decoder"] == "shipped":
            from ..datasets import load_mnist_generator
            from ..train_vae import conv_architecture, to_sequential

            G = load_mnist_generator("conv")
            _CACHE[key] = (to_sequential(G, conv_architecture()), G, (G.k,))
            return _CACHE[key]
        else:
            module, shape = conv_module(size[0], tuple(size[1:3]), size[3], seed=cfg["seed"]), (size[0],)
        _CACHE[key] = (module, ReLUNet.from_torch(module, input_shape=shape), shape)
    return _CACHE[key]


def torch_forward(module, shape, z):
    """``module(z)`` flattened, for latents ``z`` of shape (batch, k) as a numpy array (float64)."""
    import torch

    with torch.no_grad():
        return module(torch.as_tensor(np.atleast_2d(z)).reshape(-1, *shape)).reshape(len(np.atleast_2d(z)), -1).numpy()


# ---------------------------------------------------------------------------------------------- methods
def affine_at(G, z):
    """``(J, c)`` with ``G(z') = J z' + c`` on the activation region of ``z`` (first order for smooth
    activations): J by k batched products through the layers' maps times the activation derivatives."""
    h, D = np.asarray(z, dtype=float), np.eye(G.k)
    for L in G.layers:
        u = L.affine(h)
        D = L.linear.matvec(D) * L.activation.derivative(u)
        h = L.activation(u)
    J = D.T
    return J, h - J @ z


def oracle(G, x, z_star):
    """The pattern oracle: argmin_z ||J z + c - x|| with (J, c) the affine map of z*'s region."""
    J, c = affine_at(G, z_star)
    return np.linalg.lstsq(J, x - c, rcond=None)[0]


def csgm(module, shape, x, rng, *, lr, steps, restarts):
    """CSGM: Adam on ||module(z) - x||^2 from ``restarts`` starts z0 ~ N(0, I) run as one batch; the
    restart with the lowest final loss. Returns ``(z, status)``."""
    import torch

    from .._threads import one_torch_thread

    k = int(np.prod(shape))
    z = torch.tensor(rng.standard_normal((restarts, k)), dtype=torch.float64, requires_grad=True)
    target = torch.as_tensor(x, dtype=torch.float64)
    opt = torch.optim.Adam([z], lr=lr)

    def losses():
        return ((module(z.reshape(-1, *shape)).reshape(restarts, -1) - target) ** 2).sum(dim=1)

    with torch.enable_grad(), one_torch_thread(torch):
        for _ in range(steps):
            opt.zero_grad()
            losses().sum().backward()
            opt.step()
        with torch.no_grad():
            final = losses().numpy()
    if not np.any(np.isfinite(final)):
        return np.full(k, np.nan), "failed"
    return z.detach().numpy()[int(np.nanargmin(final))].copy(), "max_iter"


class PeakRSS:
    """Context manager: the peak resident memory above the value at entry, in MiB (sampled every 2 ms)."""

    def __enter__(self):
        try:  # hand freed heap pages back first, so that memory a call reuses shows up as growth
            import ctypes

            ctypes.CDLL("libc.so.6").malloc_trim(0)
        except (OSError, AttributeError):  # pragma: no cover - not glibc
            pass
        self.start = self.peak = self._rss()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()
        return self

    @staticmethod
    def _rss():
        try:
            with open("/proc/self/statm") as fh:
                return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        except (OSError, ValueError):  # pragma: no cover - not Linux: process-wide high-water mark
            import resource

            return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024

    def _watch(self):
        while not self._stop.wait(0.002):
            self.peak = max(self.peak, self._rss())

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._rss())
        self.mb = (self.peak - self.start) / 2 ** 20
        return False


def run_method(cfg, name, method, x, z_star, rng):
    """One method on one observation: ``(z, status, seconds, peak_mb)``; failures become statuses."""
    from .. import invert

    module, G, shape = load(cfg, name)
    lr, steps, restarts = cfg["lr"][name], cfg["steps"][name], cfg["restarts"][name]
    if method == "oracle":
        call, args, kw = oracle, (G, x, z_star), {}
    elif method == "csgm":
        call, args, kw = csgm, (module, shape, x, rng), {"lr": lr, "steps": steps, "restarts": restarts}
    else:
        call, args = invert, (G, x)
        kw = ({"rng": rng, "lr": lr, "steps": steps, "restarts": restarts} if method == "gd"
              else {"time_limit": cfg["time_limit"]})
        kw["method"] = method
    with PeakRSS() as mem:
        res, status, sec, _ = C.timed_call(call, *args, **kw)
    if method == "csgm" and res is not None:
        res, status = res
    z = getattr(res, "z", res)
    if status == "ok" and method == "oracle":
        status = "optimal"
    if z is None or np.shape(z) != (G.k,):
        z = np.full(G.k, np.nan)
    return z, status, sec, mem.mb


# ---------------------------------------------------------------------------------------------- trials
def settings(name):
    """The settings of net ``name``: ``[(setting, variance)]``."""
    if name == "dcgan":
        return [("clean", 0.0)]
    return [("clean", 0.0)] + [(f"var={v:g}", v) for v in VARIANCES] + [("digits", float("nan"))]


def _trial(task):
    cfg, n_index, s_index, trial = task
    name = NETS[n_index]
    setting, variance = settings(name)[s_index]
    module, G, shape = load(cfg, name)
    rng = C.trial_rng(cfg["seed"], n_index, s_index, trial)
    if setting == "digits":
        from ..datasets import load_mnist_test_digits

        clean = load_mnist_test_digits()[0][trial % 100]
        if clean.size != G.n:
            raise ValueError(f"the digits setting needs a 784-pixel decoder; this one has {G.n} outputs.")
        x, z_star, ferr = clean, None, float("nan")
    else:
        z_star = rng.standard_normal(G.k)
        clean = G(z_star)
        x = clean + np.sqrt(variance) * rng.standard_normal(G.n) if variance > 0 else clean
        ferr = float(np.max(np.abs(torch_forward(module, shape, z_star)[0] - clean))) if module is not None else 0.0
    rows = []
    cut = {"exact": cfg["lp_trials"], "linf": cfg["lp_trials"], "gd": cfg.get("gd_trials")}
    methods = [m for m in cfg["methods"] if cut.get(m) is None or trial < cut[m]]
    for method in list(methods) + ([] if z_star is None else ["oracle"]):
        rng = C.trial_rng(cfg["seed"], n_index, s_index, trial, 1 + ALL_METHODS.index(method))
        z, status, sec, mb = run_method(cfg, name, method, x, z_star, rng)
        finite = bool(np.all(np.isfinite(z)))
        gz = G(z) if finite else None
        resid = float(np.linalg.norm(gz - x) / np.linalg.norm(x)) if finite else float("inf")
        rows.append({"net": name, "setting": setting, "variance": variance, "trial": trial, "method": method,
                     "status": status, "success": resid < SUCCESS, "residual": resid,
                     "z_err": float("nan") if z_star is None else C.relative_error(z, z_star),
                     "pixel_mse": float(np.mean((gz - clean) ** 2)) if finite else float("inf"),
                     "seconds": sec, "peak_mb": mb, "forward_err": ferr})
    return rows


def tune_lr(cfg, name, n_index):
    """CSGM's lr: the grid value with the lowest median relative residual on ``cfg['tune_trials']``
    clean instances drawn from keys (net, 100, i), disjoint from every trial's. Returns (lr, scores)."""
    module, G, shape = load(cfg, name)
    scores = {}
    for lr in cfg["lr_grid"]:
        res = []
        for i in range(cfg["tune_trials"][name]):
            rng = C.trial_rng(cfg["seed"], n_index, 100, i)
            x = G(rng.standard_normal(G.k))
            z, _ = csgm(module, shape, x, rng, lr=lr, steps=cfg["steps"][name], restarts=cfg["restarts"][name])
            res.append(float(np.linalg.norm(G(z) - x) / np.linalg.norm(x)) if np.all(np.isfinite(z)) else np.inf)
        scores[repr(lr)] = float(np.median(res))
    best = min(cfg["lr_grid"], key=lambda lr: scores[repr(lr)])
    return best, scores


# ---------------------------------------------------------------------------------------------- summary
def _order(key):
    net, setting, method = key
    names = [s for s, _ in settings(net)]
    return NETS.index(net), names.index(setting), ALL_METHODS.index(method)


def summarize(rows):
    out = C.summarize(rows, ("net", "setting", "method"), _order, count="runs", errors="errors",
                      success_rate="mean:success", median_z_err="median:z_err", median_residual="median:residual",
                      median_pixel_mse="median:pixel_mse", median_seconds="median:seconds",
                      max_seconds="mean:seconds", median_peak_mb="median:peak_mb", max_peak_mb="mean:peak_mb",
                      max_forward_err="mean:forward_err")
    for rec in out:  # true maxima (summarize has no max statistic)
        rs = [r for r in rows if (r["net"], r["setting"], r["method"]) == (rec["net"], rec["setting"], rec["method"])]
        rec["max_seconds"] = max(r["seconds"] for r in rs)
        rec["max_peak_mb"] = max(r["peak_mb"] for r in rs)
        rec["max_forward_err"] = max(r["forward_err"] for r in rs)
    return out


def _get(summary, net, setting, method, col):
    for r in summary:
        if (r["net"], r["setting"], r["method"]) == (net, setting, method):
            return r[col]
    return float("nan")


def _yes(cond):
    return "**met**" if cond else "**not met**"


def targets(summary):
    """The issue's targets as markdown lines, read off the summary rows."""
    lines = []
    g = lambda *a: _get(summary, *a)  # noqa: E731
    if any(r["net"] == "conv" for r in summary):
        a, c, n = g("conv", "clean", "auto", "success_rate"), g("conv", "clean", "csgm", "success_rate"), \
            g("conv", "clean", "auto", "runs")
        lines.append(f"- conv, x = G(z*): auto reproduces x on {a:.0%} of {n} (CSGM {c:.0%}); target >= 95% of 100: "
                     f"{_yes(a >= 0.95 and n >= 100)}")
        for v in VARIANCES:
            s = f"var={v:g}"
            au, orc, cs = g("conv", s, "auto", "median_z_err"), g("conv", s, "oracle", "median_z_err"), \
                g("conv", s, "csgm", "median_z_err")
            lines.append(f"- conv, noise variance {v:g}: median z-error auto {au:.3g}, oracle {orc:.3g} "
                         f"(ratio {au / orc:.2f}), CSGM {cs:.3g}; target ratio <= 1.3 and auto <= CSGM: "
                         f"{_yes(au <= 1.3 * orc and au <= cs)}")
        am, cm = g("conv", "digits", "auto", "median_pixel_mse"), g("conv", "digits", "csgm", "median_pixel_mse")
        at, ct = g("conv", "digits", "auto", "median_seconds"), g("conv", "digits", "csgm", "median_seconds")
        lines.append(f"- real digits: median pixel MSE auto {am:.4g}, CSGM {cm:.4g}; seconds auto {at:.3g}, CSGM "
                     f"{ct:.3g} ({ct / at:.2g}x); target MSE <= CSGM's at >= 5x its speed: "
                     f"{_yes(am <= cm and ct >= 5 * at)}")
    if any(r["net"] == "dcgan" for r in summary):
        fe = max(r["max_forward_err"] for r in summary if r["net"] == "dcgan")
        done = {m: g("dcgan", "clean", m, "errors") == 0 and g("dcgan", "clean", m, "runs") > 0
                for m in ("auto", "gd")}
        lines.append(f"- DCGAN: forward matches torch to {fe:.1e}; auto and gd complete on every instance: "
                     f"{_yes(fe < 1e-10 and all(done.values()))} (auto {'yes' if done['auto'] else 'no'}, "
                     f"gd {'yes' if done['gd'] else 'no'}); seconds and MiB per image in the table")
    return lines


def table(summary):
    head = ("| net | setting | method | runs | errors | success | median z-err | median pixel MSE | median s | "
            "max s | median MiB | max MiB |\n|---|---|---|---|---|---|---|---|---|---|---|---|\n")
    body = "".join(f"| {r['net']} | {r['setting']} | {r['method']} | {r['runs']} | {r['errors']} | "
                   f"{r['success_rate']:.0%} | {r['median_z_err']:.3g} | {r['median_pixel_mse']:.3g} | "
                   f"{r['median_seconds']:.3g} | {r['max_seconds']:.3g} | {r['median_peak_mb']:.3g} | "
                   f"{r['max_peak_mb']:.3g} |\n" for r in summary)
    return head + body + "\nTargets (issue 12):\n\n" + "\n".join(targets(summary)) + "\n"


# ---------------------------------------------------------------------------------------------- command
def add_arguments(parser):
    g = A.add_common_arguments(parser, trials=100, out="results/conv")
    g.add_argument("--nets", type=A.choice_list(NETS), default=list(NETS), help="subset of conv,dcgan (default both)")
    g.add_argument("--methods", type=A.choice_list(METHODS), default=list(METHODS),
                   help=f"subset of {','.join(METHODS)} (default all; the oracle always runs)")
    g.add_argument("--settings", type=A.choice_list(SETTINGS), default=list(SETTINGS),
                   help="subset of clean,var=0.01,var=0.3,digits (default all; the DCGAN net has clean only)")
    g.add_argument("--decoder", choices=("random", "shipped"), default=None,
                   help=f"conv decoder: random (seeded He weights) or shipped (load_mnist_generator('conv')); "
                        f"default {DECODER}; random (tiny) with --quick")
    g.add_argument("--dcgan-trials", type=A.positive_int, default=None,
                   help="instances on the DCGAN net (default: --trials)")
    g.add_argument("--lr-grid", type=A.float_list, default=list(LR_GRID),
                   help="CSGM lr candidates, tuned once per net (default 0.003,0.01,0.03,0.1)")
    g.add_argument("--tune-trials", type=A.positive_int, default=None,
                   help="disjoint clean instances for the lr tuning (default 3; 1 with --quick)")
    g.add_argument("--dcgan-tune-trials", type=A.positive_int, default=None,
                   help="tuning instances on the DCGAN net (default --tune-trials)")
    g.add_argument("--lp-trials", type=A.positive_int, default=None,
                   help="run exact and linf on the first N trials of each setting only (default: all)")
    g.add_argument("--gd-trials", type=A.positive_int, default=None,
                   help="run gd on the first N trials of each setting only (default: all)")
    g.add_argument("--steps", type=A.positive_int, default=None, help="Adam steps for csgm and gd (default 1000; "
                                                                      "50 with --quick)")
    g.add_argument("--restarts", type=A.positive_int, default=4, help="csgm and gd random starts (default 4)")
    g.add_argument("--dcgan-steps", type=A.positive_int, default=None,
                   help="Adam steps on the DCGAN net (default --steps; one step of 4 restarts costs ~1 s there)")
    g.add_argument("--dcgan-restarts", type=A.positive_int, default=None,
                   help="csgm and gd random starts on the DCGAN net (default --restarts)")
    g.add_argument("--time-limit", type=A.positive_float, default=600.0,
                   help="seconds per call of auto/exact/linf (default 600)")


def run(args):
    """Run the experiment; return the files written (CSV, JSON, table, then the figure)."""
    out = C.out_dir(args.out)
    if args.plot_only:
        return plot(out)
    sizes = ({"conv": [4, 2, 1, 7], "dcgan": [8, 2]} if args.quick
             else {"conv": [20, 32, 16, 7], "dcgan": [100, 64]})
    decoder = A.pick(args.decoder, args.quick, DECODER, "random")
    if decoder == "shipped":
        sizes["conv"] = [20, 32, 16, 7]  # the shipped decoder's own sizes (also with --quick)
    steps, tune = A.pick(args.steps, args.quick, 1000, 50), A.pick(args.tune_trials, args.quick, 3, 1)
    cfg = {"nets": list(args.nets), "methods": list(args.methods), "decoder": decoder, "seed": args.seed,
           "sizes": sizes, "lr_grid": list(args.lr_grid), "lp_trials": args.lp_trials,
           "gd_trials": args.gd_trials, "settings": list(args.settings),
           "tune_trials": {"conv": tune, "dcgan": args.dcgan_tune_trials or tune},
           "steps": {"conv": steps, "dcgan": args.dcgan_steps or steps},
           "restarts": {"conv": args.restarts, "dcgan": args.dcgan_restarts or args.restarts},
           "time_limit": args.time_limit, "success_tol": SUCCESS, "variances": list(VARIANCES), "lr": {},
           "lr_scores": {}}
    trials = 2 if args.quick else args.trials
    dtrials = 1 if args.quick else (args.dcgan_trials or args.trials)
    if "conv" in cfg["nets"] and trials > 100:
        raise ValueError(f"--trials must be <= 100 with the conv net (there are 100 held-out digits); got {trials}.")
    t0 = time.perf_counter()
    for name in cfg["nets"]:
        cfg["lr"][name], cfg["lr_scores"][name] = tune_lr(cfg, name, NETS.index(name))
    cfg["tune_seconds"] = time.perf_counter() - t0
    tasks = [(cfg, NETS.index(n), s, t) for n in cfg["nets"] for s, (name, _) in enumerate(settings(n))
             if name in cfg["settings"] for t in range(dtrials if n == "dcgan" else trials)]
    return C.execute(args, "conv", _trial, tasks, cfg, summarize,
                     (TRIAL_COLUMNS, SUMMARY_COLUMNS), plot, table=table)


def plot(out_dir):
    from .. import plotting as P

    plt = P.pyplot()
    rows = C.read_csv(os.path.join(out_dir, "conv_trials.csv"))
    summary = C.read_csv(os.path.join(out_dir, "conv_summary.csv"))
    nets = [n for n in NETS if any(r["net"] == n for r in rows)]
    fig, axes = plt.subplots(2, 3, figsize=(15, 7.6))
    axes = axes.ravel()
    width = 0.8 / max(len(nets), 1)
    ms = [m for m in ALL_METHODS if any(r["method"] == m for r in summary)]
    def bars(ax, col, title, ylabel, log=False):  # one bar per method and net on the clean setting
        for j, net in enumerate(nets):
            vals = [_get(summary, net, "clean", m, col) for m in ms]
            ax.bar(np.arange(len(ms)) + j * width, np.maximum(vals, 1e-3) if log else vals, width, label=net)
        ax.set_xticks(np.arange(len(ms)) + width * (len(nets) - 1) / 2, ms)
        ax.set_title(title)
        ax.set_ylabel(ylabel)
        if log:
            ax.set_yscale("log")
        ax.legend()

    bars(axes[0], "success_rate", "x = G(z*): ||G(z) - x|| / ||x|| < 1e-6", "success rate")
    axes[0].set_ylim(0, 1.05)
    for ax, v in zip(axes[1:3], VARIANCES):  # denoising z-errors on the conv net
        s = f"var={v:g}"
        ms = [m for m in ALL_METHODS if any(r["setting"] == s and r["method"] == m for r in rows)]
        data = [[r["z_err"] for r in rows if r["setting"] == s and r["method"] == m and np.isfinite(r["z_err"])]
                or [np.nan] for m in ms]
        if ms:
            ax.boxplot(data)
            ax.set_xticks(range(1, len(ms) + 1), ms)
            ax.set_yscale("log")
        ax.set_title(f"conv decoder, noise variance {v:g}")
        ax.set_ylabel("||z - z*|| / ||z*||")
    ax = axes[3]  # real digits: pixel MSE against seconds per image
    for r in summary:
        if r["setting"] == "digits" and np.isfinite(r["median_pixel_mse"]):
            ax.scatter(r["median_seconds"], r["median_pixel_mse"])
            ax.annotate(r["method"], (r["median_seconds"], r["median_pixel_mse"]))
    ax.set_xscale("log")
    ax.set_xlabel("median seconds per image")
    ax.set_ylabel("median pixel MSE")
    ax.set_title("held-out real digits (conv decoder)")
    bars(axes[4], "median_seconds", "x = G(z*): seconds per image (median)", "seconds", log=True)
    bars(axes[5], "median_peak_mb", "x = G(z*): peak memory per image (median)", "MiB above the start", log=True)
    fig.tight_layout()
    return [P.save(fig, os.path.join(out_dir, "conv.png"), dpi=110)]
