"""``cell.set`` of a density mechanism's parameters after ``insert``,
against NEURON doing the same assignments in the same order (per section
list, overlapping, one as a function of ``h.distance``), plus reruns
(values fed to the compiled run, nothing lowered again), ``vmap`` and the
error cases."""
import json
from pathlib import Path

import numpy as np
import pytest

import nmlcell
from nmlcell.errors import OptionError

from nrn_cells import ICLAMP_RECORD_RUN, IMPORT3D_HEAD, run_script

HERE = Path(__file__).parent
SOMA3 = HERE / "data" / "morph" / "soma3.swc"   # soma[0], dend[0], dend[1], axon[0]
GLOBAL_MOD = HERE / "data" / "mod" / "set_params" / "leakq.mod"
REC = [["soma[0]", 0.5], ["dend[0]", 0.5], ["dend[1]", 0.9], ["axon[0]", 0.9]]

# NEURON runs the operations in order: ["set", where, "name_suffix", value] assigns seg.name_suffix
# in every segment of the sections where names (regions or section names); a value {"lin": [a, b]}
# is a + b * h.distance(soma[0](0.5), seg); {"at": {"dend[0](0.5)": v, ...}} is sec(x).name = v
_NEURON = IMPORT3D_HEAD + r'''
def picked(where):
    where = [where] if isinstance(where, str) else (where or [s.name() for s in secs])
    return [s for s in secs if s.name() in where or s.name().split("[")[0] in where]
for s in secs:
    s.nseg = cfg["nseg"]; s.cm = 1.0; s.Ra = 100.0
h.distance(0, secs[0](0.5))
for op in cfg["ops"]:
    if op[0] == "insert":
        for s in picked(op[2]):
            s.insert(op[1])
    else:
        _, where, name, val = op
        if isinstance(val, dict) and "at" in val:
            for loc, v in val["at"].items():
                sname, x = loc[:-1].split("(")
                setattr([s for s in secs if s.name() == sname][0](float(x)), name, v)
            continue
        for s in picked(where):
            for seg in s:
                v = val["lin"][0] + val["lin"][1] * h.distance(secs[0](0.5), seg) if isinstance(val, dict) else val
                setattr(seg, name, v)
''' + ICLAMP_RECORD_RUN

# hh everywhere, pas on the dendrites; then overlapping assignments, later ones winning
OPS = [
    ["insert", "hh", None],
    ["insert", "pas", "dend"],
    ["set", None, "gnabar_hh", 0.2],
    ["set", "axon", "gnabar_hh", 0.35],
    ["set", ["dend", "axon"], "gkbar_hh", {"lin": [0.036, 0.036 / 50.0]}],
    ["set", "dend[1]", "gkbar_hh", 0.03],
    ["set", "dend", "g_pas", 2e-4],
    ["set", "dend", "e_pas", -70.0],
    ["set", "dend[0]", "el_hh", -60.0],
    ["set", ["soma", "dend[1]"], "gl_hh", {"lin": [5e-4, -1e-6]}],
    ["set", None, "gkbar_hh", {"at": {"axon[0](0.9)": 0.05, "dend[0](0)": 0.02, "dend[0](1)": 0.025}}],
]


def _value(v):
    if isinstance(v, dict) and "at" in v:
        return v["at"]
    if isinstance(v, dict):
        a, b = v["lin"]
        return lambda d: a + b * d
    return v


def _cell(ops, amp=0.3, nseg=3, mixed=True):
    """nmlcell doing ``ops``; with ``mixed`` the axon's gnabar and the
    dendrites' pas values use the mechanism-scoped form (unsuffixed)."""
    cell = nmlcell.Cell(SOMA3, nseg=nseg, cm=1.0, Ra=100.0)
    for op in ops:
        if op[0] == "insert":
            cell.insert(op[1], where=op[2])
            continue
        _, where, name, val = op
        stem, _, suffix = name.rpartition("_")
        if mixed and where in ("axon", "dend"):
            cell.set(suffix, where=where, **{stem: _value(val)})
        else:
            cell.set(where=where, **{name: _value(val)})
    cell.add(nmlcell.IClamp(delay=2.0, dur=20.0, amp=amp), at="soma[0](0.5)")
    return cell


def _neuron(ops, amp=0.3, T=30.0, nseg=3):
    cfg = dict(morph=str(SOMA3), ops=ops, amp=amp, T=T, nseg=nseg, rec=REC)
    return run_script(_NEURON, json.loads(json.dumps(cfg)), "r.npy", np.load)


def _run(cell, T=30.0):
    names = [f"{n}({x}).v" for n, x in REC]
    res = cell.run(duration=T, dt=0.025, celsius=6.3, record=names)
    return np.array([res[q] for q in names])


def test_overlapping_sets_match_neuron_and_a_rerun_only_feeds_values():
    ref = _neuron(OPS)
    cell = _cell(OPS)
    ours = _run(cell)
    assert ours.shape == ref.shape
    assert ours[0].max() > 20.0 and ours[3].max() > 20.0      # soma and axon fire
    assert np.max(np.abs(ours - ref)) < 1e-9
    # without the sets the traces differ: they did something
    plain = _neuron(OPS[:2])
    assert np.max(np.abs(plain - ref)) > 1.0
    # a later call on part of the cell: the same lowered, compiled model, new values
    more = [["set", "axon", "gnabar_hh", 0.25], ["set", None, "gkbar_hh", 0.04]]
    for _, where, name, val in more:
        cell.set(where=where, **{name: val})
    ours2 = _run(cell)
    assert cell._models.built == 1 and cell._models.rebound == 1
    ref2 = _neuron(OPS + more)
    assert np.max(np.abs(ours2 - ref2)) < 1e-9
    assert np.max(np.abs(ref2 - ref)) > 1.0


def test_suffixed_and_mechanism_scoped_forms_agree_and_insert_values_are_the_base():
    """set(gnabar_hh=...) and set("hh", gnabar=...) give the same values;
    a set only covers the nodes it names, over insert's values."""
    a = _cell(OPS, mixed=True)
    b = _cell(OPS, mixed=False)
    pa, pb = a.parameters(), b.parameters()
    for gid in pa:
        for k in pa[gid]:
            assert np.array_equal(np.asarray(pa[gid][k]), np.asarray(pb[gid][k])), (gid, k)
    c = nmlcell.Cell(SOMA3, nseg=2)
    c.insert("pas", where="dend", g=lambda d: 1e-4 * (1 + d / 100), e=-70.0)
    c.set(e_pas=-80.0, where="dend[1]")
    c.set("pas", where="dend[0]", g=3e-4)
    d = c.discretisation()
    c.model()
    g, e = {}, {}
    for k, comp in enumerate(d.compartments):
        if comp.area == 0.0 or not d.morphology.sections[comp.section].name.startswith("dend"):
            continue
        gid, i = c._index[k]
        p = c.parameters()[gid]
        g[k], e[k] = float(p["g_pas"][i]), float(p["e_pas"][i])
    dist = nmlcell.cable_cell.path_distances(d)
    for k in g:
        sec = d.morphology.sections[d.compartments[k].section].name
        assert g[k] == pytest.approx(3e-4 if sec == "dend[0]" else 1e-4 * (1 + dist[k] / 100), rel=1e-14)
        assert e[k] == (-80.0 if sec == "dend[1]" else -70.0)


def test_one_compartment_set_equals_insert_values():
    a = nmlcell.Cell.soma()
    a.insert("hh")
    a.set(gnabar_hh=0.2)
    a.set("hh", gkbar=0.05)
    b = nmlcell.Cell.soma()
    b.insert("hh", gnabar=0.2, gkbar=0.05)
    for c in (a, b):
        c.add(nmlcell.IClamp(delay=1.0, dur=5.0, amp=0.1))
    ra, rb = a.run(10.0), b.run(10.0)
    assert np.array_equal(ra["v"], rb["v"])
    with pytest.raises(OptionError, match="needs a morphology"):
        a.set(gnabar_hh=lambda d: 0.1)


def test_set_errors_name_the_option():
    cell = nmlcell.Cell(SOMA3)
    cell.insert("hh", where=["soma", "axon"])
    cell.insert("pas", where="dend")
    with pytest.raises(OptionError, match=r"hh has no parameter 'gnabarr'") as e:
        cell.set(gnabarr_hh=0.1)
    assert e.value.element == "gnabarr_hh"
    with pytest.raises(OptionError, match=r"hh has no parameter 'gxbar'"):
        cell.set("hh", where="axon", gxbar=0.1)
    with pytest.raises(OptionError, match=r"gnabar_hh: hh is not inserted in 2 of the sections "
                                          r"where=\['axon', 'dend'\] picks: dend\[0\], dend\[1\]"):
        cell.set(gnabar_hh=0.1, where=["axon", "dend"])
    with pytest.raises(OptionError, match=r"hh is not inserted in .* dend\[0\], dend\[1\]"):
        cell.set(gnabar_hh=0.1)  # where=None: every section
    with pytest.raises(OptionError, match=r"gbar_na.* not .*a parameter of an inserted mechanism"):
        cell.set(gbar_na=0.1)
    with pytest.raises(OptionError, match=r"Ih is not inserted in this cell"):
        cell.set("Ih", gIhbar=1e-4)
    with pytest.raises(OptionError, match=r"where='apical' names no section"):
        cell.set(gnabar_hh=0.1, where="apical")
    with pytest.raises(OptionError, match=r"g_pas must be a number, a function .* or a mapping"):
        cell.set(g_pas="0.1", where="dend")
    with pytest.raises(OptionError, match=r"g_pas at soma\[0\]\(0.5\): pas is not inserted in soma\[0\]"):
        cell.set(g_pas={"dend[0](0.5)": 1e-4, "soma[0](0.5)": 1e-4})
    with pytest.raises(OptionError, match=r"g_pas at dend\[1\]\(0.5\): not in the sections where='dend\[0\]'"):
        cell.set(g_pas={"dend[1](0.5)": 1e-4}, where="dend[0]")
    cell.add(nmlcell.IClamp(amp=0.1))
    with pytest.raises(OptionError, match=r"IClamp is a point process: set its values on the PointProcess"):
        cell.set("IClamp", amp=0.2)
    # nothing was recorded by the refused calls
    assert cell._param_set == []


def test_a_global_is_set_without_where():
    """NEURON's GLOBALs (declared GLOBAL, or a PARAMETER not RANGE) hold one
    value: refused per region, taken without where."""
    mechs = nmlcell.load_mod(GLOBAL_MOD)
    m = mechs["leakq"]
    cell = nmlcell.Cell(SOMA3, nseg=1)
    cell.insert(m, where="dend")
    for name in ("eq_leakq", "q10_leakq"):
        with pytest.raises(OptionError, match=rf"{name} is GLOBAL in leakq .*set it without where=") as e:
            cell.set(where="dend", **{name: -60.0})
        assert e.value.element == name and e.value.file and e.value.file.endswith("leakq.mod")
    cell.set(eq_leakq=-60.0)   # one value: fine, though leakq is only in the dendrites
    cell.set(g_leakq=2e-4, where="dend[0]")  # RANGE: per section
    p = cell.parameters()
    eq = np.concatenate([np.asarray(d["eq_leakq"]).ravel() for d in p.values() if "eq_leakq" in d])
    g = np.concatenate([np.asarray(d["g_leakq"]).ravel() for d in p.values() if "g_leakq" in d])
    assert np.all(eq == -60.0) and sorted(g.tolist()) == [1e-4, 2e-4]
    # NEURON's one value holds for a later insert too (one that does not give its own)
    cell.insert(m, where="axon")
    p = cell.parameters()
    eq = np.concatenate([np.asarray(d["eq_leakq"]).ravel() for d in p.values() if "eq_leakq" in d])
    assert eq.size == 3 and np.all(eq == -60.0)
    with pytest.raises(OptionError, match=r"q10_leakq is GLOBAL .*one number, not a function of distance"):
        cell.set(q10_leakq=lambda d: 3.0)
    cell.set(m, where="axon", g=5e-4)   # the Mechanism object, as insert takes it
    p = cell.parameters()
    g = np.concatenate([np.asarray(d["g_leakq"]).ravel() for d in p.values() if "g_leakq" in d])
    assert sorted(g.tolist()) == [1e-4, 2e-4, 5e-4]


@pytest.mark.slow
def test_vmap_over_parameters_of_a_set_cell():
    """cell.parameters() carries the set values; vmapping the simulator over
    two pytrees equals two runs with those values set."""
    import jax
    import jax.numpy as jnp

    cell = _cell(OPS)
    names = ["soma[0](0.5).v", "axon[0](0.9).v"]
    sim = cell.simulator(duration=20.0, dt=0.025, record=names)
    p = cell.parameters()
    run1 = cell.run(20.0, record=names)
    cell.set(gnabar_hh=0.25, where="axon")
    run2 = cell.run(20.0, record=names)
    p2 = cell.parameters()
    batch = jax.tree_util.tree_map(lambda a, b: jnp.stack([a, b]), p, p2)
    out = jax.jit(jax.vmap(sim))(batch)
    for q in names:
        assert np.max(np.abs(np.asarray(out[q][0]) - run1[q])) < 1e-10
        assert np.max(np.abs(np.asarray(out[q][1]) - run2[q])) < 1e-10
    assert np.max(np.abs(run1[names[1]] - run2[names[1]])) > 1.0
