"""Import an NMODL ``.mod`` file, unchanged, into an IR :class:`Mechanism`.

The file is parsed by the NMODL framework that ships with NEURON
(``neuron.nmodl``: ``NmodlDriver``, ``SymtabVisitor``,
``KineticBlockVisitor`` turns KINETIC schemes into ODEs); its statements are
then executed symbolically into sympy: LOCALs, FUNCTION and PROCEDURE calls
(inlined with their arguments), IF/ELSE (as ``Piecewise``), TABLEs (ignored:
the function itself is evaluated, exactly). What results is the same IR the
LEMS importer produces:

- parameters (PARAMETER, CONSTANT, and ASSIGNED variables never assigned in
  the file) with their values converted to NEURON's customary units,
- states (STATE, plus ASSIGNED variables set only in INITIAL, held constant
  during the run with derivative 0),
- ``derived``: the assignments of the SOLVEd blocks then of BREAKPOINT, in
  evaluation order (a variable assigned twice keeps its name on the last
  value; earlier values are ``name__k``),
- ``derivatives`` of the DERIVATIVE (and converted KINETIC) blocks,
- ``on_start``: the INITIAL block's assignments to states,
- inputs (``v``, ``t``, ``dt``, ``celsius``, ``area``, ``diam``, the ion
  variables read) and the NMODL extras (``ions``, ``currents``, ``solves``,
  ``steady_state``, ``conserve``).

Everything the IR cannot express yet (VERBATIM, POINTER, NET_RECEIVE,
LINEAR/NONLINEAR, random numbers...) is listed in ``Mechanism.unsupported``
with file:line; :func:`nmlcell.passes.compat.check` turns the list into one
error, which :func:`load_mod_file` does unless ``check=False``.
Values and expressions stay in NEURON's units (``Mechanism.units ==
"neuron"``).
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import sympy as sp

from ..errors import ModelImportError
from ..ir.expr import sym
from ..ir.mechanism import (Assignment, Current, Derived, Input, IonUse, Mechanism, Parameter,
                            Source, State)
from ..ir.units import NONE, Dim
from .nmodl_units import factor_value, parse_unit, to_customary

__all__ = ["load_mod_file", "load_mod_folder", "parse_mod_file"]

# Variables NEURON provides to every mechanism: name -> (Dim, Input kind, unit)
_SPECIAL = {
    "v": (Dim(m=1, l=2, t=-3, i=-1), "requirement", "mV"),
    "t": (Dim(t=1), "time", "ms"),
    "dt": (Dim(t=1), "global", "ms"),
    "celsius": (Dim(k=1), "global", "degC"),
    "area": (Dim(l=2), "requirement", "um2"),
    "diam": (Dim(l=1), "requirement", "um"),
}
_ION_DIMS = {"e": Dim(m=1, l=2, t=-3, i=-1), "i": Dim(i=1, l=-2), "c": Dim(l=-3, n=1)}

_MATH = {
    "exp": sp.exp, "log": sp.log, "log10": lambda x: sp.log(x, 10), "sqrt": sp.sqrt,
    "fabs": sp.Abs, "abs": sp.Abs, "pow": sp.Pow, "tanh": sp.tanh, "sinh": sp.sinh, "cosh": sp.cosh,
    "sin": sp.sin, "cos": sp.cos, "tan": sp.tan, "atan": sp.atan, "asin": sp.asin, "acos": sp.acos,
    "atan2": sp.atan2, "floor": sp.floor, "ceil": sp.ceiling,
    "fmin": sp.Min, "fmax": sp.Max, "min": sp.Min, "max": sp.Max,
}
_RANDOM = {"random", "normrand", "exprand", "scop_random", "unirand", "poisrand", "urand", "erand",
           "set_seed", "random_negexp", "random_uniform", "random_normal", "random_setseq",
           "nrnran123_normal", "mcell_ran4"}
_EVENTS = {"net_send", "net_event", "net_move", "WATCH"}
_IGNORED_CALLS = {"at_time"}   # NEURON's at_time() only schedules a CVODE stop in fixed steps

_BINOP = {
    "+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b,
    "/": lambda a, b: a / b, "^": lambda a, b: sp.Pow(a, b),
    "<": lambda a, b: _rel(sp.Lt, a, b), ">": lambda a, b: _rel(sp.Gt, a, b),
    "<=": lambda a, b: _rel(sp.Le, a, b), ">=": lambda a, b: _rel(sp.Ge, a, b),
    "==": lambda a, b: _rel(sp.Eq, a, b), "!=": lambda a, b: _rel(sp.Ne, a, b),
    "&&": lambda a, b: sp.And(_bool(a), _bool(b)), "||": lambda a, b: sp.Or(_bool(a), _bool(b)),
}


def _rel(op, a, b):
    """A comparison; one whose side is a NaN or infinite constant (an
    unreachable branch of an IF, e.g. 0/0 in a removable singularity) is
    built unevaluated instead of failing."""
    try:
        return op(a, b)
    except TypeError:
        return op(a, b, evaluate=False)


def _piecewise(*pieces):
    try:
        return sp.Piecewise(*pieces)
    except TypeError:
        with sp.evaluate(False):
            return sp.Piecewise(*pieces)


_LOGICAL = (sp.core.relational.Relational, sp.logic.boolalg.BooleanFunction, sp.logic.boolalg.BooleanAtom)


def _plain(e):
    """Rewrite sympy's ITE (which Piecewise folding creates from an IF on a
    value that is itself conditional) as And/Or/Not, so that code printers
    need only the usual logic."""
    from sympy.logic.boolalg import ITE

    if not isinstance(e, sp.Basic) or not e.has(ITE):
        return e

    def rw(x):
        c, a, b = x.args
        return sp.Or(sp.And(c, a), sp.And(sp.Not(c), b))

    try:
        return e.replace(lambda x: isinstance(x, ITE), rw)
    except TypeError:
        with sp.evaluate(False):
            return e.replace(lambda x: isinstance(x, ITE), rw)


def _bool(x):
    if isinstance(x, _LOGICAL):
        return x
    return _rel(sp.Ne, x, 0)


def _num(x):
    """A boolean used as a number (NMODL has no booleans)."""
    if isinstance(x, _LOGICAL):
        return _piecewise((sp.Integer(1), x), (sp.Integer(0), True))
    return x


# ---------------------------------------------------------------------------
# parsing


@dataclass
class _Text:
    """Comment-stripped lines of each source file (the .mod and its
    INCLUDEs), to give constructs a file:line (the framework's Python
    bindings do not expose token positions)."""
    files: list = field(default_factory=list)   # (path, [lines])

    def add(self, path: str, text: str):
        text = re.sub(r"(?ms)^\s*COMMENT\b.*?^\s*ENDCOMMENT\b",
                      lambda m: "\n" * m.group(0).count("\n"), text)
        lines = [re.sub(r"[:?].*$", "", ln) for ln in text.split("\n")]
        self.files.append((path, lines))

    def find(self, pattern: str, nth: int = 0, within: str | None = None) -> tuple[str | None, int | None]:
        """(file, line) of the nth line matching ``pattern``; with ``within``
        (a block header pattern), the first match after that header, if any."""
        if within:
            hdr = re.compile(within)
            rx = re.compile(pattern)
            for path, lines in self.files:
                for i, ln in enumerate(lines):
                    if hdr.search(ln):
                        for j in range(i, len(lines)):
                            if rx.search(lines[j]):
                                return path, j + 1
        rx = re.compile(pattern)
        k = 0
        for path, lines in self.files:
            for i, ln in enumerate(lines):
                if rx.search(ln):
                    if k == nth:
                        return path, i + 1
                    k += 1
        return (self.files[0][0] if self.files else None), None

    def all(self, pattern: str) -> list[tuple[str, int]]:
        rx = re.compile(pattern)
        return [(path, i + 1) for path, lines in self.files for i, ln in enumerate(lines) if rx.search(ln)]


def _syntax_error(path: str, text: str, err: Exception) -> ModelImportError:
    msg = str(err)
    m = re.search(r"Location\s*:\s*(\d+)\.(\d+)", msg)
    first = msg.strip().split("\n")[0]
    first = re.sub(r"\s*\[Location[^\]]*\]", "", first)
    first = re.sub(r"^NMODL (Parser|Lexer) Error\s*:\s*", "", first).strip()
    if not m:
        e = ModelImportError(f"{path}: NMODL syntax error: {first}")
        e.file = path
        return e
    line, col = int(m.group(1)), int(m.group(2))
    src = text.split("\n")[line - 1] if 0 < line <= text.count("\n") + 1 else ""
    tok = re.match(r"\S+", src[col - 1:]) if col >= 1 else None
    token = tok.group(0) if tok else "end of file"
    e = ModelImportError(f"{path}:{line}:{col}: NMODL syntax error at '{token}': {first}")
    e.file, e.line = path, line
    return e


def parse_mod_file(path) -> tuple[object, _Text]:
    """Parse ``path`` with the NMODL framework (``NmodlDriver.parse_file``,
    which reads INCLUDE files from the .mod file's own folder); the blocks
    of INCLUDEd files are spliced in at their place. Returns
    (ast.Program, source text index)."""
    from neuron import nmodl

    path = str(path)
    texts = _Text()
    try:
        text = Path(path).read_text(errors="replace")
    except OSError as e:
        raise ModelImportError(f"cannot read NMODL file: {e.strerror}", file=path) from None
    texts.add(path, text)
    try:
        prog = nmodl.NmodlDriver().parse_file(path)
    except RuntimeError as e:
        msg = str(e)
        if "can not open file" in msg:
            m = re.search(r'can not open file\s*:\s*"?([^"\[]+)"?', msg)
            ln = re.search(r"Location\s*:\s*(\d+)", msg)
            raise ModelImportError(f"INCLUDE \"{m.group(1).strip() if m else '?'}\" not found beside the .mod file",
                                   file=path, line=int(ln.group(1)) if ln else None) from None
        raise _syntax_error(path, text, e) from None
    folder = os.path.dirname(os.path.abspath(path))

    def splice(blocks):
        out = []
        for b in blocks:
            if not b.is_include():
                out.append(b)
                continue
            name = str(b.filename.eval() if hasattr(b.filename, "eval") else b.filename).strip('"')
            inc = os.path.join(folder, name)
            if os.path.isfile(inc):
                texts.add(inc, Path(inc).read_text(errors="replace"))
            out.extend(splice(list(b.blocks)))
        return out

    blocks = list(prog.blocks)
    if any(b.is_include() for b in blocks):
        prog.blocks = splice(blocks)
    return prog, texts


# ---------------------------------------------------------------------------
# symbolic execution


class _Unsupported(Exception):
    pass


@dataclass
class _Frame:
    locals: dict
    fname: str | None = None     # FUNCTION being evaluated (its name holds the result)


def _text_pattern(node) -> str:
    """A regex matching the source text of an expression node (its tokens,
    any spacing between them), to find its line."""
    from neuron import nmodl

    text = nmodl.to_nmodl(node)
    toks = re.findall(r"\w+(?:\.\w*)?|[^\w\s]", text)
    return r"[\s()]*".join(re.escape(t) for t in toks if t not in "()") if toks else ""


def _name(node) -> str:
    return node.get_node_name()


class _Importer:
    def __init__(self, path: str):
        from neuron.nmodl import symtab, visitor

        self.path = path
        self.prog, self.text = parse_mod_file(path)
        self.unsupported: list[str] = []
        symtab.SymtabVisitor().visit_program(self.prog)
        self.kinetic = [b for b in self.prog.blocks if b.is_kinetic_block()]
        self.kinetic_names = {_name(b) for b in self.kinetic}
        if self.kinetic:
            try:
                visitor.KineticBlockVisitor().visit_program(self.prog)
            except RuntimeError as e:
                self._unsup(f"KINETIC block the NMODL framework cannot convert ({e})", r"\bKINETIC\b")

    # -- messages --------------------------------------------------------
    def _where(self, pattern: str | None, nth: int = 0) -> str:
        if pattern is None:
            return os.path.basename(self.path)
        f, ln = self.text.find(pattern, nth)
        return f"{os.path.basename(f or self.path)}:{ln}" if ln else os.path.basename(f or self.path)

    def _unsup(self, what: str, pattern: str | None = None, nth: int = 0):
        item = f"{what} ({self._where(pattern, nth)})"
        if item not in self.unsupported:
            self.unsupported.append(item)

    def _src(self, pattern: str | None, origin: str) -> Source:
        f, ln = self.text.find(pattern) if pattern else (self.path, None)
        return Source(f or self.path, ln, origin)

    # -- declarations ------------------------------------------------------
    def declarations(self):
        self.suffix = None
        self.kind = "density"
        self.ions: list[IonUse] = []
        self.ion_reads: dict[str, str] = {}    # variable -> ion
        self.ion_writes: dict[str, str] = {}
        self.nonspecific: list[str] = []
        self.electrode: list[str] = []
        self.range: set[str] = set()
        self.globals: set[str] = set()
        self.threadsafe = False
        self.units: dict[str, sp.Expr] = {}      # UNITS factors (FARADAY...)
        self.params: dict[str, tuple] = {}       # name -> (value, unit, limits, constant)
        self.state_decl: dict[str, str | None] = {}
        self.assigned_decl: dict[str, str | None] = {}
        self.functions: dict[str, object] = {}
        self.procedures: dict[str, object] = {}
        self.derivative_blocks: dict[str, object] = {}
        self.defines: dict[str, sp.Expr] = {}
        self.file_locals: set[str] = set()
        self.arrays: set[str] = set()      # STATE/ASSIGNED arrays (not lowered)
        self.function_tables: set[str] = set()
        self.initial = None
        self.breakpoint = None
        for b in self.prog.blocks:
            t = b.get_node_type_name()
            if t == "NeuronBlock":
                self._neuron_block(b)
            elif t == "UnitBlock":
                for d in b.definitions:
                    if d.get_node_type_name() == "FactorDef":
                        self._factor(d)
            elif t == "ParamBlock":
                for s in b.statements:
                    if s.get_node_type_name() != "ParamAssign":
                        continue
                    val = float(s.value.eval()) if s.value is not None else 0.0
                    unit = s.unit.name.eval() if s.unit is not None else None
                    self.params[_name(s)] = (val, unit, False)
            elif t == "ConstantBlock":
                for s in b.statements:
                    if s.get_node_type_name() == "ConstantStatement":
                        c = s.constant
                        unit = c.unit.name.eval() if c.unit is not None else None
                        self.params[_name(c)] = (float(c.value.eval()), unit, True)
            elif t in ("StateBlock", "AssignedBlock"):
                decl = self.state_decl if t == "StateBlock" else self.assigned_decl
                for d in b.definitions:
                    if d.get_node_type_name() != "AssignedDefinition":
                        continue
                    n = _name(d)
                    if d.length is not None:
                        self.arrays.add(n)
                        self._unsup(f"array variable '{n}'", rf"\b{n}\s*\[")
                    decl[n] = d.unit.name.eval() if d.unit is not None else None
            elif t == "FunctionBlock":
                self.functions[_name(b)] = b
            elif t == "ProcedureBlock":
                self.procedures[_name(b)] = b
            elif t == "DerivativeBlock":
                self.derivative_blocks[_name(b)] = b
            elif t == "InitialBlock":
                self.initial = b
            elif t == "BreakpointBlock":
                self.breakpoint = b
            elif t == "Define":
                self.defines[_name(b)] = sp.Float(b.value.eval())
            elif t == "LocalListStatement":
                for v in b.variables:
                    self.file_locals.add(_name(v))
            elif t == "NetReceiveBlock":
                self._unsup("NET_RECEIVE (events)", r"\bNET_RECEIVE\b")
            elif t in ("LinearBlock", "NonLinearBlock"):
                kw = "LINEAR" if t == "LinearBlock" else "NONLINEAR"
                self._unsup(f"{kw} block '{_name(b)}'", rf"\b{kw}\s+{_name(b)}\b")
            elif t == "FunctionTableBlock":
                self.function_tables.add(_name(b))
                self._unsup(f"FUNCTION_TABLE '{_name(b)}'", rf"\bFUNCTION_TABLE\s+{_name(b)}\b")
            elif t == "Verbatim":
                pass   # all VERBATIM blocks are listed below, wherever they are
            elif t in ("DiscreteBlock", "PartialBlock", "BeforeBlock", "AfterBlock", "ConstructorBlock",
                       "DestructorBlock", "LonDiffuse", "LongitudinalDiffusionBlock", "ForNetcon",
                       "KineticBlock", "CvodeBlock"):
                kw = {"DiscreteBlock": "DISCRETE", "PartialBlock": "PARTIAL", "BeforeBlock": "BEFORE",
                      "AfterBlock": "AFTER", "ConstructorBlock": "CONSTRUCTOR", "DestructorBlock": "DESTRUCTOR",
                      "ForNetcon": "FOR_NETCONS", "LongitudinalDiffusionBlock": "LONGITUDINAL_DIFFUSION",
                      "LonDiffuse": "LONGITUDINAL_DIFFUSION", "KineticBlock": "KINETIC",
                      "CvodeBlock": "CVODE"}[t]
                self._unsup(f"{kw} block", rf"\b{kw}\b")
        for f, ln in self.text.all(r"\bVERBATIM\b"):
            self.unsupported.append(f"VERBATIM (C code) ({os.path.basename(f)}:{ln})")
        if self.suffix is None:
            raise ModelImportError("NMODL file has no SUFFIX, POINT_PROCESS or ARTIFICIAL_CELL in its NEURON block",
                                   file=self.path)

    def _neuron_block(self, b):
        for s in b.statement_block.statements:
            t = s.get_node_type_name()
            if t == "Suffix":
                kw = _name(s.type)
                self.suffix = _name(s.name)
                self.kind = {"SUFFIX": "density", "POINT_PROCESS": "point_process",
                             "ARTIFICIAL_CELL": "artificial_cell"}.get(kw, "density")
                if kw == "ARTIFICIAL_CELL":
                    self._unsup("ARTIFICIAL_CELL (event-driven cell)", r"\bARTIFICIAL_CELL\b")
            elif t == "Useion":
                ion = _name(s.name)
                reads = tuple(_name(r) for r in s.readlist)
                writes = tuple(_name(w) for w in s.writelist)
                val = float(s.valence.value.eval()) if s.valence is not None else None
                self.ions.append(IonUse(ion, reads, writes, val))
                for r in reads:
                    self.ion_reads[r] = ion
                for w in writes:
                    self.ion_writes[w] = ion
            elif t == "Nonspecific":
                self.nonspecific += [_name(c) for c in s.currents]
            elif t == "ElectrodeCurrent":
                self.electrode += [_name(c) for c in s.currents]
            elif t == "Range":
                self.range |= {_name(v) for v in s.variables}
            elif t == "Global":
                self.globals |= {_name(v) for v in s.variables}
            elif t == "ThreadSafe":
                self.threadsafe = True
            elif t == "Pointer":
                self._unsup("POINTER variable(s) " + ", ".join(_name(v) for v in s.variables), r"\bPOINTER\b")
            elif t == "BbcorePointer":
                self._unsup("BBCOREPOINTER variable(s) " + ", ".join(_name(v) for v in s.variables),
                            r"\bBBCOREPOINTER\b")
            elif t == "RandomVarList":
                self._unsup("RANDOM variable(s)", r"\bRANDOM\b")
            elif t == "External":
                self._unsup("EXTERNAL variable(s)", r"\bEXTERNAL\b")

    def _factor(self, d):
        n = _name(d)
        if d.value is not None:
            val = float(d.value.eval())
        else:
            u1 = d.unit1.name.eval() if d.unit1 is not None else None
            u2 = d.unit2.name.eval() if d.unit2 is not None else None
            val = factor_value(u1, u2) if u1 is not None and u2 is not None else None
            if val is None:
                self._unsup(f"UNITS factor {n} = ({u1}) ({u2}) with a unit nmlcell does not know",
                            rf"\b{n}\s*=")
                val = 1.0
        self.units[n] = sp.Float(val)

    # -- which variable is what -------------------------------------------
    def classify(self):
        declared = set(self.params) | set(self.state_decl) | set(self.assigned_decl)
        self.inputs: dict[str, Input] = {}
        for name in self.ion_reads:
            if name in self.state_decl:
                continue
            self.inputs[name] = Input(name, _ION_DIMS.get(name[0], None) if name[0] in "ei" else
                                      _ION_DIMS["c"], "requirement")

        # assignments per phase (following calls)
        self.step_blocks = []   # (label, statement_block)
        self.solves = []
        if self.breakpoint is not None:
            for s in self.breakpoint.statement_block.statements:
                if s.is_expression_statement() and s.expression.is_solve_block():
                    sb = s.expression
                    bname = _name(sb.block_name)
                    method = _name(sb.method) if sb.method is not None else "none"
                    if sb.steadystate is not None:
                        method = "steadystate"
                    self.solves.append((bname, method))
                    if bname in self.derivative_blocks:
                        self.step_blocks.append((bname, self.derivative_blocks[bname]))
                    elif bname in self.procedures:
                        self._unsup(f"SOLVE {bname} (a PROCEDURE: a discrete update each step)",
                                    rf"\bSOLVE\s+{bname}\b")
                    else:
                        self._unsup(f"SOLVE of block '{bname}'", rf"\bSOLVE\s+{bname}\b")
        assigned_step: set[str] = set()
        for _, blk in self.step_blocks:
            assigned_step |= self._assigned(blk, set())
        if self.breakpoint is not None:
            assigned_step |= self._assigned(self.breakpoint, set())
        assigned_init = self._assigned(self.initial, set()) if self.initial is not None else set()
        self.assigned_step = assigned_step
        self.assigned_init = assigned_init

        self.param_names: list[str] = []
        self.frozen: list[str] = []
        self.frozen_param: dict[str, str] = {}   # frozen PARAMETER -> parameter holding its set value
        self.zero_params: list[str] = []
        for n in self.params:
            if n in _SPECIAL or n in self.inputs:
                continue
            if n in assigned_step or n in self.state_decl:
                continue
            if n in assigned_init:
                self.frozen.append(n)
                p0 = f"{n}0" if f"{n}0" not in declared else f"{n}__0"
                self.frozen_param[n] = p0
                continue
            self.param_names.append(n)
        for n in self.assigned_decl:
            if n in _SPECIAL or n in self.inputs or n in self.state_decl or n in assigned_step:
                continue
            if n in assigned_init:
                self.frozen.append(n)
            else:
                self.zero_params.append(n)
        for n in self.file_locals:
            if n not in assigned_step and n in assigned_init:
                self.frozen.append(n)

    def _assigned(self, node, seen: set) -> set:
        """Non-local names assigned by a block, through the calls it makes."""
        from neuron.nmodl import ast, visitor

        out = set()
        lv = visitor.AstLookupVisitor()
        local_names = {_name(v) for ll in lv.lookup(node, ast.AstNodeType.LOCAL_LIST_STATEMENT)
                       for v in ll.variables}
        for be in lv.lookup(node, ast.AstNodeType.BINARY_EXPRESSION):
            if be.op.eval() == "=" and be.lhs.is_var_name():
                n = be.lhs.name.get_node_name()
                if n not in local_names:
                    out.add(n)
        for fc in lv.lookup(node, ast.AstNodeType.FUNCTION_CALL):
            fn = _name(fc)
            if fn in seen:
                continue
            seen.add(fn)
            body = self.procedures.get(fn) or self.functions.get(fn)
            if body is not None:
                args = {_name(a) for a in body.parameters}
                out |= (self._assigned(body, seen) - args - {fn})
        return out

    # -- the environment at the start of a phase ------------------------------
    def base_env(self) -> dict:
        env = dict(self.units)
        env.update(self.defines)
        self.param_scale = {}
        for n in self.param_names:
            val, unit, _const = self.params[n]
            f, _u, _d = to_customary(unit)
            self.param_scale[n] = f
            env[n] = sym(n) / sp.Float(f) if f != 1.0 else sym(n)
        for n in self.zero_params:
            env[n] = sym(n)
        for n in list(self.state_decl) + self.frozen:
            env[n] = sym(n)
        for n in self.inputs:
            env[n] = sym(n)
        for n in _SPECIAL:
            env.setdefault(n, sym(n))
        return env

    # -- statements ------------------------------------------------------------
    def run_block(self, block, env: dict, phase: str):
        """Execute a block's statements in ``env`` (name -> expr, updated in
        place). ``phase``: "step" or "initial"."""
        self.phase = phase
        self.block = ("BREAKPOINT", r"(?i)^\s*BREAKPOINT\b") if phase == "step" else \
            ("INITIAL", r"(?i)^\s*INITIAL\b")
        frame = _Frame({})
        self._stmts(block.statement_block.statements, env, frame, depth=0)

    def _stmts(self, stmts, env, frame, depth):
        for s in stmts:
            try:
                self._stmt(s, env, frame, depth)
            except _Unsupported as e:
                self._unsup(*e.args)

    def _stmt(self, s, env, frame, depth):
        self.depth_of_call = depth
        t = s.get_node_type_name()
        if t == "ExpressionStatement":
            e = s.expression
            et = e.get_node_type_name()
            if et == "BinaryExpression" and e.op.eval() == "=":
                self._assign(e.lhs, e.rhs, env, frame, depth)
            elif et == "DiffEqExpression":
                be = e.expression
                if self.phase != "step":
                    raise _Unsupported("a derivative outside a DERIVATIVE block", r"'")
                st = _name(be.lhs.name)
                if be.lhs.name.get_node_type_name() == "PrimeName" and int(be.lhs.name.order.eval()) != 1:
                    raise _Unsupported(f"higher-order derivative of '{st}'", rf"\b{st}''")
                rhs = self._expr(be.rhs, env, frame)
                self.derivatives[st] = rhs
            elif et == "SolveBlock":
                if self.phase == "step":
                    # NEURON: the BREAKPOINT statements before and after the
                    # SOLVE run at the same v and states; the SOLVEd block's
                    # own rebinding of v (or another input) stays inside it
                    bname = _name(e.block_name)
                    blk = self.derivative_blocks.get(bname)
                    if blk is not None:
                        saved = {n: env[n] for n in list(_SPECIAL) + list(self.inputs) if n in env}
                        outer, self.block = self.block, (
                            f"{'KINETIC' if bname in self.kinetic_names else 'DERIVATIVE'} {bname}",
                            rf"(?i)^\s*(DERIVATIVE|KINETIC)\s+{bname}\b")
                        self._stmts(blk.statement_block.statements, env, _Frame({}), depth)
                        self.block = outer
                        env.update(saved)
                elif self.phase == "initial":
                    bname = _name(e.block_name)
                    if e.steadystate is not None:
                        self.steady_blocks.append((bname, _name(e.steadystate)))
                    else:
                        raise _Unsupported(f"SOLVE {bname} in INITIAL without STEADYSTATE",
                                           rf"\bSOLVE\s+{bname}\b")
            elif et in ("WrappedExpression", "FunctionCall"):
                call = e.expression if et == "WrappedExpression" else e
                if call.is_function_call():
                    self._call(call, env, frame, statement=True)
                else:
                    self._expr(call, env, frame)
            elif et == "StatementBlock":
                self._stmts(e.statements, env, frame, depth)
            elif et == "InitialBlock":
                pass   # INITIAL inside NET_RECEIVE: NET_RECEIVE is listed already
            else:
                raise _Unsupported(f"statement {et}", None)
        elif t == "LocalListStatement":
            for v in s.variables:
                frame.locals[_name(v)] = sp.Integer(0)
        elif t == "IfStatement":
            self._if(s, env, frame, depth)
        elif t == "FromStatement":
            self._from(s, env, frame, depth)
        elif t == "WhileStatement":
            self._while(s, env, frame, depth)
        elif t in ("TableStatement", "UnitState", "LineComment", "BlockComment", "Conserve",
                   "MutexLock", "MutexUnlock"):
            if t == "Conserve":
                self._conserve(s, env, frame)
        elif t == "Verbatim":
            pass   # listed once per file
        elif t == "ProtectStatement":
            self._stmt_expr_assign(s.expression, env, frame, depth)
        elif t == "WatchStatement":
            raise _Unsupported("WATCH (events)", r"\bWATCH\b")
        elif t == "LagStatement":
            raise _Unsupported("LAG statement", r"\bLAG\b")
        elif t == "Compartment" or t == "LonDiffuse":
            pass
        else:
            raise _Unsupported(f"statement {t}", None)

    def _stmt_expr_assign(self, e, env, frame, depth):
        if e.is_binary_expression() and e.op.eval() == "=":
            self._assign(e.lhs, e.rhs, env, frame, depth)

    def _conserve(self, s, env, frame):
        react = s.react
        if react.get_node_type_name() not in ("ReactVarName", "VarName", "Name"):
            raise _Unsupported("CONSERVE of an expression", r"\bCONSERVE\b")
        st = react.get_node_name()
        self.conserve.append((st, self._expr(s.expr, env, frame)))

    def _assign(self, lhs, rhs, env, frame, depth):
        if lhs.is_name():
            n = lhs.get_node_name()
        elif lhs.is_var_name() and lhs.index is None:
            n = self._varname(lhs, env, frame)
        else:
            raise _Unsupported("assignment to an array element", None)
        val = _num(self._expr(rhs, env, frame))
        if n in frame.locals:
            frame.locals[n] = val
        elif frame.fname == n:
            frame.locals["__return__"] = val
        else:
            self._set_global(n, val, env, depth)

    def _set_global(self, n, val, env, depth):
        b = n.split("[")[0]
        known = (n in env or b in self.assigned_step or b in self.assigned_init or n in _SPECIAL)
        if not known:
            raise _Unsupported(f"assignment to undeclared variable '{n}'", rf"\b{re.escape(b)}\b")
        if self.phase == "step":
            if n in self.state_decl:
                raise _Unsupported(f"assignment to STATE '{n}' outside INITIAL (a discrete jump)",
                                   rf"\b{re.escape(b)}\b")
            if n in _SPECIAL or n in self.inputs:
                env[n] = val   # NEURON: a copy local to this mechanism's evaluation
                return
            if depth == 0:
                env[n] = self._version(n, val)
            else:
                env[n] = val
        else:
            env[n] = val

    def _version(self, n, val):
        k = self.version_count.get(n, 0) + 1
        self.version_count[n] = k
        s = sp.Symbol(f"{n}#{k}", real=True)
        self.versions.append((n, s, val, self.block))
        return s

    def _memo_guard(self, s) -> bool:
        """``if (s_x != x) { s_x = x  ... }`` with ``s_x`` a file LOCAL:
        NEURON's idiom for recomputing values only when ``x`` changed
        (capump.mod, nacaex.mod). The values it guards equal what the
        body computes from the current ``x``, so the body runs as if
        unconditional."""
        from neuron.nmodl import ast, visitor

        if s.elseifs or s.elses is not None:
            return False
        c = s.condition
        while c.get_node_type_name() in ("WrappedExpression", "ParenExpression"):
            c = c.expression
        if c.get_node_type_name() != "BinaryExpression" or c.op.eval() != "!=":
            return False
        lv = visitor.AstLookupVisitor()
        cond_names = {v.name.get_node_name() for v in lv.lookup(c, ast.AstNodeType.VAR_NAME)}
        cache = cond_names & self.file_locals
        if len(cache) != 1:
            return False
        (cname,) = cache
        for st in s.statement_block.statements:
            if st.is_expression_statement() and st.expression.is_binary_expression() \
                    and st.expression.op.eval() == "=" and st.expression.lhs.is_var_name() \
                    and st.expression.lhs.name.get_node_name() == cname:
                return True
        return False

    def _if(self, s, env, frame, depth):
        if self._memo_guard(s):
            self._stmts(s.statement_block.statements, env, frame, depth)
            return
        branches = [(s.condition, s.statement_block)]
        branches += [(ei.condition, ei.statement_block) for ei in s.elseifs]
        els = s.elses.statement_block if s.elses is not None else None
        results = []
        for cond, blk in branches:
            c = _bool(self._expr(cond, env, frame))
            e2, f2 = dict(env), _Frame(dict(frame.locals), frame.fname)
            self._stmts(blk.statements, e2, f2, depth + 1)
            results.append((c, e2, f2))
        e2, f2 = dict(env), _Frame(dict(frame.locals), frame.fname)
        if els is not None:
            self._stmts(els.statements, e2, f2, depth + 1)
        # fold, innermost last: Piecewise((v1, c1), (v2, c2), ..., (velse, True))
        for key_src in ("env", "locals"):
            names = set()
            for _c, ee, ff in results + [(True, e2, f2)]:
                d = ee if key_src == "env" else ff.locals
                names |= set(d)
            base = env if key_src == "env" else frame.locals
            for n in names:
                vals = []
                for _c, ee, ff in results + [(True, e2, f2)]:
                    d = ee if key_src == "env" else ff.locals
                    vals.append(d.get(n, base.get(n, sp.Symbol(f"{n}@prev", real=True))))
                if all(v == base.get(n) for v in vals) and n in base:
                    continue
                if all(v == vals[0] for v in vals):
                    new = vals[0]
                else:
                    conds = [c for c, _e, _f in results]
                    pieces = []
                    for c, v in zip(conds, vals):
                        if c is sp.true:
                            pieces.append((v, True))
                            break
                        if c is sp.false:
                            continue
                        pieces.append((v, c))
                    else:
                        pieces.append((vals[-1], True))
                    new = _piecewise(*pieces) if len(pieces) > 1 or pieces[0][1] is not True else pieces[0][0]
                if key_src == "locals":
                    frame.locals[n] = new
                elif self.phase == "step" and depth == 0 and n not in _SPECIAL and n not in self.inputs \
                        and n not in self.units:
                    env[n] = self._version(n, new)
                else:
                    env[n] = new

    def _while(self, s, env, frame, depth):
        """A WHILE whose condition is decided at import (constant bounds) is
        unrolled; one that depends on states, voltage or parameters cannot be."""
        for _ in range(10001):
            c = _bool(self._expr(s.condition, env, frame))
            if c is sp.false:
                return
            if c is not sp.true:
                raise _Unsupported("WHILE loop whose condition depends on run-time values",
                                   r"(?i)\bwhile\s*\(\s*" + _text_pattern(s.condition))
            self._stmts(s.statement_block.statements, env, frame, depth + 1)
        raise _Unsupported("WHILE loop too long to unroll", r"(?i)\bwhile\b")

    def _from(self, s, env, frame, depth):
        i = _name(s)
        try:
            lo = int(self._expr(getattr(s, "from"), env, frame))
            hi = int(self._expr(s.to, env, frame))
            inc = int(self._expr(s.increment, env, frame)) if s.increment is not None else 1
        except (TypeError, ValueError, AttributeError):
            raise _Unsupported("FROM loop with bounds that are not constants", r"\bFROM\b") from None
        if inc == 0 or abs(hi - lo) // abs(inc) > 10000:
            raise _Unsupported("FROM loop too long to unroll", r"\bFROM\b")
        saved = frame.locals.get(i)
        for k in range(lo, hi + 1 if inc > 0 else hi - 1, inc):
            frame.locals[i] = sp.Integer(k)
            self._stmts(s.statement_block.statements, env, frame, depth + 1)
        if saved is None:
            frame.locals.pop(i, None)
        else:
            frame.locals[i] = saved

    # -- expressions -------------------------------------------------------
    def _expr(self, e, env, frame):
        t = e.get_node_type_name()
        if t in ("WrappedExpression", "ParenExpression"):
            return self._expr(e.expression, env, frame)
        if t == "BinaryExpression":
            op = e.op.eval()
            a = self._expr(e.lhs, env, frame)
            b = self._expr(e.rhs, env, frame)
            if op in ("&&", "||"):
                return _BINOP[op](a, b)
            if op in ("<", ">", "<=", ">=", "==", "!="):
                return _BINOP[op](_num(a), _num(b))
            if op not in _BINOP:
                raise _Unsupported(f"operator '{op}'", None)
            return _BINOP[op](_num(a), _num(b))
        if t == "UnaryExpression":
            op = e.op.eval()
            a = self._expr(e.expression, env, frame)
            if op == "-":
                return -_num(a)
            if op == "!":
                return sp.Not(_bool(a))
            raise _Unsupported(f"operator '{op}'", None)
        if t in ("Integer", "Double", "Float"):
            txt = str(e.eval())
            return sp.Integer(int(txt)) if re.fullmatch(r"-?\d+", txt) else sp.Float(float(txt))
        if t == "DoubleUnit":
            return self._expr(e.value, env, frame)
        if t == "VarName":
            if e.index is not None:
                raise _Unsupported(f"array '{e.name.get_node_name()}'", None)
            return self._lookup(self._varname(e, env, frame), env, frame)
        if t == "Name":
            return self._lookup(e.get_node_name(), env, frame)
        if t == "FunctionCall":
            return self._call(e, env, frame, statement=False)
        raise _Unsupported(f"expression {t}", None)

    def _varname(self, e, env, frame) -> str:
        """A variable's name; an array element with a constant index is the
        variable ``name[k]``."""
        nm = e.name
        if nm.get_node_type_name() != "IndexedName":
            return nm.get_node_name()
        base = nm.get_node_name()
        k = self._expr(nm.length, env, frame)
        if not k.is_Integer:
            raise _Unsupported(f"array '{base}' indexed by a non-constant", rf"\b{base}\s*\[")
        return f"{base}[{int(k)}]"

    def _lookup(self, n, env, frame):
        if n in frame.locals:
            return frame.locals[n]
        if n in env:
            return env[n]
        if n in _SPECIAL:
            return sym(n)
        b = n.split("[")[0]
        if b in self.arrays:
            raise _Unsupported(f"array variable '{b}'", rf"\b{b}\s*\[")
        if b in self.assigned_step or b in self.assigned_init:
            shown = f"{b}[]" if "[" in n else n
            raise _Unsupported(f"'{shown}' read before it is assigned (its value from the previous step or "
                               "run)", rf"\b{re.escape(b)}\b")
        if n == "PI":
            return sp.pi
        if n == "FARADAY":
            return sp.Float(factor_value("faraday", "coulomb"))
        if n == "R":
            return sp.Float(factor_value("k-mole", "joule/degC"))
        raise _Unsupported(f"undefined variable '{n}'", rf"\b{re.escape(b)}\b")

    def _call(self, c, env, frame, statement: bool):
        fn = _name(c)
        if fn in _IGNORED_CALLS and statement:
            return sp.Integer(0)
        if fn in _RANDOM:
            raise _Unsupported(f"random numbers ({fn})", rf"\b{fn}\s*\(")
        if fn in _EVENTS:
            raise _Unsupported(f"events ({fn})", rf"\b{fn}\s*\(")
        args = [_num(self._expr(a, env, frame)) for a in c.arguments]
        if fn in _MATH and fn not in self.functions:
            return _MATH[fn](*args)
        body = self.functions.get(fn) or self.procedures.get(fn)
        if fn in self.function_tables:
            raise _Unsupported(f"FUNCTION_TABLE '{fn}'", rf"\bFUNCTION_TABLE\s+{fn}\b")
        if body is None:
            raise _Unsupported(f"call of undefined function '{fn}'", rf"\b{fn}\s*\(")
        params = [_name(p) for p in body.parameters]
        if len(params) != len(args):
            raise _Unsupported(f"'{fn}' called with {len(args)} argument(s), declared with {len(params)}",
                               rf"\b{fn}\s*\(")
        self.call_depth += 1
        if self.call_depth > 50:
            raise _Unsupported(f"recursive call of '{fn}'", rf"\b{fn}\s*\(")
        try:
            kw = "FUNCTION" if body.is_function_block() else "PROCEDURE"
            outer, self.block = self.block, (f"{kw} {fn}", rf"(?i)^\s*{kw}\s+{fn}\b")
            f2 = _Frame(dict(zip(params, args)), fn if body.is_function_block() else None)
            f2.locals.setdefault("__return__", sp.Integer(0))
            # inside a call, a global assignment is still at the caller's depth
            depth = self.depth_of_call
            self._stmts(body.statement_block.statements, env, f2, depth)
        finally:
            self.call_depth -= 1
            self.depth_of_call = depth
            self.block = outer
        return f2.locals["__return__"]

    # -- the whole mechanism -----------------------------------------------------
    def build(self) -> Mechanism:
        self.declarations()
        self.classify()
        self.derivatives: dict = {}
        self.versions: list = []
        self.version_count: dict = {}
        self.conserve: list = []
        self.steady_blocks: list = []
        self.call_depth = 0
        self.depth_of_call = 0

        # one step: BREAKPOINT, its SOLVEd blocks run where the SOLVE stands
        env0 = self.base_env()
        if self.breakpoint is not None:
            self.run_block(self.breakpoint, dict(env0), "step")
        derived, rename = self._emit_versions()
        derivatives = {k: v.xreplace(rename) for k, v in self.derivatives.items()}
        conserve = tuple((s, e.xreplace(rename)) for s, e in self.conserve)

        # INITIAL
        on_start = self._initial(env0)
        if self.steady_state:
            solved = self._steady(derived, derivatives, dict(conserve))
            if solved is not None:
                on_start = on_start + tuple(solved)
                self.steady_state = ()

        return self._mechanism(derived, derivatives, on_start, conserve)

    def _steady(self, derived, derivatives, conserve):
        """``SOLVE b STEADYSTATE``: when the states' equations (CONSERVE
        replacing the equation of its state, as NEURON's sparse solver does)
        are linear in the states, their closed-form solution as on_start
        assignments; None otherwise (the lowering solves it numerically)."""
        states, _method = self.steady_state
        if not states or len(states) > 8:
            return None
        sub = {}
        for d in derived:
            sub[sym(d.name)] = d.expr.xreplace(sub)
        xs = [sym(s) for s in states]
        eqs = []
        for st in states:
            if st in conserve:
                eqs.append(sym(st) - conserve[st].xreplace(sub))
            else:
                eqs.append(derivatives[st].xreplace(sub))
        try:
            A, b = sp.linear_eq_to_matrix([sp.expand(e) for e in eqs], xs)
        except (sp.polys.polyerrors.PolynomialError, ValueError, TypeError):
            return None
        if any(x in A.free_symbols or x in b.free_symbols for x in xs):
            return None
        try:
            sol = A.LUsolve(b)
        except (ValueError, ZeroDivisionError, sp.matrices.common.NonInvertibleMatrixError):
            return None
        if any(v.has(sp.zoo, sp.nan, sp.oo) for v in sol):
            return None
        return [Assignment(st, v) for st, v in zip(states, sol)]

    def _emit_versions(self):
        last = {}
        for n, s, _v, _b in self.versions:
            last[n] = s
        rename = {}
        for n, s, _v, _b in self.versions:
            k = s.name.split("#")[1]
            rename[s] = sym(n) if last[n] is s else sym(f"{n}__{k}")
        derived = []
        used = set()
        for e in list(self.derivatives.values()) + [v for _n, _s, v, _b in self.versions] + \
                [e for _s, e in self.conserve]:
            used |= e.free_symbols
        for n, s, v, (origin, header) in self.versions:
            if s not in used and (last[n] is not s or n.split("[")[0] in self.file_locals):
                continue
            prev = [x.name[:-5] for x in v.free_symbols if x.name.endswith("@prev")]
            for x in prev:
                self._unsup(f"'{x}' may be read before it is assigned (it keeps its value from the previous "
                            "step)", rf"\b{re.escape(x)}\b")
            f, ln = self.text.find(rf"\b{re.escape(n.split('[')[0])}\b[^=]*=", within=header)
            derived.append(Derived(rename[s].name, v.xreplace(rename), self._dim_of(n),
                                   Source(f or self.path, ln, origin)))
        return tuple(derived), rename

    def _initial(self, env0):
        env = dict(env0)
        on_start = []
        # NEURON before INITIAL: a state takes its <state>0 value (0 unless
        # declared), an ion concentration state the ion's value
        for st in self.state_decl:
            if st in self.ion_writes or st in self.ion_reads:
                ion = self.ion_writes.get(st) or self.ion_reads.get(st)
                init_name = f"{st}0_{ion}_ion"
                self.inputs.setdefault(init_name, Input(init_name, _ION_DIMS["c"], "global"))
                val = sym(init_name)
            elif f"{st}0" in self.params:
                val = sp.Float(self.params[f"{st}0"][0])
            else:
                val = sp.Integer(0)
            on_start.append(Assignment(st, val))
        for n in self.frozen:
            p0 = self.frozen_param.get(n)
            on_start.append(Assignment(n, sym(p0) if p0 else sp.Integer(0)))
        self.steady_state = ()
        if self.initial is not None:
            before = dict(env)
            self.run_block(self.initial, env, "initial")
            later = []
            for n in list(self.state_decl) + self.frozen:
                if n in env and env[n] != before.get(n):
                    later.append(Assignment(n, env[n]))
            # a state set by INITIAL from other quantities needs no prior value
            needed = set()
            for a in later:
                needed |= {x.name for x in a.expr.free_symbols}
            assigned = {a.variable for a in later}
            on_start = [a for a in on_start if a.variable not in assigned or a.variable in needed] + later
        for bname, method in self.steady_blocks:
            blk = self.derivative_blocks.get(bname)
            if blk is None:
                self._unsup(f"SOLVE {bname} STEADYSTATE of a block that is not DERIVATIVE or KINETIC",
                            rf"\bSOLVE\s+{bname}\b")
                continue
            from neuron.nmodl import ast, visitor

            in_block = {d.expression.lhs.name.get_node_name()
                        for d in visitor.AstLookupVisitor().lookup(blk, ast.AstNodeType.DIFF_EQ_EXPRESSION)}
            states = tuple(s for s in self.state_decl if s in in_block and s in self.derivatives)
            self.steady_state = (states, method)
        return tuple(on_start)

    def _dim_of(self, n):
        unit = self.assigned_decl.get(n) or self.state_decl.get(n)
        got = parse_unit(unit) if unit else None
        return got[1] if got else None

    def _mechanism(self, derived, derivatives, on_start, conserve) -> Mechanism:
        base = os.path.basename(self.path)
        derived = tuple(Derived(d.name, _plain(d.expr), d.dim, d.source) for d in derived)
        derivatives = {k: _plain(v) for k, v in derivatives.items()}
        on_start = tuple(Assignment(a.variable, _plain(a.expr)) for a in on_start)
        conserve = tuple((st, _plain(e)) for st, e in conserve)
        params = []
        for n in self.param_names:
            val, unit, const = self.params[n]
            f, uname, dim = to_customary(unit)
            desc = "GLOBAL" if n in self.globals else ("RANGE" if n in self.range else "")
            if f != 1.0:
                desc = (desc + "; " if desc else "") + f"declared {val!r} ({unit})"
            params.append(Parameter(n, val * f, dim, uname, desc, constant=const,
                                    source=self._src(rf"\b{re.escape(n)}\s*=", "PARAMETER" if not const
                                                     else "CONSTANT")))
        for n, p0 in self.frozen_param.items():
            val, unit, const = self.params[n]
            got = parse_unit(unit)
            params.append(Parameter(p0, val, got[1] if got else NONE, unit or "",
                                    f"the value of PARAMETER {n} before INITIAL reassigns it",
                                    source=self._src(rf"\b{re.escape(n)}\s*=", "PARAMETER")))
        for n in self.zero_params:
            unit = self.assigned_decl.get(n)
            got = parse_unit(unit)
            params.append(Parameter(n, 0.0, got[1] if got else NONE, unit or "",
                                    "ASSIGNED, never assigned in the file (set from outside)",
                                    source=self._src(rf"\b{re.escape(n)}\b", "ASSIGNED")))
        states = []
        for n in self.state_decl:
            unit = self.state_decl[n]
            got = parse_unit(unit)
            states.append(State(n, got[1] if got else NONE, f"({unit})" if unit else "",
                                self._src(rf"\b{re.escape(n)}\b", "STATE")))
            if n not in derivatives:
                derivatives[n] = sp.Integer(0)
        for n in self.frozen:
            unit = self.assigned_decl.get(n) or (self.params.get(n, (0, None, 0))[1])
            got = parse_unit(unit)
            states.append(State(n, got[1] if got else NONE,
                                "assigned in INITIAL, constant during the run",
                                self._src(rf"\b{re.escape(n)}\s*=", "INITIAL")))
            derivatives[n] = sp.Integer(0)
        # inputs actually used (or declared as ion reads)
        used = set()
        for e in list(derivatives.values()) + [d.expr for d in derived] + [a.expr for a in on_start]:
            used |= {s.name for s in e.free_symbols}
        inputs = dict(self.inputs)
        for n, (dim, kind, _u) in _SPECIAL.items():
            if n in used and n not in inputs:
                inputs[n] = Input(n, dim, kind)
        cur_unit = "nA" if self.kind == "point_process" else "mA/cm2"
        currents = []
        for w, ion in self.ion_writes.items():
            if w.startswith("i"):
                currents.append(Current(w, ion, "ion", cur_unit))
        currents += [Current(n, None, "nonspecific", cur_unit) for n in self.nonspecific]
        currents += [Current(n, None, "electrode", cur_unit) for n in self.electrode]
        derived_names = {d.name for d in derived}
        for c in currents:
            if c.variable not in derived_names:
                self._unsup(f"current '{c.variable}' is never assigned in BREAKPOINT",
                            rf"\b{re.escape(c.variable)}\b")
        exposures = {}
        for d in derived:
            if "__" in d.name:
                continue
            exposures[d.name] = (d.name, d.dim)
        for s in states:
            exposures.setdefault(s.name, (s.name, s.dim))
        steady = self.steady_state
        return Mechanism(
            name=self.suffix, kind=self.kind, component_type=f"NMODL {self.kind}",
            parameters=tuple(params), states=tuple(states), derived=derived,
            derivatives=derivatives, inputs=tuple(inputs.values()), on_start=on_start,
            conditions=(), exposures=exposures, unsupported=tuple(self.unsupported),
            source=Source(self.path, None, base),
            ions=tuple(self.ions), currents=tuple(currents), solves=tuple(self.solves),
            steady_state=steady, conserve=conserve, units="neuron",
            globals=tuple(n for n in self.param_names if n in self.globals),
            threadsafe=self.threadsafe,
        )


def load_mod_file(path, *, check: bool = True) -> Mechanism:
    """Import one ``.mod`` file. With ``check`` (the default) a file using
    constructs nmlcell cannot lower raises :class:`~nmlcell.errors.UnsupportedError`
    listing all of them; ``check=False`` returns the Mechanism with the list
    in ``Mechanism.unsupported``."""
    mech = _Importer(str(path)).build()
    if check:
        from ..passes.compat import check as compat_check

        compat_check(mech)
    return mech


def load_mod_folder(folder, *, check: bool = True) -> dict[str, Mechanism]:
    """Import every ``.mod`` file in ``folder`` (not recursive): mechanism
    name (SUFFIX or POINT_PROCESS name) -> Mechanism. With ``check``, every
    file's unsupported constructs are listed in one error."""
    from ..errors import UnsupportedError

    out: dict[str, Mechanism] = {}
    problems: list[str] = []
    for p in sorted(Path(folder).glob("*.mod")):
        m = load_mod_file(p, check=False)
        if m.name in out:
            raise ModelImportError(f"mechanism '{m.name}' defined twice (also in {out[m.name].source.file})",
                                   file=str(p))
        out[m.name] = m
        problems += list(m.unsupported)
    if check and problems:
        raise UnsupportedError(problems, file=str(folder))
    return out
