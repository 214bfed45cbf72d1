"""Printing of sympy expressions memoised across kernels, once per process.

A channel present in several compositions (Hay's Ih in the soma, the
basal and the apical dendrites), the two evaluations of NEURON's step
(``v`` and ``v + 0.001``), the compartment kernel and the staggered kernel
of one composition: each prints the same sympy expressions under different
identifiers (``d12_ina`` here, ``d7_ina`` there). The printed text depends
on the expression and on the text of each symbol, nothing else (the
printer maps a symbol to its identifier and never looks at that text
again), so an expression is printed once with a placeholder per free
symbol and the placeholders are filled in with each printer's
identifiers: the same text as printing it again, at the cost of a join.
"""
from __future__ import annotations

_MARK = "\x00"
# (printer class, expression) -> (segments, symbol names): the odd
# segments are indices into the names
_TEMPLATES: dict = {}
_LIMIT = 20000   # entries kept (Hay's L5PC: 436); past it the memo starts over


def doprint(printer, e) -> str:
    """``printer.doprint(e)`` for a :class:`nmlcell.lower.printer._Printer`
    (or a subclass), from the memo when ``e`` was printed before."""
    key = (type(printer), e)
    t = _TEMPLATES.get(key)
    if t is None:
        syms = sorted(s.name for s in e.free_symbols)
        names = printer._names
        printer._names = {n: f"{_MARK}{k}{_MARK}" for k, n in enumerate(syms)}
        try:
            text = printer.doprint(e)
        finally:
            printer._names = names
        t = (text.split(_MARK), syms)
        if len(_TEMPLATES) >= _LIMIT:
            _TEMPLATES.clear()
        _TEMPLATES[key] = t
    parts, syms = t
    if len(parts) == 1:
        return parts[0]
    out = list(parts)
    names = printer._names
    for i in range(1, len(parts), 2):
        n = syms[int(parts[i])]
        try:
            out[i] = names[n]
        except KeyError:
            raise KeyError(f"no value for '{n}'") from None
    return "".join(out)
