"""What a ``.mod`` file declares, and what each variable is.

:class:`Declarations` reads the NEURON block (SUFFIX, USEION, RANGE...),
PARAMETER, CONSTANT, STATE, ASSIGNED, UNITS and DEFINE, collects the
FUNCTIONs, PROCEDUREs and DERIVATIVE blocks, then classifies every variable
by where it is assigned: a parameter (never assigned), a run-time value
(assigned in BREAKPOINT or a SOLVEd block), or a value frozen by INITIAL.
Constructs the IR cannot express are recorded, with file:line, in
``self.unsupported``.
"""
from __future__ import annotations

import os
import re
import warnings

import sympy as sp

from ..errors import ModelImportError
from ..ir.expr import sym
from ..ir.mechanism import Input, IonUse, Source
from .nmodl_check import undefined_variables, units_block
from .nmodl_expr import ION_DIMS, SPECIAL
from .nmodl_parse import node_name, nmodl, parse_mod_file
from .nmodl_units import factor_value, to_customary


def nocmodl_g(x: float) -> float:
    """A PARAMETER default as NEURON 9 holds it: nocmodl writes it into the
    generated C with ``%g``, 6 significant digits (``vhalf = -45.6789012``
    is held as ``-45.6789``). Measured on nocmodl's .cpp and in a live run:
    RANGE and GLOBAL PARAMETERs (units, limits, point processes, ``x0``
    alike) are rounded; CONSTANTs, UNITS factors and numbers in statements
    are copied in full. A value the user sets is not rounded."""
    x = float(x)
    if x != x or x in (0.0, float("inf"), float("-inf")):
        return x
    return float(f"{x:g}")


class NmodlIgnoredDefault(UserWarning):
    """A PARAMETER value NEURON ignores (an ion variable's, ``celsius``):
    NEURON's nocmodl warns, and so does the importer."""


class Declarations:
    """A parsed ``.mod`` file (``self.prog``, KINETIC blocks already turned
    into ODEs), its declarations (:meth:`declarations`) and the class of
    each variable (:meth:`classify`)."""

    def __init__(self, path: str):
        symtab, visitor = nmodl().symtab, nmodl().visitor

        self.path = path
        self.prog, self.text = parse_mod_file(path)
        self.unsupported: list[str] = []
        self._declared_once()
        try:
            symtab.SymtabVisitor().visit_program(self.prog)
        except RuntimeError as e:   # the framework's own semantic errors: a user's bad file
            raise ModelImportError(f"{e} (NEURON's nocmodl rejects the file)", file=path) from None
        self.kinetic = [b for b in self.prog.blocks if b.is_kinetic_block()]
        self.kinetic_names = {node_name(b) for b in self.kinetic}
        self.current_origins = self._current_origins()
        if self.kinetic:
            try:
                visitor.KineticBlockVisitor().visit_program(self.prog)
            except RuntimeError as e:
                self._unsup(f"KINETIC block the NMODL framework cannot convert ({e})", r"\bKINETIC\b")

    def _declared_once(self):
        """NEURON's nocmodl rejects a name declared twice in PARAMETER,
        ASSIGNED, STATE or CONSTANT ("Multiple declaration of g", "multiple
        uses for same variable"), ``v``, ``celsius``, ``dt`` and ion
        variables included, and two USEION statements of one ion ("merging of
        neuron models not supported"): so does the importer, naming the
        second declaration's file:line (measured with NEURON 9.0.2's nocmodl)."""
        kinds = {"ParamBlock": "PARAMETER", "AssignedBlock": "ASSIGNED", "StateBlock": "STATE",
                 "ConstantBlock": "CONSTANT"}
        seen: dict[str, str] = {}
        ions: set[str] = set()
        ion_vars = {node_name(v) for b in self.prog.blocks if b.get_node_type_name() == "NeuronBlock"
                    for st in b.statement_block.statements if st.get_node_type_name() == "Useion"
                    for v in (*st.readlist, *st.writelist)}
        for b in self.prog.blocks:
            t = b.get_node_type_name()
            if t == "NeuronBlock":
                for st in b.statement_block.statements:
                    if st.get_node_type_name() == "Useion":
                        ion = node_name(st.name)
                        if ion in ions:
                            f, ln = self.text.find(rf"\bUSEION\s+{re.escape(ion)}\b", 1)
                            raise ModelImportError(f"a second USEION {ion}: NEURON's nocmodl rejects it (\"merging "
                                                   "of neuron models not supported\"); read and write the ion in "
                                                   "one USEION statement", file=f or self.path, line=ln)
                        ions.add(ion)
            if t not in kinds:
                continue
            if t == "ParamBlock":
                names = [node_name(st) for st in b.statements if st.get_node_type_name() == "ParamAssign"]
                for st in b.statements:
                    n = node_name(st) if st.get_node_type_name() == "ParamAssign" else None
                    if n in ion_vars | {"celsius"} and st.value is not None:
                        f, ln = self.text.find(rf"\b{re.escape(n)}\s*=", 0, r"^\s*PARAMETER\b")
                        val = float(st.value.eval())
                        whose = "the simulation's" if n == "celsius" else "the ion's"
                        warnings.warn_explicit(
                            f"PARAMETER {n} = {val:g}: the value is ignored, {n} is {whose} (NEURON's nocmodl: "
                            f"\"Default {val:g} of PARAMETER {n} will be ignored and set by NEURON\")",
                            NmodlIgnoredDefault, f or self.path, ln or 0, module=__name__)
            elif t == "ConstantBlock":
                names = [node_name(st.constant) for st in b.statements
                         if st.get_node_type_name() == "ConstantStatement"]
            else:
                names = [node_name(d) for d in b.definitions if d.get_node_type_name() == "AssignedDefinition"]
            for k, n in enumerate(names):
                if n in seen:
                    nth = names[:k].count(n) if seen[n] == kinds[t] else 0
                    f, ln = self.text.find(rf"\b{re.escape(n)}\b", nth, rf"^\s*{kinds[t]}\b")
                    raise ModelImportError(f"'{n}' declared in {seen[n]} and again in {kinds[t]}: NEURON's "
                                           f"nocmodl rejects it (\"Multiple declaration of {n}\")",
                                           file=f or self.path, line=ln)
                seen[n] = kinds[t]
        ast, visitor = nmodl().ast, nmodl().visitor
        for b in self.prog.blocks:
            if b.is_derivative_block():
                for p in visitor.AstLookupVisitor().lookup(b, ast.AstNodeType.PRIME_NAME):
                    n = p.get_node_name()
                    if seen.get(n) != "STATE":
                        f, ln = self.text.find(rf"\b{re.escape(n)}\s*'", 0, rf"^\s*DERIVATIVE\s+{node_name(b)}\b")
                        raise ModelImportError(f"{n}' in DERIVATIVE {node_name(b)}: '{n}' is not a STATE; NEURON's "
                                               f"nocmodl rejects it (\"{n} must be declared as a state variable\")",
                                               file=f or self.path, line=ln)

    def _block_names(self) -> set[str]:
        """The names of the file's named blocks (DERIVATIVE, KINETIC, DISCRETE...)."""
        out = set()
        for b in self.prog.blocks:
            try:
                out.add(node_name(b))
            except (AttributeError, RuntimeError, TypeError):
                pass
        return out

    def _current_origins(self) -> set[str]:
        """The origins (``BREAKPOINT``, ``PROCEDURE rates``...) of the values
        NEURON computes in its current phase and a SOLVEd block reads from
        storage: BREAKPOINT's own assignments and those of the PROCEDUREs
        and FUNCTIONs it calls (directly or through others) outside its
        SOLVE that the SOLVEd block does not call. Found on the syntax tree
        as parsed (KINETIC blocks not yet converted); empty without a SOLVE."""
        ast, visitor = nmodl().ast, nmodl().visitor

        named = {node_name(b): b for b in self.prog.blocks
                 if b.is_procedure_block() or b.is_function_block() or b.is_derivative_block()
                 or b.is_kinetic_block()}
        bp = next((b for b in self.prog.blocks if b.is_breakpoint_block()), None)
        if bp is None:
            return set()

        def calls(node, seen: set) -> set:
            for c in visitor.AstLookupVisitor().lookup(node, ast.AstNodeType.FUNCTION_CALL):
                n = c.get_node_name()
                if n in named and n not in seen:
                    seen.add(n)
                    calls(named[n], seen)
            return seen

        outside, inside, solved = set(), set(), False
        for st in bp.statement_block.statements:
            solves = visitor.AstLookupVisitor().lookup(st, ast.AstNodeType.SOLVE_BLOCK)
            if solves:
                solved = True
                for sb in solves:
                    blk = named.get(sb.block_name.get_node_name())
                    if blk is not None:
                        calls(blk, inside)
            else:
                calls(st, outside)
        if not solved:
            return set()
        return {"BREAKPOINT"} | {f"{kw} {n}" for n in outside - inside for kw in ("PROCEDURE", "FUNCTION")}

    # -- messages --------------------------------------------------------
    def _where(self, pattern: str | None, nth: int = 0, within: str | None = None) -> str:
        if pattern is None:
            return os.path.basename(self.path)
        f, ln = self.text.find(pattern, nth, within)
        return f"{os.path.basename(f or self.path)}:{ln}" if ln else os.path.basename(f or self.path)

    def _unsup(self, what: str, pattern: str | None = None, nth: int = 0, within: str | None = None):
        """Record an unsupported construct with the file:line of the nth
        line matching ``pattern`` (the first after a line matching
        ``within``, a block header, when given)."""
        item = f"{what} ({self._where(pattern, nth, within)})"
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
        self.range: dict[str, None] = {}   # RANGE names, in the file's order
        self.globals: set[str] = set()
        self.threadsafe = False
        self.units: dict[str, sp.Expr] = {}      # UNITS factors (FARADAY...)
        self.params: dict[str, tuple] = {}       # name -> (value, unit, limits, constant)
        self.state_decl: dict[str, str | None] = {}
        self.state_start: dict[str, float] = {}   # STATE n START x: nocmodl's n0 (rounded %g)
        self.assigned_decl: dict[str, str | None] = {}
        self.functions: dict[str, object] = {}
        self.procedures: dict[str, object] = {}
        self.derivative_blocks: dict[str, object] = {}
        self.linear_blocks: dict[str, object] = {}   # LINEAR: solved in closed form (an update)
        self.nonlinear_blocks: dict[str, object] = {}   # NONLINEAR: Newton iterations (updates)
        self.defines: dict[str, sp.Expr] = {}
        self.file_locals: dict[str, None] = {}   # in declaration order
        self.arrays: dict[str, int] = {}   # STATE/ASSIGNED arrays: name -> size (elements are 'name[k]')
        self.function_tables: dict[str, tuple] = {}   # FUNCTION_TABLE name -> (file, line): data at run time
        self.initial = None
        self.breakpoint = None
        self.net_receive = None
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
                    # nocmodl's %g: 6 significant digits (CONSTANTs below stay in full)
                    val = nocmodl_g(s.value.eval()) if s.value is not None else 0.0
                    unit = s.unit.name.eval() if s.unit is not None else None
                    self.params[node_name(s)] = (val, unit, False)
            elif t == "ConstantBlock":
                for s in b.statements:
                    if s.get_node_type_name() == "ConstantStatement":
                        c = s.constant
                        unit = c.unit.name.eval() if c.unit is not None else None
                        self.params[node_name(c)] = (float(c.value.eval()), unit, True)
            elif t in ("StateBlock", "AssignedBlock"):
                decl = self.state_decl if t == "StateBlock" else self.assigned_decl
                for d in b.definitions:
                    if d.get_node_type_name() != "AssignedDefinition":
                        continue
                    n = node_name(d)
                    unit = d.unit.name.eval() if d.unit is not None else None
                    if t == "StateBlock" and getattr(d, "start", None) is not None:
                        if d.length is not None:
                            self._unsup(f"START value of the array STATE '{n}'", rf"\b{n}\b[^\n]*\bSTART\b")
                        else:
                            self.state_start[n] = nocmodl_g(d.start.eval())
                    if d.length is not None:
                        # a constant size: one scalar variable per element, n[k]
                        try:
                            size = int(d.length.eval())
                        except (TypeError, ValueError, AttributeError):
                            size = 0
                        self.arrays[n] = size
                        if size <= 0 or size > 1000:
                            self._unsup(f"array variable '{n}' without a constant size", rf"\b{n}\s*\[")
                            continue
                        for k in range(size):
                            decl[f"{n}[{k}]"] = unit
                        continue
                    decl[n] = unit
            elif t == "FunctionBlock":
                self.functions[node_name(b)] = b
            elif t == "ProcedureBlock":
                self.procedures[node_name(b)] = b
            elif t == "DerivativeBlock":
                self.derivative_blocks[node_name(b)] = b
            elif t == "InitialBlock":
                self.initial = b
            elif t == "BreakpointBlock":
                self.breakpoint = b
            elif t == "Define":
                self.defines[node_name(b)] = sp.Float(b.value.eval())
            elif t == "LocalListStatement":
                for v in b.variables:
                    if v.name.get_node_type_name() == "IndexedName":   # LOCAL frat[NANN]: one per element
                        try:
                            size = int(v.name.length.eval())
                        except (TypeError, ValueError, AttributeError):
                            size = 0
                        if not 0 < size <= 1000:
                            self._unsup(f"file LOCAL array '{node_name(v)}' without a constant size",
                                        rf"\b{node_name(v)}\s*\[")
                            continue
                        self.arrays[node_name(v)] = size
                        for k in range(size):
                            self.file_locals[f"{node_name(v)}[{k}]"] = None
                        continue
                    self.file_locals[node_name(v)] = None
            elif t == "NetReceiveBlock":
                self.net_receive = b   # lowered to an OnEvent handler (nmodl_build._net_receive)
            elif t == "LinearBlock":
                self.linear_blocks[node_name(b)] = b
            elif t == "NonLinearBlock":
                self.nonlinear_blocks[node_name(b)] = b
            elif t == "FunctionTableBlock":
                f, ln = self.text.find(rf"\bFUNCTION_TABLE\s+{node_name(b)}\b")
                self.function_tables[node_name(b)] = (f or self.path, ln)
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
        from .nmodl_verbatim import verbatim_noops   # output-only, uncalled hoc-argument PROCEDUREs, errors

        self.noop_verbatims = self._procedure_return_verbatims() | self._include_verbatims() | verbatim_noops(self)
        for f, ln in self.text.all(r"\bVERBATIM\b"):
            if (f, ln) not in self.noop_verbatims:
                self.unsupported.append(f"VERBATIM (C code) ({os.path.basename(f)}:{ln})")
        if self.suffix is None:
            raise ModelImportError("NMODL file has no SUFFIX, POINT_PROCESS or ARTIFICIAL_CELL in its NEURON block",
                                   file=self.path)
        units_block(self)
        undefined_variables(self)

    def _verbatim_bodies(self):
        """(file, line of VERBATIM, body text) of each VERBATIM block."""
        for path, lines in self.text.files:
            for i, ln in enumerate(lines):
                if re.search(r"\bVERBATIM\b", ln) and not re.search(r"\bENDVERBATIM\b", ln):
                    body = []
                    for j in range(i + 1, len(lines)):
                        if re.search(r"\bENDVERBATIM\b", lines[j]):
                            break
                        body.append(lines[j])
                    yield path, i + 1, "\n".join(body)

    def _include_verbatims(self) -> set:
        """(file, line) of each VERBATIM outside any block that only
        ``#include``s C headers (``#include <stdlib.h>``, a habit of many
        ModelDB files): nothing of it runs. Empty unless their number equals
        that of the file's top-level VERBATIM blocks with such a body."""
        def only_includes(text):
            text = re.sub(r"(?s)/\*.*?\*/", "", text)
            rows = [r.strip() for r in text.split("\n") if r.strip()]
            return bool(rows) and all(re.fullmatch(r'#\s*include\s*[<"][^>"]+[>"]', r) for r in rows)

        top = sum(1 for b in self.prog.blocks if b.get_node_type_name() == "Verbatim"
                  and only_includes(b.statement.eval()))
        found = {(path, ln) for path, ln, body in self._verbatim_bodies() if only_includes(body)}
        return found if top == len(found) else set()

    def _procedure_return_verbatims(self) -> set:
        """(file, line) of each ``VERBATIM return 0; ENDVERBATIM`` that ends a
        PROCEDURE: old NEURON's idiom (HH2.mod, CaT.mod), a no-op since a
        PROCEDURE returns 0 anyway. Empty unless every VERBATIM with that
        text is at the end of a PROCEDURE (elsewhere it is an early return)."""
        ast, visitor = nmodl().ast, nmodl().visitor

        def is_return(v):
            return re.sub(r"\s+", "", v.statement.eval()) == "return0;"

        at_end = sum(1 for b in self.procedures.values() if b.statement_block.statements
                     and b.statement_block.statements[-1].get_node_type_name() == "Verbatim"
                     and is_return(b.statement_block.statements[-1]))
        anywhere = sum(1 for v in visitor.AstLookupVisitor().lookup(self.prog, ast.AstNodeType.VERBATIM)
                       if is_return(v))
        found = {(path, ln) for path, ln, body in self._verbatim_bodies()
                 if re.sub(r"\s+", "", body) == "return0;"}
        return found if at_end == anywhere == len(found) else set()

    def _neuron_block(self, b):
        for s in b.statement_block.statements:
            t = s.get_node_type_name()
            if t == "Suffix":
                kw = node_name(s.type)
                self.suffix = node_name(s.name)
                self.kind = {"SUFFIX": "density", "POINT_PROCESS": "point_process",
                             "ARTIFICIAL_CELL": "artificial_cell"}.get(kw, "density")
            elif t == "Useion":
                ion = node_name(s.name)
                reads = tuple(node_name(r) for r in s.readlist)
                writes = tuple(node_name(w) for w in s.writelist)
                val = float(s.valence.value.eval()) if s.valence is not None else None
                self.ions.append(IonUse(ion, reads, writes, val))
                for r in reads:
                    self.ion_reads[r] = ion
                for w in writes:
                    self.ion_writes[w] = ion
            elif t == "Nonspecific":
                self.nonspecific += [node_name(c) for c in s.currents]
            elif t == "ElectrodeCurrent":
                self.electrode += [node_name(c) for c in s.currents]
            elif t == "Range":
                self.range.update(dict.fromkeys(node_name(v) for v in s.variables))
            elif t == "Global":
                self.globals |= {node_name(v) for v in s.variables}
            elif t == "ThreadSafe":
                self.threadsafe = True
            elif t == "Pointer":
                self._unsup("POINTER variable(s) " + ", ".join(node_name(v) for v in s.variables), r"\bPOINTER\b")
            elif t == "BbcorePointer":
                self._unsup("BBCOREPOINTER variable(s) " + ", ".join(node_name(v) for v in s.variables),
                            r"\bBBCOREPOINTER\b")
            elif t == "RandomVarList":
                self._unsup("RANDOM variable(s)", r"\bRANDOM\b")
            elif t == "External":
                self._unsup("EXTERNAL variable(s)", r"\bEXTERNAL\b")

    def _factor(self, d):
        n = node_name(d)
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
    def start_param_name(self, x: str) -> str:
        """The parameter holding ``x``'s value before a block reassigns it:
        ``x0``, or ``x__0`` where ``x0`` is a declared name (the frozen
        PARAMETERs of INITIAL and events, BREAKPOINT's carried ones)."""
        taken = set(self.params) | set(self.state_decl) | set(self.assigned_decl)
        return f"{x}0" if f"{x}0" not in taken else f"{x}__0"

    def classify(self):
        # a START value with a PARAMETER <state>0 as well: nocmodl's n0 is
        # the START value (measured: a0 = 0.25 with a START 0.6 holds 0.6)
        for st, x in self.state_start.items():
            if f"{st}0" in self.params and not self.params[f"{st}0"][2]:
                self.params[f"{st}0"] = (x,) + tuple(self.params[f"{st}0"][1:])
        self.inputs: dict[str, Input] = {}
        for name in self.ion_reads:
            if name in self.state_decl:
                continue
            self.inputs[name] = Input(name, ION_DIMS.get(name[0], None) if name[0] in "ei" else
                                      ION_DIMS["c"], "requirement")

        # assignments per phase (following calls)
        self.step_blocks = []   # (label, statement_block)
        self.update_blocks = []  # (name, PROCEDURE) SOLVEd: a discrete update in NEURON's state phase
        self.solves = []
        if self.breakpoint is not None:
            for s in self.breakpoint.statement_block.statements:
                if s.is_expression_statement() and s.expression.is_solve_block():
                    sb = s.expression
                    bname = node_name(sb.block_name)
                    method = node_name(sb.method) if sb.method is not None else "none"
                    if sb.steadystate is not None:
                        method = "steadystate"
                    self.solves.append((bname, method))
                    if bname in self.derivative_blocks:
                        self.step_blocks.append((bname, self.derivative_blocks[bname]))
                    elif bname in self.procedures or bname in self.linear_blocks or bname in self.nonlinear_blocks:
                        # Mechanism.updates: NEURON's state phase (the staggered solver applies it)
                        self.update_blocks.append((bname, self.procedures.get(bname) or self.linear_blocks.get(bname)
                                                   or self.nonlinear_blocks[bname]))
                    elif bname not in self._block_names():
                        f, ln = self.text.find(rf"\bSOLVE\s+{re.escape(bname)}\b")
                        raise ModelImportError(f"SOLVE {bname}: the file has no block named '{bname}'; NEURON's "
                                               f"nocmodl rejects it", file=f or self.path, line=ln)
                    else:
                        self._unsup(f"SOLVE of block '{bname}'", rf"\bSOLVE\s+{bname}\b")
        assigned_step: set[str] = set()
        for _, blk in self.step_blocks:
            assigned_step |= self._assigned(blk, set())
        if self.breakpoint is not None:
            assigned_step |= self._assigned(self.breakpoint, set())
        assigned_init = self._assigned(self.initial, set()) if self.initial is not None else set()
        assigned_update: set[str] = set()
        for _, blk in self.update_blocks:
            assigned_update |= self._assigned(blk, set())
        self.assigned_step = assigned_step
        self.assigned_init = assigned_init
        self.assigned_update = assigned_update
        # an ion variable the mechanism WRITEs, assigned only inside SOLVEd
        # DERIVATIVE blocks (cai = ca in cad.mod): NEURON assigns it in its
        # state phase and writes it to the ion there; a state of the
        # mechanism set by an update (Mechanism.updates), the ion's value
        outside = self._assigned(self.breakpoint, set()) if self.breakpoint is not None else set()
        self.solve_writes: dict[str, str] = {}   # variable -> DERIVATIVE block
        self.assigned_outside = outside           # assigned in BREAKPOINT itself
        self.block_assigned = {bname: self._assigned(blk, set()) for bname, blk in self.step_blocks}
        for bname, blk in self.step_blocks:
            for n in self.block_assigned[bname]:
                if n in (self.ion_writes.get(n, "") + "i", self.ion_writes.get(n, "") + "o") \
                        and n not in outside and n not in self.state_decl:
                    self.solve_writes.setdefault(n, bname)
        for n in self.solve_writes:
            self.inputs.pop(n, None)

        self.param_names: list[str] = []
        self.frozen: list[str] = []
        self.frozen_param: dict[str, str] = {}   # frozen PARAMETER -> parameter holding its set value
        self.zero_params: list[str] = []
        for n in self.params:
            if n in SPECIAL or n in self.inputs:
                continue
            if n in assigned_step or n in self.state_decl:
                continue
            # a RANGE PARAMETER an event sets (izhi2007bS's b): a state, constant between events
            by_event = n in self.range and self.net_receive is not None and n in self._assigned(self.net_receive, set())
            if n in assigned_init or n in assigned_update or by_event:
                self.frozen.append(n)
                self.frozen_param[n] = self.start_param_name(n)
                continue
            self.param_names.append(n)
        for n in self.assigned_decl:
            b = n.split("[")[0]   # an array element is assigned where its array is
            if n in SPECIAL or n in self.inputs or n in self.state_decl or b in assigned_step:
                continue
            if b in assigned_init or b in assigned_update:
                self.frozen.append(n)
            else:
                self.zero_params.append(n)
        for n in self.file_locals:
            b = n.split("[")[0]
            if b not in assigned_step and (b in assigned_init or b in assigned_update):
                self.frozen.append(n)
        self.frozen += list(self.solve_writes)

    def _assigned(self, node, seen: set) -> set:
        """Non-local names assigned by a block, through the calls it makes."""
        ast, visitor = nmodl().ast, nmodl().visitor

        out = set()
        lv = visitor.AstLookupVisitor()
        local_names = {node_name(v) for ll in lv.lookup(node, ast.AstNodeType.LOCAL_LIST_STATEMENT)
                       for v in ll.variables}
        for be in lv.lookup(node, ast.AstNodeType.BINARY_EXPRESSION):
            if be.op.eval() == "=" and be.lhs.is_var_name():
                n = be.lhs.name.get_node_name()
                if n not in local_names:
                    out.add(n)
        for fc in lv.lookup(node, ast.AstNodeType.FUNCTION_CALL):
            fn = node_name(fc)
            if fn in seen:
                continue
            seen.add(fn)
            body = self.procedures.get(fn) or self.functions.get(fn)
            if body is not None:
                args = {node_name(a) for a in body.parameters}
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
        for n in SPECIAL:
            env.setdefault(n, sym(n))
        return env

