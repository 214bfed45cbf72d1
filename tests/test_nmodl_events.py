"""NET_RECEIVE lowering, one construct per file (tests/data/mod/events):
what the handler computes, and what is refused with file:line."""
from pathlib import Path

import pytest
import sympy as sp

from nmlcell.errors import UnsupportedError
from nmlcell.importers.nmodl import load_mod_file

EVENTS = Path(__file__).parent / "data" / "mod" / "events"
MECHS = Path(__file__).resolve().parents[1] / "nmlcell" / "mechanisms"


def _handler(m):
    (h,) = m.on_events
    return h.port, [(a.variable, a.expr) for a in h.assignments]


def _apply(assigns, values):
    """Apply the assignments in order, each seeing the previous ones."""
    vals = dict(values)
    for var, e in assigns:
        vals[var] = float(e.subs({sp.Symbol(k): v for k, v in vals.items()}).subs(
            {s: vals[s.name] for s in e.free_symbols if s.name in vals}))
    return vals


def test_expsyn_and_exp2syn_handlers():
    port, a = _handler(load_mod_file(MECHS / "expsyn.mod"))
    assert port == "in" and [v for v, _e in a] == ["g"]
    assert _apply(a, {"g": 0.5, "__w0": 0.25})["g"] == 0.75
    _port, a = _handler(load_mod_file(MECHS / "exp2syn.mod"))
    got = _apply(a, {"A": 1.0, "B": 2.0, "__w0": 0.5, "factor": 3.0})
    assert (got["A"], got["B"]) == (2.5, 3.5)


def test_assignments_are_simultaneous():
    """a = b + w; c = a*2: c reads the new a (NMODL is sequential), and the
    ordered handler gives that whatever order it applies them in."""
    _port, a = _handler(load_mod_file(EVENTS / "swap.mod"))
    got = _apply(a, {"a": 10.0, "b": 1.0, "c": 0.0, "__w0": 2.0})
    assert (got["a"], got["c"]) == (3.0, 6.0)


def test_assignments_reading_each_other():
    """tmp = a; a = b + w; b = tmp (a swap): one new value goes to a
    scratch state first (``a#new`` or ``b#new``), the swap is exact."""
    m = load_mod_file(EVENTS / "cycle.mod")
    _port, a = _handler(m)
    assert any(v.endswith("#new") for v, _e in a)
    assert {v for v, _e in a if v.endswith("#new")} <= {s.name for s in m.states}
    got = _apply(a, {"a": 10.0, "b": 1.0, "__w0": 2.0})
    assert (got["a"], got["b"]) == (3.0, 10.0)


@pytest.mark.parametrize("name, what, line", [
    ("netcon_initial_range.mod", "NET_RECEIVE's INITIAL assigns 'tl'", 8),   # per-NetCon: test_nmodl_netcon_state
    # selfevent_pp.mod (INITIAL's net_send(5, 1) in a POINT_PROCESS) imports since nmodl_selfev:
    # (nmlcell runs it; NEURON's nocmodl refuses its g, a STATE without a derivative); such a
    # self-event against NEURON: tests/test_nmodl_selfevents.py::test_initial_delayed_self_event
])
def test_refused_with_line(name, what, line):
    with pytest.raises(UnsupportedError) as ei:
        load_mod_file(EVENTS / name)
    msg = str(ei.value)
    assert what in msg and f"{name}:{line}" in msg and "\n" not in msg, msg


def test_watch_and_artificial_cell(corpus):
    m = load_mod_file(corpus / "izhikevich" / "NEURON" / "izhi2003a.mod")
    spikes = [c for c in m.conditions if "spike" in c.events]
    assert len(spikes) == 1 and {a.variable for a in spikes[0].assignments} == {"V", "u", "watch0"}
    m = load_mod_file(corpus / "neuron-builtin-mods" / "demo_release" / "invlfire.mod")
    assert m.kind == "artificial_cell" and {"selfev_t", "selfev_flag", "spiked"} <= set(m.state_names)
