"""lower/print_memo: the memoised printing gives the printer's own text for
any identifiers, and the printer's error for a name it lacks."""
import pytest
import sympy as sp

from nmlcell.lower import print_memo
from nmlcell.lower.printer import _Printer


def test_same_text_as_the_printer_for_other_identifiers():
    x, y, v = sp.symbols("x y v", real=True)
    exprs = [sp.exp(-x / y) + 2.0 * x ** 3 - sp.Piecewise((x, v > 1.0), (y, True)),
             -x, x - y, sp.Float(1.0) / 3, (v + 0.001) * x ** 1.0, sp.sqrt(y) * x ** -1]
    maps = [{"x": "s0_x", "y": "p1_y", "v": "s2_v"}, {"x": "d7_x", "y": "q", "v": "v_p"}]
    for names in maps:
        for e in exprs:
            assert print_memo.doprint(_Printer(names), e) == _Printer(names).doprint(e)


def test_a_missing_name_is_the_printers_error():
    x, y = sp.symbols("x y", real=True)
    print_memo.doprint(_Printer({"x": "a", "y": "b"}), x + y)
    with pytest.raises(KeyError, match="no value for 'y'"):
        print_memo.doprint(_Printer({"x": "a"}), x + y)
