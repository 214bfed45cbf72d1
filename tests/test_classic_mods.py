"""A sweep of ion-channel mechanisms written in the styles that recur across
ModelDB cell models, each in a small cell that spikes, against NEURON.

The ``.mod`` files in tests/data/classic_mods/ are this project's own text,
written after the equations and idioms of well-known published mechanisms:

- ``cm_*``: Mainen & Sejnowski style (``SOLVE states`` of a PROCEDURE with
  ``m = m + mexp*(minf - m)``, ``tadj = q10^((celsius - temp)/10)``,
  ``INDEPENDENT``, ``VERBATIM return 0; ENDVERBATIM``, trap0/efun guards,
  ``vshift``, TABLE ... DEPEND dt, a cad pool with ``cai = ca``);
- ``mig_*``: Migliore style (``alpn(v)`` Boltzmann exponentials with
  ``9.648e4/(8.315*(273.16 + celsius))``, ``TABLE ... DEPEND celsius``,
  ``v``/``celsius``/``ek`` declared as PARAMETERs, ``if (taun < nmin)``);
- ``dx_*``: Destexhe style (T current through ``ghk(v, ci, co)`` with
  ``cai``/``cao``/``celsius`` given PARAMETER defaults NEURON ignores, the
  rectified calcium pool ``cai' = drive_channel + (cainf - cai)/taur`` on
  derivimplicit, a KINETIC scheme with CONSERVE and STEADYSTATE sparse, Ih
  with calcium binding on a nonlinear KINETIC scheme);
- ``tr_*``: Traub-port style (DEFINE, CONSTANT, FROM loops, a LOCAL array,
  UNITSOFF, ``ena``/``ek`` as the mechanism's own PARAMETERs: WRITE without
  READ);
- ``cl_*``: a NONSPECIFIC_CURRENT leak, an ELECTRODE_CURRENT point process
  with two steps (``at_time``), a mechanism writing ``eca`` by Nernst, a
  sodium shell writing ``nai``, a block LOCAL array, a calcium buffer as a
  KINETIC scheme.

NEURON runs in a subprocess (tests/nrn_cells.py's compile_mods and
run_script) with ``secondorder = 0`` and every ``usetable_<suffix> = 0``;
nmlcell with its ``staggered`` solver (NEURON's fixed step). Compared: v
(max |difference| < 1e-6 mV, every step), the spikes, and the recorded
states, currents and concentrations (relative to their range over the run).
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
import pytest

from nrn_cells import IMPORT3D_HEAD, compile_mods, run_script, spike_times

HERE = Path(__file__).parent
MODS = HERE / "data" / "classic_mods"
SOMA3 = HERE / "data" / "morph" / "soma3.swc"

V_TOL = 1e-6        # mV
REL_TOL = 1e-8      # of a recorded variable's range over the run

_NEURON = r'''
import json, sys
import numpy as np
from neuron import h
cfg = json.loads(sys.argv[1])
h.nrn_load_dll(cfg["lib"])
if cfg.get("morph"):
''' + "\n".join("    " + ln for ln in IMPORT3D_HEAD.splitlines()[1:] if "cfg = json" not in ln) + r'''
    for s in secs:
        s.nseg, s.cm, s.Ra = cfg["nseg"], 1.0, 100.0
else:
    s = h.Section(name="soma")
    s.L, s.diam, s.cm, s.Ra, s.nseg = 20.0, 20.0, 1.0, 100.0, 1
    secs = [s]
def is_global(n):   # a GLOBAL is hoc's (h.tha_cm_na = -38); h.<range>_<sfx> raises
    try:
        getattr(h, n)
        return True
    except Exception:
        return False
for name, params in cfg["insert"]:
    for s in secs:
        s.insert(name)
        for seg in s:
            for k, v in params.items():
                if not is_global(f"{k}_{name}"):
                    setattr(seg, f"{k}_{name}", v)
    for k, v in params.items():
        if is_global(f"{k}_{name}"):
            setattr(h, f"{k}_{name}", v)
    if hasattr(h, f"usetable_{name}"):
        setattr(h, f"usetable_{name}", 0)
h.distance(0, secs[0](0.5))
for name, grads in cfg.get("grad", {}).items():   # value = a * (1 + b * path distance from the soma's middle)
    for k, (a, b) in grads.items():
        for s in secs:
            for seg in s:
                setattr(seg, f"{k}_{name}", a * (1 + b * h.distance(seg)))
for s in secs:
    for k, v in cfg.get("ions", {}).items():   # hoc's forall { ek = -90 }
        setattr(s, k, v)
pps = []
for name, params, *at in cfg["point"]:   # at: [section name, x], default the soma's middle
    pp = getattr(h, name)([s for s in secs if s.name() == at[0][0]][0](at[0][1]) if at else secs[0](0.5))
    for k, v in params.items():
        setattr(pp, k, v)
    pps.append(pp)
vecs = []
for sec, x, var in cfg["record"]:
    seg = [s for s in secs if s.name() == sec][0](x) if sec else secs[0](0.5)
    vec = h.Vector()
    vec.record(getattr(seg, "_ref_" + var))
    vecs.append(vec)
h.dt = cfg["dt"]
h.celsius = cfg["celsius"]
h.secondorder = cfg.get("secondorder", 0)
h.finitialize(cfg["v_init"])
while h.t < cfg["T"] - 0.5 * h.dt:
    h.fadvance()
np.save(sys.argv[2], np.array([np.array(v) for v in vecs]))
'''

_CLAMP = ["IClamp", {"delay": 5.0, "dur": 60.0, "amp": 0.3}]

# case -> the cell: mechanisms (name, values), point processes, celsius,
# what is recorded besides v, the spikes expected at least
_PAS = ["pas", {"g": 3e-5, "e": -70.0}]
_MS = [_PAS, ["cm_na", {"gbar": 2000.0}], ["cm_kv", {"gbar": 400.0}]]     # Mainen-style spiking core
_MIG = [["pas", {"g": 5e-5, "e": -70.0}], ["mig_na3", {"gbar": 0.04}], ["mig_kdr", {"gkdrbar": 0.01}]]
# dx_it declares celsius = 36, cai = 2.4e-4 and cao = 2 as PARAMETERs: NEURON ignores
# those defaults ("will be ignored and set by NEURON"); run at 34 degC with cainf 1e-4
_DX = _MS + [["dx_it", {"pcabar": 5e-4}], ["dx_cad", {"cainf": 1e-4}]]

# case -> the cell: mechanisms (name, values), point processes (default an
# IClamp of 0.3 nA from 5 to 65 ms), celsius, what is recorded besides v,
# the spikes expected at least
CASES = {
    # Mainen & Sejnowski style at 37 degC
    "cm_na_kv": dict(insert=_MS, celsius=37.0, record=["m_cm_na", "h_cm_na", "n_cm_kv", "ina", "ik"], spikes=5),
    # GLOBALs set (hoc's tha_cm_na = -38, temp_cm_km = 30)
    "cm_km": dict(insert=[_PAS, ["cm_na", {"gbar": 2000.0, "tha": -38.0}], ["cm_kv", {"gbar": 400.0}],
                          ["cm_km", {"gbar": 200.0, "temp": 30.0}]],
                  celsius=37.0, record=["n_cm_km", "ik", "m_cm_na"], spikes=3),
    "cm_ca_cad": dict(insert=_MS + [["cm_ca", {"gbar": 20.0}], ["dx_cad", {"taur": 80.0}]], celsius=37.0,
                      record=["m_cm_ca", "h_cm_ca", "cai", "ica"], spikes=5),
    "cm_kca_order": dict(insert=_MS + [["cm_ca", {"gbar": 20.0}], ["dx_cad", {"taur": 80.0}],
                                       ["cm_kca", {"gbar": 300.0}]],
                         celsius=37.0, record=["n_cm_kca", "cai", "ica"], spikes=1),
    "cm_cad": dict(insert=_MS + [["cm_ca", {"gbar": 20.0}], ["cm_cad", {}]], celsius=37.0,
                   record=["ca_cm_cad", "cai"], spikes=1),
    # Migliore style at 35 degC
    "mig_na3_kdr": dict(insert=_MIG, celsius=35.0,
                        record=["m_mig_na3", "h_mig_na3", "s_mig_na3", "n_mig_kdr", "ina", "ik"], spikes=3),
    "mig_kap_h": dict(insert=_MIG + [["mig_kap", {"gkabar": 0.02}], ["mig_h", {"ghdbar": 5e-4}]],
                      celsius=35.0, record=["n_mig_kap", "l_mig_kap", "l_mig_h", "i_mig_h"], spikes=2),
    # a CA1-style setup: ena/ek set in every section (hoc's forall { ena = 55  ek = -90 }), on the
    # branched cell an A-type density growing with the distance from the soma
    "mig_ca1": dict(insert=_MIG + [["mig_kap", {"gkabar": 0.02}], ["mig_h", {"ghdbar": 5e-4}]],
                    ions={"ena": 55.0, "ek": -90.0}, grad={"mig_kap": {"gkabar": [0.02, 0.01]}},
                    celsius=35.0, record=["n_mig_kap", "ik", "ina", "ek", "ena"], spikes=2),
    # Destexhe style at 34 degC, with the Mainen-style core to spike
    "dx_it_cad": dict(insert=_DX, celsius=34.0, clamp={"amp": 0.3}, v_init=-75.0,
                      record=["m_dx_it", "h_dx_it", "cai", "ica"], spikes=2),
    "dx_kin": dict(insert=[_PAS, ["cm_na", {"gbar": 2000.0}], ["dx_kin", {"gbar": 0.02}]], celsius=36.0,
                   record=["C1_dx_kin", "O_dx_kin", "ik"], spikes=5,
                   v_tol=1e-8),   # measured 4.5e-10 mV (STEADYSTATE as NEURON's 1e9 ms step; exact root: 6.2e-7)
    "dx_ih": dict(insert=_DX + [["dx_ih", {}]], celsius=34.0, clamp={"amp": 0.3}, v_init=-75.0,
                  record=["o1_dx_ih", "o2_dx_ih", "p1_dx_ih", "cai"], spikes=1),
    # a calcium buffer ~ cai + B <-> CaB (nonlinear) on METHOD sparse
    "cl_cabuf": dict(insert=_MS + [["cm_ca", {"gbar": 20.0}], ["cl_cabuf", {}]], celsius=37.0,
                     record=["cai", "B_cl_cabuf", "ica"], spikes=5),
    # Traub-port style with the project's own leak and stimulus
    "tr_naf_kdr": dict(insert=[["cl_leak", {"g": 1e-4, "e": -70.0}], ["tr_naf", {}], ["tr_kdr", {}]],
                       celsius=6.3, point=[["cl_stim", {"amp1": 0.2, "amp2": 0.6}]], T=80.0,
                       record=["m_tr_naf", "h_tr_naf", "m_tr_kdr", "ina", "ik"], spikes=3),
    "cl_localarr": dict(insert=[_PAS, ["cm_na", {"gbar": 2000.0}], ["cl_localarr", {}]], celsius=23.0,
                        record=["n_cl_localarr", "ik"], spikes=3),
    # the stimulus in a dendrite on the branched cell (at)
    "tr_dend_stim": dict(insert=[["cl_leak", {"g": 1e-4, "e": -70.0}], ["tr_naf", {}], ["tr_kdr", {}]],
                         celsius=6.3, point=[["cl_stim", {"amp1": 0.2, "amp2": 0.6}]], at=["dend[1]", 0.5],
                         T=80.0, record=["m_tr_naf", "ina"], spikes=3),
    # a leak and a stimulus of the project's own, with hh (6.3 degC)
    "cl_stim_leak": dict(insert=[["cl_leak", {}], ["hh", {}]], celsius=6.3,
                         point=[["cl_stim", {"amp1": 0.05, "amp2": 0.3}]], T=80.0, record=[], spikes=2),
    "cl_leak_record_i": dict(insert=[["cl_leak", {}], ["hh", {}]], celsius=6.3,
                             point=[["cl_stim", {"amp1": 0.05, "amp2": 0.3}]], T=80.0, record=["i_cl_leak"],
                             spikes=2),
    # nai accumulating from ina: ena follows Nernst
    "cl_nadyn": dict(insert=_MS + [["cl_nadyn", {"depth": 0.1}]], celsius=37.0, record=["nai", "ena", "ina"],
                     spikes=5),
    # a mechanism writing eca (Nernst) that cm_ca reads
    "cl_canernst": dict(insert=_MS + [["cm_ca", {"gbar": 20.0}], ["dx_cad", {}], ["cl_canernst", {}]],
                        celsius=37.0, record=["ica", "cai"], spikes=5),
    "cl_canernst_record_eca": dict(insert=_MS + [["cm_ca", {"gbar": 20.0}], ["dx_cad", {}], ["cl_canernst", {}]],
                                   celsius=37.0, record=["eca"], spikes=5),
}

# on the three-section cell of tests/data/morph/soma3.swc (nseg 3)
BRANCHED = {"cm_na_kv", "mig_kap_h", "mig_ca1", "cm_ca_cad", "dx_it_cad", "tr_naf_kdr", "cm_km", "tr_dend_stim"}
BRANCHED_ONLY = {"tr_dend_stim"}

# run by default (with the refusals, which fail at import); the rest is @slow
QUICK = {"cm_na_kv", "cm_na_kv-branched", "mig_ca1", "tr_naf_kdr", "dx_it_cad", "cm_cad", "cl_localarr"}

# cases nmlcell refuses or gets wrong, with the cause in a file of another
# owner (docs/nmodl-support.md, "Classic mechanism styles checked against NEURON")
XFAIL = {
}


@lru_cache(maxsize=None)
def _library():
    return compile_mods(MODS)


@lru_cache(maxsize=None)
def _mechanism(name: str):
    """The file named after the mechanism, imported (and checked) alone."""
    import nmlcell

    return nmlcell.load_mod(MODS / f"{name}.mod")[name]


def _config(case: str, branched: bool) -> dict:
    c = CASES[case]
    point = c.get("point") or [["IClamp", {**_CLAMP[1], **c.get("clamp", {})}]]
    T = c.get("T", 80.0 if "point" in c else 70.0)
    rec = [["soma[0]" if branched else "", 0.5, "v"]]
    if branched:
        rec += [["dend[1]", 0.9, "v"], ["axon[0]", 0.9, "v"]]
    rec += [["soma[0]" if branched else "", 0.5, q] for q in c["record"]]
    cfg = dict(lib=_library(), insert=c["insert"], point=[[n, dict(p)] + ([c["at"]] if branched and "at" in c else []) for n, p in point],
               record=rec, dt=0.025, T=T, celsius=c["celsius"], v_init=c.get("v_init", -70.0),
               ions=c.get("ions", {}))
    if branched:
        cfg.update(morph=str(SOMA3), nseg=3, grad=c.get("grad", {}))
    for name, p, *_at in cfg["point"]:
        if name == "IClamp":
            p["del"] = p.pop("delay")
    return cfg


def _nmlcell(cfg: dict):
    import nmlcell

    def mech(name):
        return _mechanism(name) if (MODS / f"{name}.mod").is_file() else name

    if cfg.get("morph"):
        cell = nmlcell.Cell(cfg["morph"], nseg=cfg["nseg"], cm=1.0, Ra=100.0, v_init=cfg["v_init"])
    else:
        cell = nmlcell.Cell.soma(L=20.0, diam=20.0, cm=1.0, Ra=100.0, v_init=cfg["v_init"])
    grads = cfg.get("grad", {})
    for name, params in cfg["insert"]:
        params = dict(params)
        for k, (a, b) in grads.get(name, {}).items():
            params[k] = lambda d, a=a, b=b: a * (1 + b * d)
        cell.insert(mech(name), **params)
    if cfg.get("ions"):
        cell.set(**cfg["ions"])
    for name, params, *at in cfg["point"]:
        loc = {"at": f"{at[0][0]}({at[0][1]})"} if at else {}
        if name == "IClamp":
            cell.add(nmlcell.IClamp(delay=params["del"], dur=params["dur"], amp=params["amp"]), **loc)
        else:
            cell.add(nmlcell.PointProcess(mech(name), **params), **loc)
    names = [f"{sec}({x}).{q}" if sec else q for sec, x, q in cfg["record"]]
    res = cell.run(duration=cfg["T"], dt=cfg["dt"], celsius=cfg["celsius"], record=names)
    return np.array([np.asarray(res[q]) for q in names]), np.asarray(res.t)


def compare(case: str, branched: bool = False) -> dict:
    cfg = _config(case, branched)
    ours, t = _nmlcell(cfg)   # first: a refusal fails before NEURON runs
    ref = run_script(_NEURON, cfg, "r.npy", np.load)
    assert ours.shape == ref.shape, (ours.shape, ref.shape)
    nv = 3 if branched else 1
    out = {"spikes": (spike_times(t, ref[0]), spike_times(t, ours[0])),
           "dv": float(np.max(np.abs(ref[:nv] - ours[:nv]))), "rel": {}}
    for k, (_s, _x, q) in enumerate(cfg["record"][nv:], start=nv):
        scale = max(float(np.ptp(ref[k])), 1e-6 * float(np.max(np.abs(ref[k]))), 1e-12)
        out["rel"][q] = float(np.max(np.abs(ref[k] - ours[k]))) / scale
    return out


def _params():
    for case in CASES:
        for branched in ((True,) if case in BRANCHED_ONLY else (False, True) if case in BRANCHED else (False,)):
            cid = f"{case}{'-branched' if branched else ''}"
            marks = [] if cid in QUICK else [pytest.mark.slow]
            if case in XFAIL:
                marks.append(pytest.mark.xfail(strict=True, reason=XFAIL[case]))
            yield pytest.param(case, branched, id=cid, marks=marks)


# the ignored PARAMETER defaults (dx_it, mig_kdr) are test_ignored_parameter_defaults_warn_as_nocmodl_does's subject
@pytest.mark.filterwarnings("ignore::nmlcell.importers.nmodl_decl.NmodlIgnoredDefault")
@pytest.mark.parametrize("case,branched", list(_params()))
def test_classic_mechanism_matches_neuron(case, branched):
    got = compare(case, branched)
    ref_spikes, our_spikes = got["spikes"]
    assert len(ref_spikes) >= (1 if branched else CASES[case]["spikes"]), ref_spikes
    np.testing.assert_array_equal(ref_spikes, our_spikes)
    assert got["dv"] < CASES[case].get("v_tol", V_TOL), got["dv"]
    for q, rel in got["rel"].items():
        assert rel < REL_TOL, (q, rel)


def test_one_compartment_ion_values():
    """``cell.set(ek=-90.0)`` on a one-compartment cell (hoc's ``soma.ek =
    -90``) reaches the mechanisms (as on a morphology); an ion no mechanism
    uses, or one whose potential follows Nernst, is refused by name."""
    import nmlcell

    runs = []
    for ek in (None, -90.0):
        cell = nmlcell.Cell.soma()
        cell.insert("hh")
        if ek is not None:
            cell.set(ek=ek)
        runs.append(cell.run(2.0, record=["ek", "ik"]))
    assert runs[0]["ek"][0] == -77.0 and np.all(runs[1]["ek"] == -90.0)
    assert runs[1]["ik"][0] > runs[0]["ik"][0]
    bad = nmlcell.Cell.soma()
    bad.insert("hh")
    bad.set(eca=100.0)
    with pytest.raises(nmlcell.OptionError, match="cannot set eca in the soma: no mechanism"):
        bad.run(1.0)
    nernst = nmlcell.Cell.soma()
    nernst.insert(_mechanism("dx_cad"))
    nernst.insert(_mechanism("cm_ca"))
    nernst.set(eca=100.0)
    with pytest.raises(nmlcell.OptionError, match="cannot set eca in the soma: it follows the Nernst"):
        nernst.run(1.0)


_TWICE = {   # name -> (blocks, the line NEURON's nocmodl names: the second declaration)
    "g": ("PARAMETER { g = 1e-4 (S/cm2) }\nASSIGNED { g (S/cm2) }", 3),
    "v": ("PARAMETER { v (mV) }\nASSIGNED { v (mV) }", 3),
    "ek": ("PARAMETER { ek = -90 (mV) }\nASSIGNED { ek (mV) }", 3),
    "x": ("STATE { x }\nASSIGNED { x }", 3),
    "y": ("ASSIGNED { y y }", 2),
}


@pytest.mark.parametrize("name", list(_TWICE))
def test_a_name_declared_twice_is_refused_as_neuron_refuses_it(tmp_path, name):
    """nocmodl: "Multiple declaration of g at line 3"; nmlcell: a
    ModelImportError naming the file and the second declaration's line."""
    import shutil
    import subprocess

    from nmlcell.errors import ModelImportError
    from nmlcell.importers.nmodl import load_mod_file

    blocks, line = _TWICE[name]
    f = tmp_path / "twice.mod"
    f.write_text(f"NEURON {{ SUFFIX twice USEION k READ ek WRITE ik }}\n{blocks}\n"
                 "ASSIGNED { ik (mA/cm2) }\nBREAKPOINT { ik = 0 }\n")
    with pytest.raises(ModelImportError, match=rf"twice.mod:{line}: '{name}' declared in .*Multiple declaration"):
        load_mod_file(f)
    neuron = pytest.importorskip("neuron")
    noc = shutil.which("nocmodl") or str(Path(neuron.__file__).parent / ".data" / "bin" / "nocmodl")
    if Path(noc).exists():
        r = subprocess.run([noc, f.name], cwd=tmp_path, capture_output=True, text=True, timeout=60)
        assert r.returncode != 0 and f"Multiple declaration of {name} at line {line}" in r.stdout + r.stderr


def test_two_useion_statements_of_one_ion_are_refused(tmp_path):
    from nmlcell.cli import main

    f = tmp_path / "twoion.mod"
    f.write_text("NEURON {\n    SUFFIX twoion\n    USEION ca READ cai\n    USEION ca WRITE ica\n}\n"
                 "ASSIGNED { v (mV) cai (mM) ica (mA/cm2) }\nBREAKPOINT { ica = 1e-6*(v - 120) }\n")
    assert main(["info", str(f)]) == 2
    from nmlcell.errors import ModelImportError
    from nmlcell.importers.nmodl import load_mod_file

    with pytest.raises(ModelImportError, match=r"twoion.mod:4: a second USEION ca: .*merging of neuron models"):
        load_mod_file(f)


@pytest.mark.parametrize("body,line,message", [
    ("STATE { x }\nBREAKPOINT { SOLVE nothere METHOD cnexp\ni = 0 }", 4, "SOLVE nothere: the file has no block named"),
    ("STATE { x }\nASSIGNED { y }\nBREAKPOINT { SOLVE st METHOD cnexp\ni = 0 }\nDERIVATIVE st { x' = -x\ny' = -y }",
     8, "y' in DERIVATIVE st: 'y' is not a STATE; .*must be declared as a state variable"),
])
def test_solve_and_derivative_names_neuron_rejects(tmp_path, body, line, message):
    """NEURON's nocmodl: "Method cnexp can't be used with Block nothere",
    "y must be declared as a state variable": refused as bad
    input with the file's line (they were listed as unsupported, the
    second as "'y' read before it is assigned")."""
    from nmlcell.errors import ModelImportError
    from nmlcell.importers.nmodl import load_mod_file

    f = tmp_path / "bad.mod"
    f.write_text("NEURON { SUFFIX bad NONSPECIFIC_CURRENT i }\nASSIGNED { v (mV) i (mA/cm2) }\n" + body + "\n")
    with pytest.raises(ModelImportError, match=rf"bad.mod:{line}: {message}"):
        load_mod_file(f)


@pytest.mark.parametrize("name", ["dx_it", "mig_kdr", "tr_naf"])
def test_ignored_parameter_defaults_warn_as_nocmodl_does(tmp_path, name):
    """A PARAMETER value of an ion variable or of celsius is ignored by
    NEURON, which warns ("Default 36 of PARAMETER celsius will be ignored and
    set by NEURON"); the importer warns for the same names (tr_naf's ena is
    its own: WRITE ina without READ ena, no warning)."""
    import re
    import shutil
    import subprocess
    import warnings

    from nmlcell.importers.nmodl import load_mod_file
    from nmlcell.importers.nmodl_decl import NmodlIgnoredDefault

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        load_mod_file(MODS / f"{name}.mod")
    ours = {re.match(r"PARAMETER (\w+) = ", str(w.message)).group(1) for w in caught
            if issubclass(w.category, NmodlIgnoredDefault)}
    assert ours == {"dx_it": {"celsius", "cai", "cao"}, "mig_kdr": {"ek"}, "tr_naf": set()}[name]
    neuron = pytest.importorskip("neuron")
    noc = shutil.which("nocmodl") or str(Path(neuron.__file__).parent / ".data" / "bin" / "nocmodl")
    if Path(noc).exists():
        shutil.copy(MODS / f"{name}.mod", tmp_path)
        r = subprocess.run([noc, f"{name}.mod"], cwd=tmp_path, capture_output=True, text=True, timeout=60)
        assert set(re.findall(r"Default \S+ of PARAMETER (\w+) will be ignored", r.stdout + r.stderr)) == ours


def test_a_verbatim_that_only_includes_headers_is_a_no_op(tmp_path):
    """``VERBATIM #include <stdlib.h> ENDVERBATIM`` outside any block (a habit
    of many ModelDB files) runs nothing: imported, the same cell as without
    it; a VERBATIM with a declaration is still refused."""
    import nmlcell
    from nmlcell.errors import UnsupportedError

    body = ("NEURON { SUFFIX SFX NONSPECIFIC_CURRENT i RANGE g }\nPARAMETER { g = 1e-4 (S/cm2) e = -70 (mV) }\n"
            "ASSIGNED { v (mV) i (mA/cm2) }\nBREAKPOINT { i = g*(v - e) }\n")
    (tmp_path / "incl.mod").write_text("VERBATIM\n#include <stdlib.h> /* unused */\n#include <math.h>\nENDVERBATIM\n"
                                       + body.replace("SFX", "incl"))
    (tmp_path / "plain.mod").write_text(body.replace("SFX", "plain"))
    (tmp_path / "decl.mod").write_text("VERBATIM\n#include <stdlib.h>\nextern double erand();\nENDVERBATIM\n"
                                       + body.replace("SFX", "decl"))
    runs = []
    for name in ("incl", "plain"):
        cell = nmlcell.Cell.soma()
        cell.insert(nmlcell.load_mod(tmp_path / f"{name}.mod")[name])
        cell.add(nmlcell.IClamp(delay=1.0, dur=3.0, amp=0.05))
        runs.append(np.asarray(cell.run(5.0)["v"]))
    np.testing.assert_array_equal(runs[0], runs[1])
    with pytest.raises(UnsupportedError, match=r"VERBATIM \(C code\) \(decl.mod:1\)"):
        nmlcell.load_mod(tmp_path / "decl.mod")
