"""The one result type returned by every inversion and recovery method."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .lp.solution import LAYER_STATUSES as _LP_LAYER_STATUSES

__all__ = ["Result", "LayerRecord", "STATUSES", "LAYER_STATUSES"]

#: Every status a :class:`Result` can carry, with its meaning.
STATUSES = {
    "exact": "z reproduces x within the stated tolerance (max |G(z) - x| <= tol max|x|, checked end to end "
             "by a forward pass).",
    "optimal": "every layer's noise-model problem was solved to optimality (or to a certified bracket "
               "narrower than the stated gap) and verified by us.",
    "feasible": "a z meeting the stated noise budget eps at every layer was found and verified.",
    "infeasible": "no z (in the region the certificate states) has ||G(z) - x||_inf within the tolerance or "
                  "budget, end to end; Result.certificate proves it (Certificate.check re-verifies that claim).",
    "inconclusive": "the method neither found a z meeting its claim nor proved that none exists (e.g. a layer "
                    "whose input was not unique, a per-layer proof that does not cover the error the layers "
                    "above allow, or per-layer optima that do not compose); no claim about x.",
    "approximate": "z was found by an approximate formulation (e.g. the MILP's first-order model of a sigmoid / "
                   "tanh output); the residual is recomputed, but z is not certified optimal.",
    "max_iter": "an iterative method (gd, gn, pgd, auto's Gauss-Newton) used its whole step budget.",
    "converged": "an iterative method (gd, gn, pgd, or auto's Gauss-Newton) stopped because its "
                 "objective stopped decreasing: a local minimum of the fit, not a certified optimum.",
    "time_limit": "a solver ran out of time; z is the best point found, if any.",
    "failed": "a solver failed or its answer did not pass our checks; see message.",
}
_OK = {"exact", "optimal", "feasible", "max_iter", "converged", "approximate"}

#: Every status a :class:`LayerRecord` can carry, with its meaning. The layer-wise methods (exact,
#: linf, l1) give one record per layer with a status of the layer's solve (:mod:`layerinv.lp`); the
#: whole-network methods give one record for the whole network (``index`` 0, ``n_in = k``,
#: ``n_out = n``): gd, gn and pgd with ``"converged"`` / ``"max_iter"`` (pgd also ``"time_limit"``),
#: milp with its result's status.
LAYER_STATUSES = {
    **_LP_LAYER_STATUSES,
    "converged": "(gd, gn, pgd: the whole network) the iteration stopped because the objective stopped "
                 "decreasing: a local minimum, not a certified optimum.",
    "max_iter": "(gd, gn, pgd: the whole network) the iteration used its whole step budget.",
}


@dataclass
class LayerRecord:
    """How one layer was inverted.

    Attributes
    ----------
    index : int
        Layer index, 0 = first layer (the one fed by z).
    n_in, n_out : int
        The layer's input and output sizes.
    active : int
        Rows used as equations (active units of the target).
    path : str
        ``"lstsq"`` (Cholesky least squares), ``"lp"`` (interior point, then HiGHS), or the
        whole-network method: ``"gd"``, ``"gn"``, ``"pgd"``, ``"milp"``.
    objective : float or tuple
        The layer problem's value at the returned input h, recomputed by us (t for ℓ∞, Σe for ℓ1, the
        largest violation for exact): the solver's primal value, an upper bound on the layer's optimum
        that may exceed it by the solver's accuracy; a tuple ``(lower, upper)`` when the answer is a
        certified bracket. For leaky_relu / sigmoid / tanh rows the value is in the linearised model
        (see :attr:`lower`), not in output units. The certified lower bound is :attr:`lower`.
    violation : float
        The largest violation of the layer's own constraints at the returned point, recomputed by us.
    status : str
        The layer's outcome, one of :data:`LAYER_STATUSES` (``"exact"``, ``"optimal"``,
        ``"bracket"``, ``"feasible"``, ``"infeasible"``, ``"time_limit"``, ``"failed"``; for the
        whole-network methods also ``"converged"`` and ``"max_iter"``).
    unique : bool
        Whether the equation rows pin the layer's input (full column rank).
    seconds : float
    message : str
    threshold : float
        Rows whose target exceeded this were equations (ReLU layers); NaN where not used. For the
        top layer of ``linf`` (no ``eps``), ``min(lower, threshold)`` (just ``lower`` where the
        threshold is NaN) is a certified lower bound on ``min_z ||G(z) - x||_inf`` for every output
        activation (see :attr:`lower` for leaky_relu, sigmoid and tanh outputs), for the z whose
        top-layer input lies in the region the layer's dual bound covers (its radius is in ``message``
        where the solver states it).
    bound : float
        (layer-wise methods) the certified lower bound that :attr:`lower` returns; NaN where the
        record has none of its own (then :attr:`lower` falls back to the objective, see there).
    """

    index: int
    n_in: int
    n_out: int
    active: int
    path: str
    objective: object
    violation: float
    status: str
    unique: bool
    seconds: float
    message: str = ""
    threshold: float = float("nan")
    bound: float = float("nan")

    @property
    def lower(self):
        """A certified lower bound on the layer's optimum, in the layer's OUTPUT units.

        For the layer-wise methods (exact, linf, l1) it is :attr:`bound`: the dual bound the layer's
        solve verified (rounding bounded; never the primal objective, which may overshoot the
        optimum by the solver's accuracy), valid for layer inputs ``h`` with ``||h||_inf`` within
        the bound's radius; 0 where the solve has no bound. ``objective`` is the layer problem's
        value at the returned h. For ReLU and identity rows the layer problem is measured in output
        units. For leaky_relu, sigmoid and tanh rows it is a LINEARISED model (each row scaled by
        the activation's slope at the target, :meth:`~layerinv.activations.Activation.equation_rows`),
        whose t / Σe is not a distance in output space: for leaky_relu with slope s, ``bound`` is the
        LP's dual bound times ``min(1, s) / max(1, s)`` (leaky_relu's slopes lie in that ratio of the
        row scales, so every output residual is at least that fraction of the linearised one); for
        sigmoid and tanh ``bound`` is 0 (no output-space claim). Elsewhere (gd, gn, pgd, milp, and
        records built without a bound) ``lower`` is the bracket's lower end, or the objective itself,
        which for the iterative methods is the loss at z, not a bound."""
        if not np.isnan(self.bound):
            return self.bound
        return self.objective[0] if isinstance(self.objective, tuple) else self.objective

    def __repr__(self):
        obj = (f"[{self.objective[0]:.3g}, {self.objective[1]:.3g}]" if isinstance(self.objective, tuple)
               else f"{self.objective:.3g}")
        return (f"LayerRecord(layer {self.index}: {self.n_in}->{self.n_out}, active={self.active}, "
                f"path={self.path!r}, status={self.status!r}, objective={obj}, violation={self.violation:.2g})")


@dataclass
class Result:
    """Outcome of :func:`layerinv.invert` or :func:`layerinv.recover`.

    For a single observation the fields are scalars and ``z`` has shape (k,); for a batch of B
    observations ``z`` has shape (B, k), ``status``/``message``/``method`` are lists, ``ok``,
    ``residual`` and ``seconds`` arrays, ``layers`` and ``certificate`` lists with one entry per
    observation, and ``result[i]`` gives observation i's own ``Result``.

    Attributes
    ----------
    z : ndarray
        The latent found (NaN where none was found).
    status : str
        One of :data:`STATUSES`.
    ok : bool
        True when the status is ``"exact"``, ``"optimal"``, ``"feasible"``, ``"max_iter"``,
        ``"converged"`` or ``"approximate"`` AND z is finite AND the recomputed residual is finite
        (residuals are computed after scaling, so they do not overflow). What each status then
        promises is in :data:`STATUSES`; in particular ``"exact"`` means ``max |G(z) - x| <= tol max|x|``
        end to end, checked by a forward pass, and a layer-wise ``"optimal"`` never hides a
        composition that a lower layer could not reproduce (that is ``"inconclusive"``).
    message : str
        A human explanation; raw solver status text goes here, never into ``status``.
    residual : float
        ``||G(z) - x||_2 / ||x||_2``, recomputed by a forward pass (for ``recover``: in y-space,
        ``||A(G(z)) - y|| / ||y||``).
    seconds : float
        Wall-clock time of the whole call.
    layers : list of LayerRecord
        Top layer first.
    method : str
        The method that produced ``z`` (for ``"auto"``, the one that ran last).
    certificate : Certificate or None
        For status ``"infeasible"``: a proof that anybody can re-check with ``certificate.check(G, x)``.
    info : dict
        Method-specific extras (for ``gd``: final loss, steps, restarts; for ``auto``: the steps tried).
    """

    z: np.ndarray
    status: object
    message: object
    residual: object
    seconds: object
    layers: list = field(default_factory=list)
    method: object = ""
    certificate: object = None
    info: dict = field(default_factory=dict)

    @property
    def ok(self):
        if self.batched:
            return np.array([self[i].ok for i in range(len(self))])
        return bool(self.status in _OK and np.all(np.isfinite(self.z)) and np.isfinite(self.residual))

    @property
    def batched(self):
        return np.ndim(self.z) == 2

    def __len__(self):
        if not self.batched:
            raise TypeError("a single Result has no len(); only a batched Result does.")
        return len(self.z)

    def __getitem__(self, i):
        if not self.batched:
            raise TypeError("only a batched Result can be indexed.")
        return Result(self.z[i], self.status[i], self.message[i], self.residual[i], self.seconds[i],
                      self.layers[i], self.method[i], self.certificate[i], self.info.get("items", [{}] * len(self))[i])

    @classmethod
    def stack(cls, results):
        """Combine single results into one batched result."""
        return cls(np.stack([r.z for r in results]), [r.status for r in results],
                   [r.message for r in results], np.array([r.residual for r in results]),
                   np.array([r.seconds for r in results]), [r.layers for r in results],
                   [r.method for r in results], [r.certificate for r in results],
                   {"items": [r.info for r in results]})

    def summary(self):
        """A few human-readable lines."""
        if self.batched:
            st, n = np.unique(self.status, return_counts=True)
            counts = ", ".join(f"{s}: {c}" for s, c in zip(st, n))
            return (f"{len(self)} observations ({counts}); median residual {np.median(self.residual):.3g}, "
                    f"median {np.median(self.seconds) * 1e3:.3g} ms each")
        lines = [f"status: {self.status} ({self.method}), residual {self.residual:.3g}, "
                 f"{self.seconds * 1e3:.3g} ms", f"  {self.message}"]
        lines += [f"  {rec!r}" for rec in self.layers]
        return "\n".join(lines)

    def __repr__(self):
        if self.batched:
            return f"Result(batch of {len(self)}: {self.summary()})"
        return (f"Result(status={self.status!r}, method={self.method!r}, residual={self.residual:.3g}, "
                f"seconds={self.seconds:.3g}, message={self.message!r})")
