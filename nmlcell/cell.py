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
from .point_process import IClamp as IClamp, PointProcess as PointProcess, SEClamp as SEClamp, _frozen  # noqa: F401

DEFAULT_SOLVER = "staggered"


def load_mod(path) -> dict[str, Mechanism]:
    """Import a ``.mod`` file or every ``.mod`` file of a folder: a mapping
    mechanism name (SUFFIX or POINT_PROCESS) -> Mechanism. Constructs that
    cannot be lowered are all reported at once (UnsupportedError)."""
    from .importers.nmodl import load_mod_file, load_mod_folder
    from .mechanisms import FILES, HERE

    p = Path(path)
    if not p.exists():
        raise ModelImportError("file or folder not found", file=str(path))
    # a file defining a built-in's name is refused, as NEURON refuses it
    reserved = {name: HERE / f for name, f in FILES.items()}
    # each file's import is cached on disk by importers/mod_cache.py (keyed
    # by its path and bytes and its INCLUDEs'; warnings replayed on a hit)
    if p.is_dir():
        return load_mod_folder(p, reserved=reserved)
    m = load_mod_file(p, reserved=reserved)
    return {m.name: m}


class Cell:
    """A cell built NEURON's way: one compartment (``Cell.soma(...)``) or a
    morphology (``Cell(nmlcell.load_morphology("cell.asc"))``, or its path),
    cut into compartments as NEURON does (``nseg`` per section: the file's,
    an int, a mapping by section/region/group, a callable of the
    :class:`~nmlcell.ir.morphology.Section`, or the d_lambda rule).

    On a morphology, what a hoc template does to it has a method:
    ``delete``/``create`` (replace sections, e.g. an axon by a stub),
    ``set`` (cm, Ra, ion values such as ``ek`` per region), ``insert`` with
    values per segment, ``distance`` (NEURON's ``h.distance``) and
    ``segments`` (NEURON's ``for (x)``) to compute them."""

    def __init__(self, morphology=None, *, L: float = 100.0, diam: float = 500.0, cm: float = 1.0,
                 Ra: float = 35.4, v_init: float = -65.0, nseg=None, d_lambda: float = 0.1):
        from .passes.compartment import Geometry

        for k, v in (("L", L), ("diam", diam), ("cm", cm), ("Ra", Ra)):
            if not v > 0:
                raise OptionError(f"{k} must be positive (got {v})", element=k)
        if morphology is not None and not hasattr(morphology, "sections"):
            from .importers.morphology import load_morphology

            morphology = load_morphology(morphology)
        self.morphology = morphology
        if morphology is not None:
            # a cable: the C++ kernel's one-time build starts now, in the
            # background, and overlaps the mechanisms' import and the trace
            from .importers.nml_cell import prebuild_tree_kernel

            prebuild_tree_kernel()
        self._nseg, self._d_lambda = nseg, float(d_lambda)
        self._cm_set: list = [(None, float(cm))]
        self._Ra_set: list = [(None, float(Ra))]
        self._ion_set: list = []  # (where, ion parameter name, value)
        self._param_set: list = []  # cell_params.ParamSet, in call order
        self._disc_cache = None
        self._placed: list = []  # (Inserted, where or at) on a morphology
        self._index = None
        self.geometry = Geometry(L=float(L), diam=float(diam), cm=float(cm), Ra=float(Ra))
        self.v_init = float(v_init)
        self._inserted = []
        self._counts: dict[str, int] = {}
        self._record: list[str] = []
        self._rec_locs: set[str] = set()  # places recorded on a morphology (their end nodes are kept)
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

    def insert(self, mech, where=None, *, tables=None, **params) -> "Cell":
        """Insert a density mechanism (a built-in name such as ``"hh"`` or a
        Mechanism from :func:`load_mod`), with parameter values by their
        names in the file (``gnabar=0.2``). On a morphology, ``where`` picks
        the sections (region, section name, group, or a list) and a value
        may be a function of the path distance from the root's middle
        (``gbar=lambda d: 1e-4 * (1 + d/100)``), evaluated at each
        segment's centre, or a mapping location -> value (``{"apic[3](0.5)":
        1e-4, ...}``) applied in order as NEURON's ``sec(x).gbar = value``
        (x = 0 and 1 set the first and last segment, as hoc's ``for (x)``
        loops do); segments it leaves out keep the file's default.

        ``tables``: the data of the mechanism's FUNCTION_TABLEs, name ->
        ``{"x": [...], "y": [...]}`` (NEURON's ``table_<name>_<suffix>(yvec,
        xvec)``: linear interpolation, clamped at the ends) or a number (a
        constant); one table per mechanism, as in NEURON."""
        from .passes.compartment import Inserted

        m = self._mech(mech)
        if tables is not None:
            from .importers.nmodl_table import with_function_tables

            m = with_function_tables(m, tables)
        if m.kind != "density":
            raise OptionError(f"{m.name} is a {m.kind.replace('_', ' ')}: use cell.add(...)", element="insert")
        if self.morphology is None:
            if where not in (None, "soma"):
                raise OptionError("where= needs a morphology (nmlcell.Cell(morphology))", element="where")
            if any(callable(v) for v in params.values()):
                raise OptionError("a parameter as a function of distance needs a morphology", element="insert")
            if any(it.label == m.name for it in self._inserted):
                raise OptionError(f"{m.name} is already inserted", element="insert")
            self._inserted.append(Inserted(m, m.name, dict(params)))
        else:
            from .cable_cell import sections_of

            secs = sections_of(self.morphology, where)
            for it, w in self._placed:
                if not it.point and it.mech.name == m.name and secs & sections_of(self.morphology, w):
                    raise OptionError(f"{m.name} is already inserted in some of these sections", element="insert")
            self._placed.append((Inserted(m, m.name, dict(params)), where))
        self._model = self._frozen = None
        return self

    def set(self, mech=None, /, *, cm: float | None = None, Ra: float | None = None, where=None,
            **values) -> "Cell":
        """NEURON's assignments after ``insert``, in the sections ``where``
        picks (all by default; as ``insert`` takes it); later calls win on
        the compartments they cover. ``cm`` (uF/cm2), ``Ra`` (ohm cm), ion
        values (``ek=-85.0``, ``cai0_ca_ion``: only where a mechanism uses
        the ion, not a Nernst potential; checked at build), and a density
        mechanism's parameters as NEURON spells them (``gnabar_hh=0.2``) or
        scoped to it (``cell.set("hh", where="axon", gnabar=0.2)``): a
        number, a function of the path distance (as ``insert``) or
        location -> number. The mechanism must be in every section picked;
        a GLOBAL is set without ``where`` (:mod:`nmlcell.cell_params`)."""
        from .cell_params import apply_to_compartment, resolve

        if mech is not None:
            values = {**({"cm": cm} if cm is not None else {}), **({"Ra": Ra} if Ra is not None else {}), **values}
            cm = Ra = None
        sets, ions = resolve(self, mech, where, values)
        if self.morphology is None:
            if cm is not None or Ra is not None:
                raise OptionError("cell.set(cm=, Ra=) needs a morphology; give cm/Ra to Cell.soma()",
                                  element="set")
            apply_to_compartment(self, sets)
            self._ion_set += [(None, name, float(value)) for name, value in ions.items()]
            self._model = self._frozen = None
            return self
        from .cable_cell import sections_of

        sections_of(self.morphology, where)  # checks the name
        if cm is not None:
            self._cm_set.append((where, float(cm)))
        if Ra is not None:
            self._Ra_set.append((where, float(Ra)))
        for name, value in ions.items():
            self._ion_set.append((where, name, float(value)))
        self._param_set += sets
        self._model = self._frozen = None
        return self

    # -- editing the morphology (hoc's delete_section, create, connect) ---------------------
    def delete(self, where) -> "Cell":
        """Delete the sections ``where`` picks (NEURON's ``delete_section``),
        e.g. ``cell.delete("axon")`` before attaching a stub with
        :meth:`create`. Sections attached to a deleted one must be deleted
        too."""
        from .cable_cell import delete_sections, sections_of

        if self.morphology is None:
            raise OptionError("cell.delete needs a morphology", element="delete")
        self.morphology = delete_sections(self.morphology, sections_of(self.morphology, where))
        self._model = self._frozen = None
        return self

    def create(self, name: str, *, L: float, diam: float, at: str, region: str | None = None,
               groups=("all",)) -> "Cell":
        """Add a cylindrical section ``name`` (``"axon[0]"``) of length ``L``
        and diameter ``diam`` (µm) with its 0 end attached at ``at``
        (``"soma[0](0.5)"``): NEURON's ``create``, ``L``, ``diam`` and
        ``connect name(0), at``. Its region is the name's stem unless given;
        it joins ``groups`` (for ``where=``; created when absent)."""
        from .cable_cell import add_cylinder, parse_location

        if self.morphology is None:
            raise OptionError("cell.create needs a morphology", element="create")
        parent, x = parse_location(self.morphology, at)
        self.morphology = add_cylinder(self.morphology, name, L=float(L), diam=float(diam), parent=parent,
                                       parent_x=x, region=region, groups=groups)
        self._model = self._frozen = None
        return self

    def discretisation(self):
        """The morphology cut into compartments with this cell's nseg, cm and
        Ra (a :class:`~nmlcell.ir.morphology.Discretisation`, cached)."""
        if self.morphology is None:
            raise OptionError("a one-compartment cell has no discretisation", element="discretisation")
        from .lower.discretize import discretize

        cm, Ra = self._cm_map(), self._Ra_map()
        tips = self._tips()
        key = (id(self.morphology), id(self._nseg), repr(self._nseg), repr(cm), repr(Ra), self._d_lambda, tips)
        if self._disc_cache is None or self._disc_cache[0] != key:
            disc = discretize(self.morphology, nseg=self._nseg, Ra=Ra, cm=cm, d_lambda=self._d_lambda,
                              tips=tips)
            self._disc_cache = (key, self.morphology, disc)
        return self._disc_cache[2]

    def _tips(self) -> tuple:
        """The free section ends (a leaf's x = 1, the root's x = 0) that a
        point process or a recording sits on: their zero-area nodes are
        kept (:func:`~nmlcell.cable_cell.cell_free_ends`)."""
        from .cable_cell import cell_free_ends

        return cell_free_ends(self)

    def distance(self, at: str, origin: str | None = None) -> float:
        """Path distance (µm) between two locations, NEURON's
        ``h.distance(origin, at)``; ``origin`` defaults to the root's middle
        (``"soma[0](0.5)"``), the origin of parameters given as functions
        of distance."""
        from .cable_cell import parse_location, path_distance

        disc = self.discretisation()
        a = parse_location(disc.morphology, origin or self._root_loc())
        return path_distance(disc, a, parse_location(disc.morphology, at))

    def segments(self, where=None, ends: bool = False) -> list[str]:
        """The locations of the segment centres of the sections ``where``
        picks, ``"dend[3](0.25)"``, in section order: NEURON's ``for seg in
        sec``; with ``ends=True`` also x = 0 and x = 1 of each section, as
        hoc's ``for (x)``."""
        from .cable_cell import sections_of

        disc = self.discretisation()
        morph = disc.morphology
        out = []
        for i in sorted(sections_of(morph, where)):
            n = disc.nseg[i]
            xs = [(k + 0.5) / n for k in range(n)]
            if ends:
                xs = [0.0] + xs + [1.0]
            out += [f"{morph.sections[i].name}({x!r})" for x in xs]
        return out

    def _section_map(self, sets):
        from .cable_cell import sections_of

        vals = {}
        for where, v in sets:
            for i in sections_of(self.morphology, where):
                vals[i] = v
        names = self.morphology.names
        return {names[i]: v for i, v in vals.items()}

    def _cm_map(self):
        return self._section_map(self._cm_set)

    def _Ra_map(self):
        return self._section_map(self._Ra_set)

    def _root_loc(self) -> str:
        return f"{self.morphology.sections[0].name}(0.5)"

    @staticmethod
    def _locate(disc, at) -> int:
        try:
            return disc.locate(at)
        except (ValueError, KeyError) as e:
            raise OptionError(f"location {at!r}: {e}", element="at") from None

    def add(self, pp: PointProcess, at: str | None = None) -> str:
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
        # the PointProcess's own dict: a value set on it later reaches the next run
        if self.morphology is None:
            self._inserted.append(Inserted(m, label, pp.params))
        else:
            self._placed.append((Inserted(m, label, pp.params), at or self._root_loc()))
        self._model = self._frozen = None
        return label

    def record(self, name: str, at: str | None = None) -> "Cell":
        """Record a variable by its NEURON name (``"v"``, ``"cai"``,
        ``"m_hh"``, ``"IClamp[0].i"``); on a morphology at a location
        (``at="dend[3](0.5)"``, default the root's middle), recorded as
        ``"dend[3](0.5).v"``."""
        key = name if self.morphology is None else f"{at or self._root_loc()}.{name}"
        if key not in self._record:
            self._record.append(key)
        if self.morphology is not None:
            self._note_recorded([key])
        return self

    def _note_recorded(self, names) -> None:
        """Remember the places of ``names`` (``"dend(1).v"``) at a section's
        end: a free end among them keeps its zero-area node (NEURON records
        that node's v there), from the next build on."""
        from .cable_cell import end_places

        new = end_places(names) - self._rec_locs
        if new:
            self._rec_locs |= new
            self._model = self._frozen = None

    # -- the model ---------------------------------------------------------------------------
    def _ir(self, celsius: float, phase=()):
        from .ir.model import Group, ModelIR, Network
        from .passes.compartment import compose

        if self.morphology is not None:
            from .cable_cell import build_cable_ir

            ir, self._units, self._index, self._disc = build_cable_ir(self, celsius, phase)
            return ir

        mech, units = compose(self.geometry, self._inserted, v_init=self.v_init, phase_columns=phase)
        if self._ion_set:
            from .cell_params import with_ion_values

            mech = with_ion_values(mech, self._ion_set)
        self._units = units
        net = Network("cell", (Group("cell", mech, 1),), temperature=float(celsius) + 273.15)
        return ModelIR(name="cell", file="<nmlcell.Cell>", network=net)

    def _phase(self, record) -> tuple:
        """The recorded names that the staggered solver records as NEURON
        does, from the step's current phase (ion currents, values assigned
        in BREAKPOINT): each gets a column of the step's value; on a
        morphology also ``crank_nicolson`` (NEURON's ``secondorder = 2``:
        the ion currents as ``second_order_cur`` leaves them)."""
        cable_cn = self._solver == "crank_nicolson" and self.morphology is not None
        if (self._solver != "staggered" and not cable_cn) or not record:
            return ()
        if self.morphology is not None:
            # 'dend[3](0.5).ina' -> 'ina': each composition adds a column for
            # the names among its own current-phase values (compartment.compose)
            names = set()
            for q in record:
                loc, sep, var = q.rpartition(".")
                names.add(var if sep and "(" in loc else q)
            return tuple(sorted(names - {"v"}))
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

        from .model_cache import ModelCache

        key = (float(celsius), self._phase(record))
        values = self._values_key()
        if self._model is None or self._model[0] != (key, values):
            models = self.__dict__.setdefault("_models", ModelCache())
            m = models.model(self._ir(*key), lambda ir: Model(ir, default_solver=self._solver), solver=self._solver)
            self._model = ((key, values), m)
        self._model[1].solver = self._solver
        return self._model[1]

    def _values_key(self) -> tuple:
        """What can change without a method of this class (``v_init``, the
        geometry, a PointProcess's values, the morphology object): when it
        differs, the next run builds the IR again and the model cache
        (:mod:`nmlcell.model_cache`) feeds the new values in, or lowers
        again if the structure changed."""
        items = tuple((it.label, id(it.mech), _frozen(it.params)) for it in self._inserted)
        items += tuple((it.label, id(it.mech), _frozen(it.params), _frozen(w)) for it, w in self._placed)
        return (self.v_init, _frozen(vars(self.geometry)), id(self.morphology), items, _frozen(self._cm_set),
                _frozen(self._Ra_set), _frozen(self._ion_set),
                _frozen([tuple(vars(s).values()) for s in self._param_set]), repr(self._nseg), self._d_lambda,
                tuple(sorted(self._rec_locs)))

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
        if self.morphology is not None:
            names = list(record) if record is not None else (self._record or [f"{self._root_loc()}.v"])
            self._note_recorded(names)
            return names
        names = list(record) if record is not None else (self._record or ["v"])
        m = self._composed()
        for q in names:
            if q not in m.exposures:
                raise OptionError(f"'{q}' is not a variable of this cell (it has: "
                                  f"{', '.join(sorted(m.exposures)[:20])} ...)", element="record")
        return names

    def _internal(self, model, names):
        """Cable: 'loc.name' -> the lowered model's 'group[i]/name'."""
        if self.morphology is None:
            return names
        out = []
        for q in names:
            loc, sep, var = q.rpartition(".")
            if not sep or "(" not in loc:
                loc, var = self._root_loc(), q
            node = self._locate(self._disc, loc)
            gid, i = self._index[node]
            mech = model.lowered.groups[gid].mech
            if var not in mech.exposures:
                raise OptionError(f"'{var}' is not a variable at {loc} (there: "
                                  f"{', '.join(sorted(mech.exposures)[:16])} ...)", element="record")
            out.append(f"{gid}[{i}]/{var}")
        return out

    def _check_solver(self):
        if self.morphology is not None:
            return  # the registry refuses a solver without a tree solve (Integrator.check), naming those with one
        upd = sorted({label for label, _a in self._composed().updates})
        if upd and self._solver != "staggered":
            raise OptionError(f"{', '.join(upd)} update values once per step in NEURON's state phase (a SOLVEd PROCEDURE, LINEAR/NONLINEAR block or ion write), which "
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
        inner = self._internal(model, names)
        res = model.run(duration=duration, dt=dt, record=inner, progress=progress, precision=precision)
        if inner != names:
            res.rename(dict(zip(inner, names)))
        res.set_units({q: self._units.get(q.rpartition(".")[2] if self.morphology is not None else q, "")
                       for q in res.quantities})
        return res

    def simulator(self, duration: float, dt: float = 0.025, celsius: float = 6.3, record=None):
        """A pure function ``params -> {name: trace}`` for jax.jit/grad/vmap
        (``params`` shaped like :meth:`parameters`)."""
        names = self._quantities(record)
        self._check_solver()
        model = self.model(celsius, names)
        inner = self._internal(model, names)
        sim = model.simulator(duration=duration, dt=dt, record=inner)
        if inner == names:
            return sim
        back = dict(zip(inner, names))

        def renamed(params):
            return {back.get(k, k): v for k, v in sim(params).items()}

        return renamed

    def info(self) -> str:
        if self.morphology is not None:
            d = self.discretisation()
            model = self.model(6.3)
            lines = [f"{len(self.morphology.sections)} sections, {sum(d.nseg)} segments "
                     f"({len(d)} nodes with the zero-area ones), membrane area {d.total_area:.1f} um2"]
            for it, where in self._placed:
                lines.append(f"  {it.label}: {it.mech.name} {'at' if it.point else 'in'} {where or 'all'}")
            for gid, g in model.lowered.groups.items():
                lines.append(f"  group {gid}: {g.size} node(s), {len(g.mech.states)} states")
            lines.append(f"  solver {self._solver}")
            return "\n".join(lines)
        m = self.model_mech()
        lines = [f"one compartment: L {self.geometry.L:g} um, diam {self.geometry.diam:g} um, "
                 f"cm {self.geometry.cm:g} uF/cm2, area {self.geometry.area:g} um2"]
        for it in self._inserted:
            lines.append(f"  {it.label}: {it.mech.name} ({it.mech.source})")
        lines.append(f"  {len(m.states)} states, {len(m.parameters)} parameters; solver {self._solver}")
        return "\n".join(lines)
