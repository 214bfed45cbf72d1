"""Point processes for :class:`~nmlcell.cell.Cell` and
:class:`~nmlcell.network.Network`: :class:`PointProcess` (a mechanism and
its parameter values, which stay attached: ``clamp.amp = 0.3`` after
``cell.add(clamp)``), NEURON's ``IClamp`` and ``SEClamp``, and
``_frozen`` (the comparable snapshot of a value given to insert/add/set).
Re-exported by :mod:`nmlcell.cell` and :mod:`nmlcell`.
"""
from __future__ import annotations

from .errors import ModelImportError, OptionError


def _frozen(v):
    """A comparable snapshot of a value given to insert/add/set (a
    function compares by identity)."""
    if isinstance(v, dict):
        return tuple((k, _frozen(x)) for k, x in v.items())
    if isinstance(v, (list, tuple)):
        return tuple(_frozen(x) for x in v)
    if hasattr(v, "tobytes") and hasattr(v, "shape"):
        return ("array", v.shape, str(v.dtype), v.tobytes())
    if callable(v) or not isinstance(v, (int, float, str, type(None))):
        return ("object", id(v))
    return v


class PointProcess:
    """A point process to ``cell.add`` (an ARTIFICIAL_CELL: to
    ``net.add``): a mechanism and its parameter values.

    The values stay attached: ``clamp.amp = 0.3`` (NEURON's ``stim.amp =
    0.3``) after ``cell.add(clamp)`` is seen by the next run of the cell
    or network holding it, which feeds the new value to the compiled run
    (:mod:`nmlcell.model_cache`). Reading gives the values set here
    (not the file's defaults)."""

    _aliases: dict = {}

    def __init__(self, mech, **params):
        object.__setattr__(self, "mech", mech)
        object.__setattr__(self, "params", dict(params))

    def __getattr__(self, name):
        params = self.__dict__.get("params")
        if name.startswith("_") or params is None:
            raise AttributeError(name)
        key = self._aliases.get(name, name)
        if key in params:
            return params[key]
        try:
            held = self._held().get(key)
        except (OptionError, ModelImportError):   # not a mechanism: said where it is used
            held = None
        if held in params:
            return params[held]
        raise AttributeError(f"{self!r}: no value of {name!r} was set (the mechanism's default applies)")

    def __setattr__(self, name, value):
        if name.startswith("_") or name in ("mech", "params"):
            object.__setattr__(self, name, value)
            return
        key = self._aliases.get(name, name)
        held = self._held()
        if key in held:   # NEURON's name of a reassigned PARAMETER (izhi2007b's b): its parameter b0
            self.params.pop(key, None)   # given under that name at construction
            key = held[key]
        m = _mech(self.mech)
        if key not in {p.name for p in m.parameters}:
            raise OptionError(f"{m.name} has no parameter {name!r}", element=m.name)
        self.params[key] = value

    def _held(self) -> dict:
        """NEURON's name -> the parameter holding its set value, for the
        PARAMETERs that a block reassigns (compose maps them the same way)."""
        from .passes.compartment_params import held_parameters

        return held_parameters(_mech(self.mech))

    def __repr__(self):
        name = self.mech if isinstance(self.mech, str) else self.mech.name
        return f"{name}({', '.join(f'{k}={v}' for k, v in self.params.items())})"


def IClamp(delay: float = 0.0, dur: float = 0.0, amp: float = 0.0) -> PointProcess:
    """NEURON's IClamp (``del`` is spelt ``delay``, as in NEURON's Python)."""
    pp = PointProcess("IClamp", **{"del": delay, "dur": dur, "amp": amp})
    pp._aliases = {"delay": "del"}
    return pp


def SEClamp(**params) -> PointProcess:
    """NEURON's single-electrode voltage clamp (dur1, amp1, ..., rs)."""
    return PointProcess("SEClamp", **params)


def _mech(m):
    """:meth:`Cell._mech <nmlcell.cell.Cell._mech>` (a lazy import: cell.py
    imports this module)."""
    from .cell import Cell

    return Cell._mech(m)
