"""A NEURON-style Python API: build a cell from ``.mod`` mechanisms.

    mechs = nmlcell.load_mod("path/to/mods")
    cell = nmlcell.Cell.soma(L=20.0, diam=20.0, cm=1.0, Ra=100.0)
    cell.insert("hh")
    cell.insert(mechs["CaDynamics_E2"], gamma=0.0005)
    cell.add(nmlcell.IClamp(delay=5.0, dur=100.0, amp=0.1))
    cell.record("v"); cell.record("cai"); cell.record("m_hh")
    cell.solver = "staggered"
    res = cell.run(duration=200.0, dt=0.025, celsius=6.3)

Names are NEURON's (``m_hh``, ``gnabar_hh``, ``ina``, ``cai``,
``IClamp[0].i``); values in NEURON's units. The cell is lowered like any
imported model, so every registered solver, ``cell.simulator`` (for
``jax.grad``/``jax.vmap``) and ``cell.parameters()`` work on it.
"""
from __future__ import annotations

from pathlib import Path

from .errors import ModelImportError, OptionError
from .ir.mechanism import Mechanism

DEFAULT_SOLVER = "staggered"


def load_mod(path) -> dict[str, Mechanism]:
    """Import a ``.mod`` file or every ``.mod`` file of a folder: a mapping
    mechanism name (SUFFIX or POINT_PROCESS) -> Mechanism. Constructs that
    cannot be lowered are all reported at once (UnsupportedError)."""
    from .importers.nmodl import load_mod_file, load_mod_folder

    p = Path(path)
    if not p.exists():
        raise ModelImportError("file or folder not found", file=str(path))
    if p.is_dir():
        return load_mod_folder(p)
    m = load_mod_file(p)
    return {m.name: m}


class PointProcess:
    """A point process to ``cell.add``: a mechanism and its parameter values."""

    def __init__(self, mech, **params):
        self.mech = mech
        self.params = dict(params)

    def __repr__(self):
        name = self.mech if isinstance(self.mech, str) else self.mech.name
        return f"{name}({', '.join(f'{k}={v}' for k, v in self.params.items())})"


def IClamp(delay: float = 0.0, dur: float = 0.0, amp: float = 0.0) -> PointProcess:
    """NEURON's IClamp (``del`` is spelt ``delay``, as in NEURON's Python)."""
    return PointProcess("IClamp", **{"del": delay, "dur": dur, "amp": amp})


def SEClamp(**params) -> PointProcess:
    """NEURON's single-electrode voltage clamp (dur1, amp1, ..., rs)."""
    return PointProcess("SEClamp", **params)


class Cell:
    """A one-compartment cell built NEURON's way (``Cell.soma(...)``)."""

    def __init__(self, L: float = 100.0, diam: float = 500.0, cm: float = 1.0, Ra: float = 35.4,
                 v_init: float = -65.0):
        from .passes.compartment import Geometry

        for k, v in (("L", L), ("diam", diam), ("cm", cm), ("Ra", Ra)):
            if not v > 0:
                raise OptionError(f"{k} must be positive (got {v})", element=k)
        self.geometry = Geometry(L=float(L), diam=float(diam), cm=float(cm), Ra=float(Ra))
        self.v_init = float(v_init)
        self._inserted = []
        self._counts: dict[str, int] = {}
        self._record: list[str] = []
        self._solver = DEFAULT_SOLVER
        self._model = None
        self._frozen = None
        self._units = {}

    @classmethod
    def soma(cls, L: float = 20.0, diam: float = 20.0, cm: float = 1.0, Ra: float = 100.0,
             v_init: float = -65.0) -> "Cell":
        return cls(L=L, diam=diam, cm=cm, Ra=Ra, v_init=v_init)

    # -- building ----------------------------------------------------------------------
    @staticmethod
    def _mech(m) -> Mechanism:
        if isinstance(m, Mechanism):
            return m
        if isinstance(m, str):
            from .mechanisms import builtin

            return builtin(m)
        raise OptionError(f"not a mechanism: {m!r} (a name of the built-in library or one of "
                          f"nmlcell.load_mod(...)'s values)", element="insert")

    def insert(self, mech, **params) -> "Cell":
        """Insert a density mechanism (a built-in name such as ``"hh"`` or a
        Mechanism from :func:`load_mod`), with parameter values by their
        names in the file (``gnabar=0.2``)."""
        from .passes.compartment import Inserted

        m = self._mech(mech)
        if m.kind != "density":
            raise OptionError(f"{m.name} is a {m.kind.replace('_', ' ')}: use cell.add(...)", element="insert")
        if any(it.label == m.name for it in self._inserted):
            raise OptionError(f"{m.name} is already inserted", element="insert")
        self._inserted.append(Inserted(m, m.name, dict(params)))
        self._model = self._frozen = None
        return self

    def add(self, pp: PointProcess) -> str:
        """Add a point process; returns its name (``"IClamp[0]"``), the prefix
        of its variables (``"IClamp[0].i"``)."""
        from .passes.compartment import Inserted

        if not isinstance(pp, PointProcess):
            raise OptionError(f"cell.add takes a point process such as nmlcell.IClamp(...), not {pp!r}",
                              element="add")
        m = self._mech(pp.mech)
        if m.kind != "point_process":
            raise OptionError(f"{m.name} is a {m.kind.replace('_', ' ')}, not a point process", element="add")
        k = self._counts.get(m.name, 0)
        self._counts[m.name] = k + 1
        label = f"{m.name}[{k}]"
        self._inserted.append(Inserted(m, label, dict(pp.params)))
        self._model = self._frozen = None
        return label

    def record(self, name: str) -> "Cell":
        """Record a variable by its NEURON name (``"v"``, ``"cai"``,
        ``"m_hh"``, ``"IClamp[0].i"``)."""
        if name not in self._record:
            self._record.append(name)
        return self

    # -- the model ---------------------------------------------------------------------------
    def _ir(self, celsius: float, phase=()):
        from .ir.model import Group, ModelIR, Network
        from .passes.compartment import compose

        mech, units = compose(self.geometry, self._inserted, v_init=self.v_init, phase_columns=phase)
        self._units = units
        net = Network("cell", (Group("cell", mech, 1),), temperature=float(celsius) + 273.15)
        return ModelIR(name="cell", file="<nmlcell.Cell>", network=net)

    def _phase(self, record) -> tuple:
        """The recorded names that the staggered solver records as NEURON
        does, from the step's current phase (ion currents, values assigned
        in BREAKPOINT): each gets a column of the step's value."""
        if self._solver != "staggered" or not record:
            return ()
        return tuple(sorted(set(record) & set(self._composed().frozen)))

    def _composed(self):
        """The compartment's Mechanism (without recording columns), cached."""
        if self._frozen is None:
            from .passes.compartment import compose

            self._frozen = compose(self.geometry, self._inserted, v_init=self.v_init)[0]
        return self._frozen

    def model(self, celsius: float = 6.3, record=()):
        """The lowered :class:`~nmlcell.model.Model` of this cell (with a
        column for each current-phase value in ``record`` under the
        staggered solver)."""
        from .model import Model

        key = (float(celsius), self._phase(record))
        if self._model is None or self._model[0] != key:
            m = Model(self._ir(*key), default_solver=self._solver)
            self._model = (key, m)
        self._model[1].solver = self._solver
        return self._model[1]

    @property
    def solver(self) -> str:
        return self._solver

    @solver.setter
    def solver(self, name: str):
        from .quad.registry import get_integrator

        self._solver = get_integrator(name).name
        if self._model is not None:
            self._model[1].solver = self._solver

    def parameters(self, celsius: float = 6.3):
        return self.model(celsius).parameters()

    def _quantities(self, record):
        names = list(record) if record is not None else (self._record or ["v"])
        m = self._composed()
        for q in names:
            if q not in m.exposures:
                raise OptionError(f"'{q}' is not a variable of this cell (it has: "
                                  f"{', '.join(sorted(m.exposures)[:20])} ...)", element="record")
        return names

    def _check_solver(self):
        upd = sorted({label for label, _a in self._composed().updates})
        if upd and self._solver != "staggered":
            raise OptionError(f"{', '.join(upd)} SOLVE a PROCEDURE (a discrete update once per step), which "
                              f"only the 'staggered' solver applies; solver '{self._solver}' would skip it",
                              element="solver")

    def model_mech(self):
        model = self._model[1] if self._model else self.model(6.3)
        return next(iter(model.lowered.groups.values())).mech

    def run(self, duration: float, dt: float = 0.025, celsius: float = 6.3, *, record=None, progress=None,
            precision="float64"):
        """Simulate ``duration`` ms at ``dt`` ms and ``celsius`` degC. Returns
        Results: ``res.t``, ``res["v"]`` (NEURON's units)."""
        names = self._quantities(record)
        self._check_solver()
        model = self.model(celsius, names)
        res = model.run(duration=duration, dt=dt, record=names, progress=progress, precision=precision)
        res.set_units({q: self._units.get(q, "") for q in res.quantities})
        return res

    def simulator(self, duration: float, dt: float = 0.025, celsius: float = 6.3, record=None):
        """A pure function ``params -> {name: trace}`` for jax.jit/grad/vmap
        (``params`` shaped like :meth:`parameters`)."""
        names = self._quantities(record)
        self._check_solver()
        return self.model(celsius, names).simulator(duration=duration, dt=dt, record=names)

    def info(self) -> str:
        m = self.model_mech()
        lines = [f"one compartment: L {self.geometry.L:g} um, diam {self.geometry.diam:g} um, "
                 f"cm {self.geometry.cm:g} uF/cm2, area {self.geometry.area:g} um2"]
        for it in self._inserted:
            lines.append(f"  {it.label}: {it.mech.name} ({it.mech.source})")
        lines.append(f"  {len(m.states)} states, {len(m.parameters)} parameters; solver {self._solver}")
        return "\n".join(lines)
