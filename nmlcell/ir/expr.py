"""Expressions: LEMS/NMODL expression text → sympy, with a fixed vocabulary.

Symbols are created with :func:`sym` from structured names (tuples of path
parts); codegen maps them to identifiers, so no state is keyed by a
formatted string.
"""
from __future__ import annotations

import re
from functools import lru_cache

import sympy as sp

from ..errors import ModelImportError

# LEMS functions (jLEMS's set) → sympy
_FUNCS = {
    "exp": sp.exp, "log": sp.log, "ln": sp.log, "sqrt": sp.sqrt, "sin": sp.sin, "cos": sp.cos,
    "tan": sp.tan, "sinh": sp.sinh, "cosh": sp.cosh, "tanh": sp.tanh, "abs": sp.Abs,
    "ceil": sp.ceiling, "floor": sp.floor, "pow": sp.Pow, "atan": sp.atan, "asin": sp.asin,
    "acos": sp.acos, "log10": lambda x: sp.log(x, 10),
    # jLEMS's 0.5 * (signum(x) + 1), as the NEURON export's FUNCTION H: 1/2 at 0
    "H": lambda x: sp.Piecewise((sp.Integer(1), x > 0), (sp.Rational(1, 2), sp.Eq(x, 0)), (sp.Integer(0), True)),
}

_LOGIC = [
    (r"\.gt\.", ">"), (r"\.geq\.", ">="), (r"\.ge\.", ">="), (r"\.lt\.", "<"), (r"\.leq\.", "<="),
    (r"\.le\.", "<="), (r"\.eq\.", "=="), (r"\.neq\.", "!="), (r"\.ne\.", "!="), (r"\.and\.", "and"),
    (r"\.or\.", "or"),
]


def sym(name: str) -> sp.Symbol:
    """The sympy symbol for a flattened (slash-separated) variable name."""
    return sp.Symbol(name, real=True)


@lru_cache(maxsize=4096)
def _parse_cached(text: str):
    import ast

    src = text
    for pat, rep in _LOGIC:
        src = re.sub(pat, f" {rep} ", src, flags=re.IGNORECASE)
    src = src.replace("^", "**")
    # '!' as not (LEMS allows .not.? rarely)
    src = re.sub(r"\.not\.", " not ", src, flags=re.IGNORECASE)
    tree = ast.parse(src.strip(), mode="eval")
    return tree


def parse(text: str, env: dict[str, sp.Expr], *, where: str = "", file: str | None = None,
          line: int | None = None, element: str | None = None) -> sp.Expr:
    """Parse a LEMS expression. ``env`` maps bare names to sympy expressions;
    an unknown name is an error naming the element."""
    import ast

    try:
        tree = _parse_cached(text)
    except SyntaxError as e:
        raise ModelImportError(f"cannot parse expression '{text}'{where}: {e.msg}",
                               file=file, line=line, element=element) from None

    def ev(node):
        if isinstance(node, ast.Expression):
            return ev(node.body)
        if isinstance(node, ast.Constant):
            if isinstance(node.value, (int, float)):
                return sp.Float(node.value) if isinstance(node.value, float) else sp.Integer(node.value)
            raise ModelImportError(f"unexpected constant {node.value!r} in '{text}'{where}",
                                   file=file, line=line, element=element)
        if isinstance(node, ast.Name):
            if node.id in env:
                return env[node.id]
            if node.id in ("pi",):
                return sp.pi
            raise ModelImportError(f"undefined name '{node.id}' in expression '{text}'{where}",
                                   file=file, line=line, element=element)
        if isinstance(node, ast.BinOp):
            a, b = ev(node.left), ev(node.right)
            op = type(node.op)
            if op is ast.Add:
                return a + b
            if op is ast.Sub:
                return a - b
            if op is ast.Mult:
                return a * b
            if op is ast.Div:
                return a / b
            if op is ast.Pow:
                return a ** b
            if op is ast.BitAnd:
                return sp.And(a, b)
            if op is ast.BitOr:
                return sp.Or(a, b)
            if op is ast.Mod:
                return sp.Mod(a, b)
        if isinstance(node, ast.BoolOp):
            vals = [ev(v) for v in node.values]
            return sp.And(*vals) if isinstance(node.op, ast.And) else sp.Or(*vals)
        if isinstance(node, ast.UnaryOp):
            a = ev(node.operand)
            if isinstance(node.op, ast.USub):
                return -a
            if isinstance(node.op, ast.UAdd):
                return a
            if isinstance(node.op, (ast.Invert, ast.Not)):
                return sp.Not(a)
        if isinstance(node, ast.Compare) and len(node.ops) == 1:
            a, b = ev(node.left), ev(node.comparators[0])
            op = type(node.ops[0])
            return {ast.Gt: sp.Gt, ast.GtE: sp.Ge, ast.Lt: sp.Lt, ast.LtE: sp.Le,
                    ast.Eq: sp.Eq, ast.NotEq: sp.Ne}[op](a, b, evaluate=False)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            fn = _FUNCS.get(node.func.id)
            if fn is None:
                if node.func.id == "random":
                    rnd = getattr(env, "random", None)  # an importer that supports it draws from a key
                    if rnd is not None and len(node.args) == 1:
                        return rnd(ev(node.args[0]))
                    raise ModelImportError(f"random() is not supported yet in '{text}'{where}",
                                           file=file, line=line, element=element)
                raise ModelImportError(f"unknown function '{node.func.id}' in '{text}'{where}",
                                       file=file, line=line, element=element)
            return fn(*[ev(a) for a in node.args])
        raise ModelImportError(f"unsupported syntax in expression '{text}'{where}",
                               file=file, line=line, element=element)

    return ev(tree)


class DependencyCycle(ValueError):
    """Raised by :func:`dependency_order`; ``cycle`` lists the names around it."""

    def __init__(self, cycle: list[str]):
        self.cycle = cycle
        super().__init__(" -> ".join(cycle))


def dependency_order(exprs: dict) -> list[str]:
    """The names of ``exprs`` (name -> sympy expression) ordered so that each
    comes after every other name of ``exprs`` its expression reads (a
    depth-first topological sort, stable in the dict's order). Raises
    :class:`DependencyCycle` on a cycle."""
    names = set(exprs)
    deps = {k: sorted({s.name for s in e.free_symbols if s.name in names}) for k, e in exprs.items()}
    order, state = [], {}

    def visit(k, stack):
        st = state.get(k)
        if st == 2:
            return
        if st == 1:
            raise DependencyCycle(stack[stack.index(k):] + [k])
        state[k] = 1
        for dep in deps[k]:
            visit(dep, stack + [k])
        state[k] = 2
        order.append(k)

    for k in exprs:
        visit(k, [])
    return order
