"""HiGHS's proof that no z in the box meets the target, as a :class:`layerinv.Certificate`."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ...certificate import Certificate

__all__ = ["MILPProof"]


@dataclass
class MILPProof(Certificate):
    """HiGHS's proof that no ``z`` in ``[-box, box]^k`` meets the target (``kind="milp"``: a
    description, not a certificate layerinv re-derives: branch and bound in floating point is
    HiGHS's word, so ``independent`` is False).

    ``check(G, x)`` solves the same MILP again and returns True when HiGHS again proves it
    infeasible; unlike the ``"range"`` and ``"dual"`` certificates, this is not an independent check.

    Attributes
    ----------
    box : float
        The proof covers ``z`` in ``[-box, box]^k`` only.
    k : int
    objective : str
        ``"exact"`` (``max |G(z) - x| <= delta``) or ``"linf"`` / ``"l1"`` (norm ``<= eps``).
    delta : float
        The absolute tolerance (exact) or budget eps the proof is about.
    nodes : int
        Branch-and-bound nodes HiGHS explored.
    binaries : int
        Binary variables of the MILP (unstable units).
    stage : str
        ``"mip"`` (branch and bound) or ``"relaxation"`` (an LP relaxation was already infeasible).
    G, x
        The network and the observation the proof is about (``check`` re-solves these).
    options : dict
        The options of the solve (box, tolerances, ``rows``), to re-run it.
    reason : str
        After a failed :meth:`check`: why.
    """

    box: float
    k: int
    objective: str
    delta: float
    nodes: int
    binaries: int
    stage: str
    G: object = field(repr=False)
    x: np.ndarray = field(repr=False)
    options: dict = field(default_factory=dict, repr=False)  # invert_milp's clean options and rows
    reason: str = ""
    kind = "milp"
    layer = 0
    independent = False

    def describe(self):
        what = ("max |G(z) - x| <= %.3g" % self.delta if self.objective == "exact"
                else "||G(z) - x||_%s <= %.3g" % ("inf" if self.objective == "linf" else "1", self.delta))
        how = (f"its MIP solver (presolve and branch and bound: {self.nodes} nodes, {self.binaries} binaries)"
               if self.stage == "mip" else "an infeasible LP relaxation")
        return (f"HiGHS proved by {how} that no z in [−R, R]^k (R = {self.box:.4g}, k = {self.k}) has {what}; "
                f"this is HiGHS's word, not re-checked by layerinv.")

    def check(self, G=None, x=None):
        """Re-solve the MILP (HiGHS again); True when it is again proved infeasible."""
        from .solve import milp_invert

        G = self.G if G is None else G
        x = self.x if x is None else x
        try:
            res = milp_invert(G, x, **self.options)
        except (TypeError, ValueError) as exc:
            self.reason = str(exc)
            return False
        self.reason = "" if res.status == "infeasible" else f"HiGHS now says {res.status!r}: {res.message}"
        return res.status == "infeasible"
