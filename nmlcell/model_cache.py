"""Lowered models reused across the runs of an :class:`nmlcell.Network`
or :class:`nmlcell.Cell`.

Each run builds the model's IR again (cheap: tens of ms, no kernel is
generated) and compares its *structure* with the models already lowered:
the IR with every parameter value zeroed (:func:`skeleton`), plus the
values the lowering inlines into kernels (constants and exponents,
:func:`nmlcell.lower.system._static_params`). The structure decides the
kernels, the state layout, the event buffer (delays included), the
cable matrix and hence the compiled program; the parameter values are
arguments of that program. Same structure: the lowered model and its
compiled runs are kept and the new values are fed in
(:meth:`nmlcell.model.Model.rebind`); another structure: a new model is
lowered (the last :data:`KEEP` structures are kept, so toggling between
two is cheap). Since the decision is taken on the IR itself, a change
made by any means (a method, an attribute, a NetCon's weight) is seen by
the next run: the cache cannot serve a stale model.
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np

KEEP = 4


def shape(m):
    """Mechanism ``m`` without its parameter values."""
    return replace(m, parameters=tuple(replace(p, value=0.0, description="") for p in m.parameters))


def skeleton(ir):
    """``ir`` without its parameter values and temperature (the values a
    lowered model takes as arguments), with the inlined ones kept."""
    from .lower.system import _static_params

    net = ir.network
    groups = tuple(replace(g, mechanism=shape(g.mechanism),
                           overrides=tuple(sorted(_static_params(g.mechanism, g.overrides).items())))
                   for g in net.groups)
    return replace(ir, network=replace(net, groups=groups, temperature=0.0))


def values(lowered, ir) -> dict | None:
    """{group: {parameter: (N,) float64 array}} of ``ir`` laid out as
    ``lowered``'s parameters (:func:`~nmlcell.lower.system.param_arrays`,
    as LoweredModel.__init__ lays them out), or None when its
    groups are not ``lowered``'s (merged synapses)."""
    from .lower.system import param_arrays

    out = {}
    groups = ir.network.groups
    if [(g.id, g.size) for g in groups] != [(gid, lg.size) for gid, lg in lowered.groups.items()]:
        return None
    for g in groups:
        out[g.id] = param_arrays(g, lowered.groups[g.id].params0)
    return out


def _same_values(lowered, vals, temperature) -> bool:
    if lowered.temperature != temperature:
        return False
    return all(np.array_equal(lowered.groups[gid].params0[k], a, equal_nan=True)
               for gid, d in vals.items() for k, a in d.items())


class ModelCache:
    """The lowered models of one Network or Cell, by structure."""

    def __init__(self):
        self._entries: list = []  # [(skeleton, Model)], most recent first
        self.built = 0            # models lowered (for tests and benchmarks)
        self.rebound = 0          # runs that fed new values into a kept model

    def model(self, ir, make, solver: str | None = None):
        """The model for ``ir``: a kept one of the same structure with
        ``ir``'s values, or ``make(ir)`` (then kept)."""
        sk = skeleton(ir)
        for k, (s, m) in enumerate(self._entries):
            if s != sk:
                continue
            if solver is not None:
                m.solver = solver
            lw = m.lowered
            if m.ir is ir:
                pass
            elif not lw.lems_exact and m.merge_synapses and _merges(ir):
                continue  # its groups follow values: not ours to patch
            else:
                vals = values(lw, ir)
                if vals is None:
                    continue
                if not _same_values(lw, vals, ir.network.temperature):
                    m.rebind(ir, vals)
                    self.rebound += 1
                else:
                    m.ir = ir
            self._entries.insert(0, self._entries.pop(k))
            return m
        m = make(ir)
        if solver is not None:
            m.solver = solver
        self.built += 1
        self._entries.insert(0, (sk, m))
        del self._entries[KEEP:]
        return m


def _merges(ir) -> bool:
    from .passes.merge_synapses import merge_model

    return merge_model(ir) is not ir
