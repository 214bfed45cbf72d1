"""Parsing a ``.mod`` file with the NMODL framework that ships with NEURON
(``neuron.nmodl``), with its INCLUDEs spliced in, and the source text kept
to give every construct a file:line. Syntax errors and missing INCLUDEs are
:class:`~nmlcell.errors.ModelImportError` s of one line.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import ModelImportError

__all__ = ["SourceText", "node_name", "nmodl", "parse_mod_file", "text_pattern"]

_QUIET = "-nogui"


def nmodl():
    """``neuron.nmodl`` with its ``ast``, ``symtab`` and ``visitor`` modules.

    Importing ``neuron`` the first time starts NEURON, which prints
    "Warning: no DISPLAY environment variable. --No graphics will be
    displayed." from C when there is no X display. NEURON reads start-up
    options from ``NEURON_MODULE_OPTIONS`` when imported as a Python module;
    ``-nogui`` there silences that warning. It is set only around the first
    import and only without a display (where graphics cannot open anyway),
    added to any options the user set, and the variable is restored after.
    """
    import sys

    if "neuron" not in sys.modules and not os.environ.get("DISPLAY"):
        key = "NEURON_MODULE_OPTIONS"
        old = os.environ.get(key)
        if _QUIET not in (old or "").split():
            os.environ[key] = f"{old} {_QUIET}" if old else _QUIET
        try:
            return _import_nmodl()
        finally:
            if old is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = old
    return _import_nmodl()


def _import_nmodl():
    try:
        import neuron.nmodl
        import neuron.nmodl.ast
        import neuron.nmodl.symtab
        import neuron.nmodl.visitor  # noqa: F401
    except ImportError as e:
        raise ModelImportError(f"importing .mod files needs NEURON 9 (pip install neuron): {e}") from None
    return neuron.nmodl


@dataclass
class SourceText:
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
        (a block header pattern), the line of the nth match after that
        header (matches counted one by one, several on a line too), if any."""
        if within:
            hdr = re.compile(within)
            rx = re.compile(pattern)
            for path, lines in self.files:
                for i, ln in enumerate(lines):
                    if hdr.search(ln):
                        k = 0
                        for j in range(i, len(lines)):
                            k += len(rx.findall(lines[j]))
                            if k > nth:
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


def parse_mod_file(path) -> tuple[object, SourceText]:
    """Parse ``path`` with the NMODL framework (``NmodlDriver.parse_file``,
    which reads INCLUDE files from the .mod file's own folder); the blocks
    of INCLUDEd files are spliced in at their place. Returns
    (ast.Program, source text index)."""
    path = str(path)
    texts = SourceText()
    try:
        text = Path(path).read_text(errors="replace")
    except OSError as e:
        raise ModelImportError(f"cannot read NMODL file: {e.strerror}", file=path) from None
    texts.add(path, text)
    try:
        prog = nmodl().NmodlDriver().parse_file(path)
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



def text_pattern(node) -> str:
    """A regex matching the source text of an expression node (its tokens,
    any spacing between them), to find its line."""
    text = nmodl().to_nmodl(node)
    toks = re.findall(r"\w+(?:\.\w*)?|[^\w\s]", text)
    return r"[\s()]*".join(re.escape(t) for t in toks if t not in "()") if toks else ""


def node_name(node) -> str:
    return node.get_node_name()

