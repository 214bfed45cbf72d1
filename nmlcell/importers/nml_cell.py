"""A multi-compartment NeuroML ``<cell>`` in a LEMS simulation -> a
NEURON-style branched cell (:class:`nmlcell.Cell`), laid out as jNeuroML's
NEURON export lays it out, so that its recorded outputs are the reference.

- Morphology: :func:`~nmlcell.importers.nml_morphology.read_nml_morphology`
  (sections from the groups marked ``neuroLexId="sao864921383"``, nseg =
  ``numberInternalDivisions``; every segment a section otherwise, as the
  export does).
- Biophysics from libNeuroML's object model: ``specificCapacitance``,
  ``resistivity``, ``initMembPotential`` and the channel densities on
  segment groups (``all`` when none is named), placed by
  :mod:`~nmlcell.importers.nml_densities` (plain, Nernst, GHK, GHK2, VShift
  and non-uniform ones). Each becomes a NEURON-style density mechanism whose
  dynamics are its ion channel's LEMS ComponentType flattened by
  :class:`~nmlcell.importers.lems_flatten.Flattener` (any ionChannel type,
  core or the user's own), as the export's mod file computes it
  (:mod:`~nmlcell.importers.nml_mechanisms`).
- Species: a calcium concentration model (any LEMS type, flattened) on the
  species' segment group, its concentration NEURON's ``cai``.
- Inputs: a ``pulseGenerator`` on a segment is NEURON's ``IClamp`` at the
  same place (the export's mod file switches the current on the same
  condition on ``t``); any other current input (sine, ramp, compound,
  voltage clamps, the user's own) is the export's point process of its
  LEMS Dynamics (:mod:`~nmlcell.importers.nml_cell_inputs`).
- Densities on one segment (``segment=``) and ``channelPopulation``s on one
  segment: the value on the compartments whose centres lie on the segment
  (:mod:`~nmlcell.importers.nml_densities`).
- Recorded quantities ``pop/0/cell/[seg/]v`` (and gate variables of a
  channel density, ``caConc``) are read where the export records them: the
  middle of the segment, as a fraction along its section (rounded as the
  export prints it, a Java float). An EventOutputFile records the spikes of
  the export's NetCon (a spike-detector mechanism at v(0.5) of segment 0's
  section, threshold the cell's spikeThresh).

Everything else (species of other ions, channelPopulations over several
segments, dimensionless inputs) is listed as unsupported; synapses and
projections are :mod:`~nmlcell.importers.nml_cell_network`'s.
"""
from __future__ import annotations

import math
import re
from dataclasses import replace

from ..errors import ModelImportError
from ..ir.mechanism import Mechanism
from .nml_densities import export_number, place_densities
from .nml_mechanisms import concentration_mechanism, density_mechanism, spike_detector

CABLE = "sao864921383"


def _count_segments(comp) -> int:
    n = 1 if comp.type == "segment" else 0
    return n + sum(_count_segments(ch) for ch in comp.children)


def detach_multicompartment(model) -> list[str]:
    """Before pylems's ``resolve()``: empty every multi-compartment ``<cell>``
    of the (unresolved) pylems ``model`` of its children (morphology,
    biophysics), keeping their number of segments on the component. Such a
    cell is read from libNeuroML (:class:`NmlCell`); pylems would copy and
    resolve every segment (Hay's L5PC: over 10 s) and fails on an
    ``inhomogeneousParameter``'s ``<proximal>``. Returns the cells' ids."""
    out = []
    for c in model.components:
        if c.type == "cell":
            n = _count_segments(c)
            if n > 1:
                c.children = []
                c.nmlcell_segments = n
                out.append(c.id)
    return out


def is_multicompartment(model, comp_id: str) -> bool:
    """Whether LEMS component ``comp_id`` is a NeuroML ``<cell>`` with more
    than one segment (read from the pylems component tree, unresolved)."""
    c = model.components.get(comp_id) if hasattr(model.components, "get") else None
    if c is None:
        try:
            c = model.components[comp_id]
        except Exception:
            return False
    if c.type != "cell":
        return False
    return getattr(c, "nmlcell_segments", 0) > 1 or _count_segments(c) > 1


def java_float(x: float) -> float:
    """``x`` as jNeuroML prints a fraction along a section into hoc (a Java
    float, its shortest decimal) read back as a double."""
    import numpy as np

    return float(str(np.float32(x)))


class _Recorder:
    """A Cell whose set/insert calls are kept, to build more cells alike."""

    def __init__(self, cell):
        self.cell, self.log = cell, []

    def set(self, **kw):
        self.cell.set(**kw)
        self.log.append(("set", kw))

    def insert(self, mech, **kw):
        self.cell.insert(mech, **kw)
        self.log.append(("insert", (mech, kw)))

    def replay(self):
        from ..cell import Cell

        c0 = self.cell
        c = Cell(c0.morphology, v_init=c0.v_init, cm=1.0, Ra=35.4)
        for op, arg in self.log:
            if op == "set":
                c.set(**arg)
            else:
                c.insert(arg[0], **arg[1])
        return c


class NmlCell:
    """One NeuroML cell as an :class:`nmlcell.Cell` plus what the LEMS
    importer needs to address it (segment id -> location)."""

    def __init__(self, rd, model, flat, cell_id: str):
        self.rd, self.model, self.flat, self.id = rd, model, flat, cell_id
        self.unsupported: list[str] = []
        self.notes: list[str] = []
        f, line = rd.index.locate(cell_id)
        self.file, self.line = f, line
        self._lines = None
        # the <cell> element's own line: OSB files often give the <neuroml>
        # document the cell's id too, and the index finds that one first
        if f:
            self.line = self.line_of("cell", cell_id)
        self._read()

    def line_of(self, tag: str, ident) -> int | None:
        """The line of ``<tag id="ident">`` in the cell's file (else the cell's)."""
        if self._lines is None:
            from pathlib import Path

            from .nml_morphology import _Lines

            self._lines = _Lines(Path(self.file))
        return self._lines.find(tag, ident) or self.line

    # -- reading -------------------------------------------------------------------
    def _where(self, what):
        return f"{what} of cell '{self.id}' ({self.file}:{self.line})"

    def _read(self):
        from neuroml.loaders import read_neuroml2_file

        from ..cell import Cell
        from .nml_morphology import read_nml_morphology

        doc = read_neuroml2_file(self.file, include_includes=False, verbose=False)
        cells = [c for c in doc.cells if c.id == self.id]
        if not cells:
            raise ModelImportError(f"cell '{self.id}' is not in this file", file=self.file)
        cell = cells[0]
        self.nml_cell = cell
        if cell.morphology is not None:  # the document already read (libNeuroML: ~1 s for Hay's L5PC)
            from pathlib import Path

            from .nml_morphology import _Lines, morphology_from_nml

            if self._lines is None:
                self._lines = _Lines(Path(self.file))
            morph = morphology_from_nml(cell.morphology, file=self.file, lines=self._lines, unbranched="segments")
        else:
            morph = read_nml_morphology(self.file, cell_id=self.id, unbranched="segments")
        # a section's region is its own name, so placing by name never catches
        # another section of the same region (NeuroML places by segment group)
        morph = replace(morph, sections=tuple(replace(s, region=s.name) for s in morph.sections))
        self.morphology = morph
        self._segment_sections(morph)
        bp = cell.biophysical_properties
        if bp is None:
            self.unsupported.append(self._where("biophysicalProperties given by reference or missing"))
            self._cell = _Recorder(Cell(morph))
            return
        mp, ip = bp.membrane_properties, bp.intracellular_properties
        thr = [self._q(x.value, "voltage", "spikeThresh") * 1e3 for x in mp.spike_threshes]
        self.threshold = thr[0] if thr else 0.0
        vinit = [self._q(x.value, "voltage", "initMembPotential") * 1e3 for x in mp.init_memb_potentials]
        if len({*vinit}) > 1:
            self.unsupported.append(self._where("several initMembPotential values"))
        c = _Recorder(Cell(morph, v_init=vinit[0] if vinit else -65.0, cm=1.0, Ra=35.4))
        for x in mp.specific_capacitances:
            c.set(cm=export_number(self._q(x.value, "specificCapacitance", "specificCapacitance"), 1e2),
                  where=self._sections(x.segment_groups, "specificCapacitance"))
        for x in (ip.resistivities if ip is not None else ()):
            c.set(Ra=export_number(self._q(x.value, "resistivity", "resistivity"), 1e2),
                  where=self._sections(x.segment_groups, "resistivity"))
        self.mechanisms: dict[str, Mechanism] = {}  # channelDensity id -> its mechanism
        self._mech_cache: dict = {}
        place_densities(self, c, mp)
        for sp_ in (ip.species if ip is not None else ()):
            self._species(c, sp_)
        self._cell = c

    def make_cell(self, spikes: bool = False):
        """A new :class:`nmlcell.Cell` of this cell type (one per instance: the
        inputs differ), sharing the mechanisms; with ``spikes``, the
        export's spike detector (a NetCon at ``v(0.5)`` of segment 0's
        section, the cell's spikeThresh) at :meth:`spike_location`."""
        c = self._cell.replay()
        if spikes:
            loc = self.spike_location()
            c.insert(spike_detector(), where=[loc.split("(")[0]], threshold={loc: self.threshold})
        return c

    def spike_location(self) -> str:
        return f"{self.morphology.sections[self.seg_at[0][0]].name}(0.5)"

    def _species(self, c, sp_):
        """A <species>: its concentration model inserted on its segment group
        with the species' initial concentrations (also NEURON's cai0/cao0
        there, as the export sets them)."""
        model, ion = self.model, sp_.ion
        if ion != "ca" or sp_.concentration_model not in model.components:
            self.unsupported.append(self._where(f"<species id='{sp_.id}'> of ion {ion} with concentration model "
                                                f"'{sp_.concentration_model}' (calcium pools are supported yet; jNeuroML's NEURON "
                                                "export writes any pool as a calcium one, VALENCE 2, and its mod "
                                                "file for another ion does not compile)"))
            return
        ci0 = self._q(sp_.initial_concentration, "concentration", f"initialConcentration of {sp_.id}")
        co0 = self._q(sp_.initial_ext_concentration, "concentration", f"initialExtConcentration of {sp_.id}")
        key = ("species", sp_.concentration_model)
        if key not in self._mech_cache:
            fc = model.fatten_component(model.components[sp_.concentration_model])
            self.rd.checker.check_component(fc)
            cm = self.flat.flatten(fc, name=sp_.concentration_model, kind="concentration")
            self.unsupported.extend(cm.unsupported)
            self._mech_cache[key] = concentration_mechanism(cm, ion, self.unsupported, self._where)
        where = self._sections(sp_.segment_groups, f"species '{sp_.id}'")
        c.insert(self._mech_cache[key], where=where, initialConcentration=ci0, initialExtConcentration=co0)
        c.set(where=where, **{f"{ion}i0_{ion}_ion": ci0, f"{ion}o0_{ion}_ion": co0})

    def _q(self, text, dim, what) -> float:
        return self.rd.quantity(str(text), dim, self.id, what)

    def _segment_sections(self, morph):
        """segment id -> (section index, arc start, arc end) along the section."""
        self.seg_at: dict[int, tuple[int, float, float]] = {}
        cable = [g for g in morph.groups if g.neurolex_id == CABLE]
        if cable:
            by_name = {g.name: g for g in cable}
            for i, s in enumerate(morph.sections):
                g = by_name.get(s.name)
                segs = g.segments if g is not None else ()
                self._place(i, s, segs)
        else:  # every segment a section, named after it
            for i, s in enumerate(morph.sections):
                sid = re.sub(r"^seg", "", (s.source.origin or "").replace("segment ", ""))
                try:
                    self._place(i, s, (int(sid),))
                except ValueError:
                    pass

    def _place(self, i, s, segs):
        pts = s.points
        lens = [math.dist(a[:3], b[:3]) for a, b in zip(pts, pts[1:])]
        if len(segs) == 1:
            self.seg_at[segs[0]] = (i, 0.0, 1.0)
            return
        if len(lens) != len(segs):  # a point per segment is the export's layout
            for k, sid in enumerate(segs):
                self.seg_at[sid] = (i, k / len(segs), (k + 1) / len(segs))
            return
        total = math.fsum(lens) or 1.0
        acc = 0.0
        for sid, ln in zip(segs, lens):
            self.seg_at[sid] = (i, acc / total, (acc + ln) / total)
            acc += ln

    def _sections(self, group: str | None, what: str, tag: str | None = None, ident=None) -> list[str]:
        """Names of the sections of segment group ``group`` (all when None or
        'all' is not a group); a group that cuts a section is unsupported.
        An error names element ``<tag id=ident>`` (its line) when given."""
        morph = self.morphology
        names = [s.name for s in morph.sections]
        if group in (None, "", "all") and not any(g.name == group for g in morph.groups):
            return names
        g = next((g for g in morph.groups if g.name == group), None)
        if g is None:
            raise ModelImportError(f"{what}: segmentGroup '{group}' is not a group of cell '{self.id}'",
                                   file=self.file, line=self.line_of(tag, ident) if tag else self.line,
                                   element=f'{tag} id="{ident}"' if tag else None)
        segs = set(g.segments)
        if not segs:
            import warnings

            warnings.warn(f"{self.file}:{self.line_of(tag, ident) if tag else self.line}: {what}: segmentGroup "
                          f"'{group}' of cell '{self.id}' holds no segment; nothing is placed", stacklevel=2)
        if getattr(self, "_sec_segs", None) is None:  # section index -> its segments
            self._sec_segs: dict[int, set] = {}
            for sid, (j, _a, _b) in self.seg_at.items():
                self._sec_segs.setdefault(j, set()).add(sid)
        for i in g.sections:
            mine = self._sec_segs.get(i, set())
            if mine and not mine <= segs:
                self.unsupported.append(self._where(f"{what} on segmentGroup '{group}', which holds only "
                                                    f"part of section {names[i]}"))
        return [names[i] for i in g.sections]

    # -- a channel density -> a NEURON-style density mechanism ------------------------------
    def _density(self, chan_id: str, ion: str | None, nernst: bool = False,
                 label: str = "channelDensity", ghk: bool = False, ghk2: bool = False) -> Mechanism | None:
        """The density mechanism of ion channel ``chan_id`` (named after it, as
        the export's mod file; one per channel, its gmax and erev per section)."""
        key = (chan_id, ion, nernst, ghk, ghk2)
        if key not in self._mech_cache:
            self._mech_cache[key] = self._make_density(chan_id, ion, nernst, label, ghk, ghk2)
        return self._mech_cache[key]

    def _make_density(self, chan_id: str, ion: str | None, nernst: bool, label: str,
                      ghk: bool = False, ghk2: bool = False) -> Mechanism | None:
        model = self.model
        if chan_id not in model.components:
            raise ModelImportError(f"{label}: ion channel '{chan_id}' is not defined",
                                   file=self.file, line=self.line)
        fc = model.fatten_component(model.components[chan_id])
        self.rd.checker.check_component(fc)
        ch = self.flat.flatten(fc, name=chan_id, kind="channel")
        if ch.unsupported:
            self.unsupported.extend(ch.unsupported)
        if ch.conditions:
            self.unsupported.append(self._where(f"ion channel '{chan_id}' with events (OnCondition)"))
        if "fopen" not in ch.exposures:
            self.unsupported.append(self._where(f"ion channel '{chan_id}' exposes no fopen"))
            return None
        return density_mechanism(ch, chan_id, ion, self.unsupported, self._where, nernst=nernst, ghk=ghk,
                                 ghk2=ghk2)

    # -- addressing --------------------------------------------------------------------
    def location(self, seg: int, fraction: float) -> str:
        """The export's place for ``fraction`` along segment ``seg``: ``sec(x)``."""
        if seg not in self.seg_at:
            raise ModelImportError(f"cell '{self.id}' has no segment {seg}", file=self.file, line=self.line)
        i, a, b = self.seg_at[seg]
        x = java_float(a + fraction * (b - a))
        return f"{self.morphology.sections[i].name}({x!r})"




def prebuild_tree_kernel() -> None:
    """Start building (or loading) the C++ tree-solve kernel
    (:mod:`nmlcell.lower._hines_ffi`) in a background thread, so that its
    one-time g++ build (about 4 CPU s on the first run on a machine) overlaps
    the import and the tracing of a multi-compartment model instead of
    following them. A cable solve traced meanwhile does not wait: its
    lowering does (``load()`` holds a lock), before XLA compiles. Does
    nothing when ``NMLCELL_NO_FFI`` is set or once it has been tried."""
    import threading

    from ..lower import _hines_ffi

    if _hines_ffi.disabled_by_env() or _hines_ffi.status()["tried"] or _prebuild.get("started"):
        return
    _prebuild["started"] = True
    # a daemon: a process that never simulates does not wait for g++ at exit
    # (the library is renamed into place only when whole)
    threading.Thread(target=_hines_ffi.load, name="nmlcell-ffi-build", daemon=True).start()


_prebuild: dict = {}
