"""The user-facing model: ``nmlcell.load(path)`` → :class:`Model`."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ._config import setup_jax
from .errors import ModelImportError, OptionError, UnsupportedError

DEFAULT_SOLVER = "lems_euler"  # jNeuroML's scheme: same answers as the reference on LEMS files


def load(path, *, duration=None, dt=None, strict=True) -> "Model":
    """Import a LEMS simulation file or a NeuroML2 ``.nml`` file; an SWC or
    Neurolucida ``.asc`` morphology gives a passive :class:`~nmlcell.Cell`
    (NEURON's defaults: ``pas`` with g 0.001 S/cm2 and e -70 mV, cm 1
    uF/cm2, Ra 35.4 ohm cm, nseg by the d_lambda rule).

    ``duration``/``dt`` (ms) are needed only for a file without a
    ``<Simulation>``. With ``strict`` (default) a model using constructs
    nmlcell cannot lower yet raises :class:`UnsupportedError` listing all
    of them at once."""
    p = Path(path)
    if not p.exists():
        raise ModelImportError("file not found", file=str(path))
    suffix = p.suffix.lower()
    if suffix in (".swc", ".asc"):
        from .cell import Cell

        cell = Cell(p, nseg="d_lambda", cm=1.0, Ra=35.4, v_init=-70.0)
        cell.insert("pas", g=0.001, e=-70.0)
        return cell
    if suffix not in (".xml", ".nml", ".lems"):
        raise ModelImportError(f"unknown model file type '{p.suffix}' (expected a LEMS .xml, a "
                               f"NeuroML .nml, or an .swc/.asc morphology)", file=str(path))
    from .importers.lems import import_lems

    ir = import_lems(p, duration=duration, dt=dt)
    if strict and ir.unsupported:
        raise UnsupportedError(list(ir.unsupported), file=str(path))
    # a multi-compartment cell runs with NEURON's fixed step and the tree solve,
    # as jNeuroML's NEURON export does (jNeuroML's own interpreter refuses it)
    cable = getattr(ir.network, "cable", None) is not None
    return Model(ir, default_solver="staggered" if cable else DEFAULT_SOLVER)


class Model:
    """An imported model, ready to run with any registered solver."""

    merge_synapses = True
    """Merge a network's linear synapses into one instance per (post cell,
    synapse component) under every solver but ``lems_euler``
    (:mod:`nmlcell.passes.merge_synapses`); False keeps one per connection."""

    def __init__(self, ir, default_solver: str = DEFAULT_SOLVER):
        setup_jax()
        self.ir = ir
        self._solver = default_solver
        self._params = None
        self._variants = {}
        # lowered on first use, for the solver then chosen: a model run with
        # a solver other than the default is lowered once, not twice

    def _variant(self, lems_exact: bool):
        if lems_exact not in self._variants:
            from .lower.system import LoweredModel

            ir = self.ir
            if not lems_exact and self.merge_synapses:  # linear synapses summed per post cell (exact)
                from .passes.merge_synapses import merge_model

                ir = merge_model(ir)
            self._variants[lems_exact] = LoweredModel(ir, lems_exact=lems_exact)
        return self._variants[lems_exact]

    def _lowered_for(self, integ):
        """The lowered system a solver needs (jNeuroML emulation keeps
        step-delayed copies of some states as extra columns)."""
        return self._variant(bool(getattr(integ.step, "lems_exact", False)))

    @property
    def lowered(self):
        """The lowered system for the current solver."""
        from .quad.registry import get_integrator

        return self._lowered_for(get_integrator(self._solver))

    # -- solver -------------------------------------------------------------------
    @property
    def solver(self) -> str:
        return self._solver

    @solver.setter
    def solver(self, name):
        from .quad.registry import get_integrator

        integ = get_integrator(name)
        integ.check(self._lowered_for(integ))
        self._solver = integ.name

    # -- parameters ------------------------------------------------------------------
    def parameters(self):
        """Pytree of every numeric parameter: {population: {LEMS path: (N,)
        array}, '__global__': {'temperature': K}}, in internal units
        (mV, ms, nA, µS, nF, µm, mM)."""
        return self._parameters_of(self.lowered)

    def _parameters_of(self, lowered):
        # per lowered variant: merged synapses (passes/merge_synapses) change the groups' sizes
        if self._params is None or self._params[0] is not lowered:
            self._params = (lowered, lowered.parameters())
        return self._params[1]

    def rebind(self, ir, values) -> None:
        """Adopt the parameter values of ``ir``, a model of the same
        structure as this one's (the same groups, kernels, links, events
        and cable: :mod:`nmlcell.model_cache` checks it). ``values``:
        {group: {parameter: (N,) array}} of the current solver's lowered
        system. Its kernels and compiled runs are kept; the default
        parameters become ``values`` (and ``ir``'s temperature); other
        solvers' systems are lowered again from ``ir`` when next used."""
        lowered = self.lowered
        mechs = {g.id: g.mechanism for g in ir.network.groups}
        for gid, vals in values.items():
            lowered.groups[gid].params0 = dict(vals)
            lowered.groups[gid].mech = mechs[gid]
        lowered.temperature = ir.network.temperature
        lowered.ir = ir
        self._variants = {k: v for k, v in self._variants.items() if v is lowered}
        self.ir = ir
        self._params = None

    # -- recording --------------------------------------------------------------------
    def default_record(self) -> list[str]:
        sim = self.ir.simulation
        qs = []
        if sim is not None:
            for o in sim.outputs:
                qs += [c.quantity for c in o.columns]
            for d in sim.displays:
                qs += [l.quantity for l in d.lines]
        ncells = sum(g.size for g in self.lowered.groups.values() if g.mech.kind == "cell")
        if ncells <= 100:
            for gid, g in self.lowered.groups.items():
                if g.mech.kind == "cell" and "v" in g.mech.exposures:
                    qs += [f"{gid}[{i}]/v" for i in range(g.size)]
        seen, out = set(), []
        for q in qs:
            if q not in seen:
                seen.add(q)
                out.append(q)
        return out

    # -- running ------------------------------------------------------------------------
    def run(self, duration=None, dt=None, *, record=None, solver=None, params=None, progress=None,
            precision="float64", seed=None):
        """Simulate. ``duration``, ``dt`` in ms (defaults from <Simulation>);
        ``seed`` replaces the ``<Simulation seed>`` of random spike sources.
        Returns :class:`~nmlcell.results.Results`."""
        from .quad.registry import get_integrator
        from .results import Results
        from .run import simulate

        sim = self.ir.simulation
        duration = float(duration if duration is not None else sim.duration)
        dt = float(dt if dt is not None else sim.dt)
        if precision not in ("float32", "float64"):
            raise OptionError(f"precision must be float32 or float64 (got {precision})", element="precision")
        integ = get_integrator(solver or self._solver)
        lowered = self._lowered_for(integ)
        integ.check(lowered)
        record = list(record) if record is not None else self.default_record()
        params = params if params is not None else self._parameters_of(lowered)
        if seed is not None:
            params = {**params, "__global__": {**params["__global__"], "seed": np.asarray(float(int(seed)))}}
        out = simulate(lowered, integ, duration=duration, dt=dt, record=record, params=params,
                       dtype=precision, progress=progress)
        from .importers.nmodl_selfev import check_final

        check_final(lowered, out["final"])   # a point process's self-event not kept exactly
        from .importers.nmodl_verbatim import check_final as check_errors

        check_errors(lowered, out["final"])   # a hoc_execerror branch taken during the run
        spikes = {}
        off = 0
        for gid, n in out["layout"]:
            mat = out["spikes"][:, off:off + n]
            for i in range(n):
                idx = np.nonzero(mat[:, i])[0]
                spikes[f"{gid}[{i}]"] = out["t"][idx + 1]
            off += n
        return Results(t=out["t"], quantities=record, records=out["records"], dims=out["dims"], spikes=spikes,
                       model_ir=self.ir, solver=integ.name, dt=dt, precision=precision, wall=out["wall"],
                       source_dir=str(Path(self.ir.file).parent))

    def simulator(self, duration=None, dt=None, record=None, solver=None):
        """A pure function ``params -> {quantity: trace}`` (internal units),
        for ``jax.jit``, ``jax.grad`` and ``jax.vmap``."""
        from .quad.registry import get_integrator
        from .run import make_simulator

        sim = self.ir.simulation
        duration = float(duration if duration is not None else sim.duration)
        dt = float(dt if dt is not None else sim.dt)
        integ = get_integrator(solver or self._solver)
        lowered = self._lowered_for(integ)
        integ.check(lowered)
        record = list(record) if record is not None else self.default_record()
        return make_simulator(lowered, integ, duration=duration, dt=dt, record=record)

    # -- description -----------------------------------------------------------------------
    @property
    def n_cells(self) -> int:
        cable = getattr(self.ir.network, "cable", None)
        if cable is not None:
            # one tree: further cells hang off the first root through an open
            # (>= 1e300 MOhm) connection
            return 1 + sum(1 for r in cable.ri[1:] if r >= 1e299)
        return sum(g.size for g in self.lowered.groups.values() if g.mech.kind == "cell")

    @property
    def n_states(self) -> int:
        return sum(g.size * len(g.mech.states) for g in self.lowered.groups.values())

    @property
    def n_compartments(self) -> int:
        cable = getattr(self.ir.network, "cable", None)
        if cable is not None:
            return sum(1 for a in cable.area if a > 0)
        return self.n_cells

    def info(self) -> str:
        from .info import describe

        return describe(self)
