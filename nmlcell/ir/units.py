"""Internal units: one coherent system close to NEURON's.

Base scales (SI value of one internal unit): mass 1e-9 kg, length 1 µm,
time 1 ms, current 1 nA, temperature 1 K, amount 1e-18 mol, luminous 1 cd.
Every derived unit follows, so equations imported from LEMS hold unchanged:
voltage mV, time ms, current nA, capacitance nF, conductance µS,
concentration mM (mol/m³), area µm², charge pC. ``to_internal(value_SI,
dim)`` and ``from_internal`` convert; results are reported in NEURON's
units where a quantity has a customary one (``display_unit``).
"""
from __future__ import annotations

from dataclasses import dataclass

BASE = {"m": 1e-9, "l": 1e-6, "t": 1e-3, "i": 1e-9, "k": 1.0, "n": 1e-18, "j": 1.0}


@dataclass(frozen=True)
class Dim:
    m: int = 0
    l: int = 0
    t: int = 0
    i: int = 0
    k: int = 0
    n: int = 0
    j: int = 0

    @property
    def scale(self) -> float:
        """SI value of one internal unit of this dimension."""
        s = 1.0
        for key, base in BASE.items():
            e = getattr(self, key)
            if e:
                s *= base ** e
        return s

    def __mul__(self, o: "Dim") -> "Dim":
        return Dim(*(getattr(self, f) + getattr(o, f) for f in "mltiknj"))

    def __truediv__(self, o: "Dim") -> "Dim":
        return Dim(*(getattr(self, f) - getattr(o, f) for f in "mltiknj"))

    def __pow__(self, p: int) -> "Dim":
        return Dim(*(getattr(self, f) * p for f in "mltiknj"))

    @property
    def is_none(self) -> bool:
        return self == NONE


NONE = Dim()

# NeuroML core dimensions (NeuroMLCoreDimensions.xml), by name.
NAMED = {
    "none": NONE,
    "time": Dim(t=1),
    "per_time": Dim(t=-1),
    "voltage": Dim(m=1, l=2, t=-3, i=-1),
    "per_voltage": Dim(m=-1, l=-2, t=3, i=1),
    "conductance": Dim(m=-1, l=-2, t=3, i=2),
    "conductanceDensity": Dim(m=-1, l=-4, t=3, i=2),
    "capacitance": Dim(m=-1, l=-2, t=4, i=2),
    "specificCapacitance": Dim(m=-1, l=-4, t=4, i=2),
    "resistance": Dim(m=1, l=2, t=-3, i=-2),
    "resistivity": Dim(m=1, l=3, t=-3, i=-2),
    "charge": Dim(i=1, t=1),
    "charge_per_mole": Dim(i=1, t=1, n=-1),
    "current": Dim(i=1),
    "currentDensity": Dim(i=1, l=-2),
    "length": Dim(l=1),
    "area": Dim(l=2),
    "volume": Dim(l=3),
    "concentration": Dim(l=-3, n=1),
    "substance": Dim(n=1),
    "permeability": Dim(l=1, t=-1),
    "temperature": Dim(k=1),
    "idealGasConstantDims": Dim(m=1, l=2, t=-2, k=-1, n=-1),
    "rho_factor": Dim(l=-1, n=1, t=-1, i=-1),
}

# NEURON's customary unit for a dimension: (unit name, SI value of one unit).
_DISPLAY = {
    NAMED["time"]: ("ms", 1e-3),
    NAMED["voltage"]: ("mV", 1e-3),
    NAMED["current"]: ("nA", 1e-9),
    NAMED["currentDensity"]: ("mA/cm2", 10.0),
    NAMED["conductance"]: ("uS", 1e-6),
    NAMED["conductanceDensity"]: ("S/cm2", 1e4),
    NAMED["capacitance"]: ("nF", 1e-9),
    NAMED["specificCapacitance"]: ("uF/cm2", 1e-2),
    NAMED["concentration"]: ("mM", 1.0),
    NAMED["length"]: ("um", 1e-6),
    NAMED["area"]: ("um2", 1e-12),
    NAMED["per_time"]: ("1/ms", 1e3),
    NAMED["temperature"]: ("K", 1.0),
    NAMED["resistivity"]: ("ohm cm", 1e-2),
    NONE: ("1", 1.0),
}


def display_unit(dim: Dim) -> tuple[str, float]:
    """(unit name, factor): value_in_unit = internal_value * factor."""
    if dim in _DISPLAY:
        name, si = _DISPLAY[dim]
        return name, dim.scale / si
    return _coherent_name(dim), 1.0


def _coherent_name(dim: Dim) -> str:
    names = {"m": "(1e-9 kg)", "l": "um", "t": "ms", "i": "nA", "k": "K", "n": "(1e-18 mol)", "j": "cd"}
    parts = []
    for f in "mltiknj":
        e = getattr(dim, f)
        if e:
            parts.append(names[f] + (f"^{e}" if e != 1 else ""))
    return " ".join(parts) or "1"


def to_internal(value_si: float, dim: Dim) -> float:
    return value_si / dim.scale


def from_internal(value, dim: Dim):
    return value * dim.scale
