"""NMODL unit strings: their SI factor and dimension, NEURON's unit factors.

NMODL writes units in the syntax of the UNIX ``units`` program that NEURON
ships (``nrnunits.lib``): names with SI prefixes, a trailing digit as a power
(``cm2``), ``/`` dividing by everything after it, ``-`` or a space
multiplying, bare numbers as factors (``1e-4``, ``1+8`` for 1e8). Only the
units that appear in neuron models are known here; an unknown one leaves the
quantity as declared (factor 1) instead of guessing.

The constants are NEURON 9's (``nrnunits.lib``, 2019 SI values): a factor
definition ``FARADAY = (faraday) (coulomb)`` in a UNITS block evaluates to
96485.3321233100184, ``R = (k-mole) (joule/degC)`` to 8.31446261815324.
"""
from __future__ import annotations

import math
import re

from ..ir.units import NONE, Dim

_AVOGADRO = 6.02214076e23
_E = 1.602176634e-19
_K = 1.380649e-23

# name -> (SI factor, Dim over SI base units kg, m, s, A, K, mol)
_L, _M, _T, _I, _TEMP, _N = Dim(l=1), Dim(m=1), Dim(t=1), Dim(i=1), Dim(k=1), Dim(n=1)
_V = Dim(m=1, l=2, t=-3, i=-1)
_BASE: dict[str, tuple[float, Dim]] = {
    "m": (1.0, _L), "meter": (1.0, _L), "metre": (1.0, _L), "micron": (1e-6, _L),
    "g": (1e-3, _M), "gram": (1e-3, _M),
    "s": (1.0, _T), "sec": (1.0, _T), "second": (1.0, _T),
    "A": (1.0, _I), "amp": (1.0, _I), "ampere": (1.0, _I),
    "K": (1.0, _TEMP), "kelvin": (1.0, _TEMP), "degC": (1.0, _TEMP), "degK": (1.0, _TEMP),
    "celsius": (1.0, _TEMP),
    "mol": (1.0, _N), "mole": (1.0, _N),
    "l": (1e-3, _L ** 3), "L": (1e-3, _L ** 3), "liter": (1e-3, _L ** 3), "litre": (1e-3, _L ** 3),
    "M": (1e3, _N / _L ** 3), "molar": (1e3, _N / _L ** 3),
    "C": (1.0, _I * _T), "coul": (1.0, _I * _T), "coulomb": (1.0, _I * _T), "coulombs": (1.0, _I * _T),
    "V": (1.0, _V), "volt": (1.0, _V),
    "ohm": (1.0, _V / _I), "S": (1.0, _I / _V), "siemens": (1.0, _I / _V), "mho": (1.0, _I / _V),
    "F": (1.0, _I * _T / _V), "farad": (1.0, _I * _T / _V),
    "J": (1.0, _V * _I * _T), "joule": (1.0, _V * _I * _T),
    "faraday": (_E * _AVOGADRO, _I * _T), "e": (_E, _I * _T), "k": (_K, _V * _I * _T / _TEMP),
    "pi": (math.pi, NONE), "avogadro": (_AVOGADRO, NONE), "percent": (0.01, NONE),
    "Hz": (1.0, _T ** -1), "hz": (1.0, _T ** -1),
    "Rgas": (_K * _AVOGADRO, _V * _I * _T / _TEMP / _N),   # "k-mole"
}
_PREFIX = {
    "yocto": 1e-24, "zepto": 1e-21, "atto": 1e-18, "femto": 1e-15, "pico": 1e-12, "nano": 1e-9,
    "micro": 1e-6, "milli": 1e-3, "centi": 1e-2, "deci": 1e-1, "deka": 1e1, "hecto": 1e2, "kilo": 1e3,
    "mega": 1e6, "giga": 1e9, "tera": 1e12,
    "y": 1e-24, "z": 1e-21, "a": 1e-18, "f": 1e-15, "p": 1e-12, "n": 1e-9, "u": 1e-6, "µ": 1e-6,
    "m": 1e-3, "c": 1e-2, "d": 1e-1, "da": 1e1, "h": 1e2, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12,
}
_PREFIXES = sorted(_PREFIX, key=len, reverse=True)
_TOKEN = re.compile(r"(?P<num>\d+(\.\d*)?([eE][+-]?\d+|[+-]\d+)?|\.\d+([eE][+-]?\d+)?)"
                    r"|(?P<name>[A-Za-zµ_]+)(?P<pow>\d*)")


def _name(word: str) -> tuple[float, Dim] | None:
    if word in _BASE:
        return _BASE[word]
    if len(word) > 2 and word in _PREFIX:      # a bare prefix word: "milli/liter"
        return _PREFIX[word], NONE
    if word.endswith("s") and word[:-1] in _BASE and len(word) > 3:   # plurals: volts, amps
        return _BASE[word[:-1]]
    for p in _PREFIXES:
        if word.startswith(p) and len(word) > len(p):
            rest = _name_noprefix(word[len(p):])
            if rest is not None:
                return _PREFIX[p] * rest[0], rest[1]
    return None


def _name_noprefix(word: str) -> tuple[float, Dim] | None:
    if word in _BASE:
        return _BASE[word]
    if word.endswith("s") and word[:-1] in _BASE and len(word) > 3:
        return _BASE[word[:-1]]
    return None


def parse_unit(text: str | None) -> tuple[float, Dim] | None:
    """(SI factor, Dim) of a unit string, or None when it is not understood."""
    if text is None:
        return 1.0, NONE
    s = text.strip().strip("()").strip().replace("k-mole", "Rgas")
    if not s or s == "1":
        return 1.0, NONE
    factor, dim = 1.0, NONE
    parts = s.split("/")
    for k, part in enumerate(parts):
        sign = 1 if k == 0 else -1
        pos = 0
        part = part.strip()
        while pos < len(part):
            if part[pos] in " -*.\t" and not _TOKEN.match(part, pos):
                pos += 1
                continue
            mt = _TOKEN.match(part, pos)
            if not mt:
                return None
            pos = mt.end()
            if mt.group("num"):
                num = mt.group("num")
                num = re.sub(r"(?<=\d)([+-]\d+)$", r"e\1", num) if "e" not in num.lower() else num
                factor *= float(num) ** sign
                continue
            got = _name(mt.group("name"))
            if got is None:
                return None
            power = int(mt.group("pow") or 1) * sign
            factor *= got[0] ** power
            dim = dim * got[1] ** power
    return factor, dim


def factor_value(unit1: str, unit2: str) -> float | None:
    """The value of a UNITS factor definition ``name = (unit1) (unit2)``:
    how many ``unit2`` make one ``unit1``."""
    a, b = parse_unit(unit1), parse_unit(unit2)
    if a is None or b is None:
        return None
    return a[0] / b[0]


# NEURON's customary unit for each dimension (the units of the interface:
# v, currents, concentrations...): Dim -> (name, SI value of one unit)
CUSTOMARY: dict[Dim, tuple[str, float]] = {
    _T: ("ms", 1e-3),
    _V: ("mV", 1e-3),
    _I / _L ** 2: ("mA/cm2", 10.0),
    _I: ("nA", 1e-9),
    _I / _V / _L ** 2: ("S/cm2", 1e4),
    _I / _V: ("uS", 1e-6),
    _I * _T / _V / _L ** 2: ("uF/cm2", 1e-2),
    _N / _L ** 3: ("mM", 1.0),
    _L: ("um", 1e-6),
    _L ** 2: ("um2", 1e-12),
    _L ** 3: ("um3", 1e-18),
    _T ** -1: ("/ms", 1e3),
    _TEMP: ("degC", 1.0),
    _V / _I * _L: ("ohm cm", 1e-2),
}


def to_customary(unit: str | None) -> tuple[float, str, Dim]:
    """(factor, unit name, Dim): a value declared in ``unit`` times factor is
    the value in NEURON's customary unit of that dimension. Units without a
    customary counterpart (or not understood) keep their declared name with
    factor 1."""
    got = parse_unit(unit)
    if got is None:
        return 1.0, unit or "", NONE
    si, dim = got
    if dim == _TEMP and unit and unit.strip("() ") not in ("degC", "celsius"):
        return 1.0, unit, dim      # kelvin: an offset, not a factor, from degC
    if dim in CUSTOMARY:
        name, ref = CUSTOMARY[dim]
        f = si / ref
        if abs(f - 1.0) < 1e-12:
            f = 1.0
        return f, name, dim
    if dim == NONE:
        return si, "1", dim
    return 1.0, unit or "", dim
