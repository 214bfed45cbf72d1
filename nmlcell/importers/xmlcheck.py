"""Read XML files up front to give one-line errors with file and line
(malformed XML, missing includes) and to locate elements by id for later
messages. pylems then reads the same files."""
from __future__ import annotations

import bisect
import re
import xml.etree.ElementTree as ET
from pathlib import Path

from ..errors import ModelImportError

_ID = re.compile(r"""<\s*([\w:]+)\b[^>]*?\bid\s*=\s*["']([^"']+)["']""")


class SourceIndex:
    """Where each element with an id was defined: id -> (file, line, tag)."""

    def __init__(self):
        self.where: dict[str, tuple[str, int, str]] = {}
        self.files: list[Path] = []

    def locate(self, cid: str):
        w = self.where.get(cid)
        return (w[0], w[1]) if w else (None, None)

    def referrer(self, name: str):
        """(file, line, tag) of the first element with an attribute whose
        value is ``name`` (a reference to something that may not exist), or
        None."""
        attr = re.compile(r"""\b[\w:]+\s*=\s*["']""" + re.escape(name) + r"""["']""")
        for path in self.files:
            text = path.read_text(errors="replace")
            m = attr.search(text)
            if m is None:
                continue
            start = text.rfind("<", 0, m.start())
            tag = re.match(r"<\s*([\w:]+)", text[start:])
            return str(path), text.count("\n", 0, start) + 1, tag.group(1) if tag else None
        return None

    def add_file(self, path: Path):
        self.files.append(path)
        text = path.read_text(errors="replace")
        newlines = [m.start() for m in re.finditer("\n", text)]
        for m in _ID.finditer(text):
            line = bisect.bisect_left(newlines, m.start()) + 1
            self.where.setdefault(m.group(2), (str(path), line, m.group(1)))


def _duplicate(path: Path, cid: str, tag: str, first: str):
    """Two top-level components of one document with one id: jNeuroML
    stops ("Duplicate id"); pylems would keep one of them silently."""
    text = path.read_text(errors="replace")
    lines = [text.count("\n", 0, m.start()) + 1 for m in _ID.finditer(text) if m.group(2) == cid]
    also = f" (the first at line {lines[0]}, <{first}>)" if len(lines) > 1 else ""
    raise ModelImportError(f"duplicate id '{cid}'{also}: jNeuroML refuses a document that defines an id twice",
                           file=str(path), line=lines[-1] if lines else None, element=tag)


def check_tree(path: Path, search: list[Path], index: SourceIndex, core_dir: Path, seen=None):
    """Parse ``path`` and, recursively, its <Include>s. Raises
    ModelImportError (file:line) on malformed XML or a missing include."""
    seen = seen if seen is not None else set()
    path = path.resolve()
    if path in seen:
        return
    seen.add(path)
    if not path.exists():
        raise ModelImportError("file not found", file=str(path))
    is_core = core_dir in path.parents
    try:
        it = ET.iterparse(str(path), events=("start", "end"))
        includes, depth, top = [], 0, {}
        for ev, el in it:
            if ev == "end":
                depth -= 1
                continue
            depth += 1
            tag = el.tag.split("}")[-1]
            if tag == "Include" or tag == "include":
                href = el.attrib.get("file") or el.attrib.get("href") or el.attrib.get("url")
                if href:
                    includes.append(href)
            cid = el.attrib.get("id") if depth == 2 else None
            if cid is not None:
                if cid in top:
                    _duplicate(path, cid, tag, top[cid])
                top[cid] = tag
    except ET.ParseError as e:
        line, col = e.position
        raise ModelImportError(f"malformed XML at column {col}: {str(e).split(':')[0]}",
                               file=str(path), line=line) from None
    if not is_core:
        index.add_file(path)
    text = None
    for href in includes:
        cands = [path.parent / href] + [d / href for d in search] + [core_dir / Path(href).name]
        found = next((c for c in cands if c.exists()), None)
        if found is None:
            if text is None:
                text = path.read_text(errors="replace")
            pos = text.find(href)
            line = text.count("\n", 0, pos) + 1 if pos >= 0 else None
            raise ModelImportError(f"included file '{href}' not found (looked next to the file and in "
                                   f"the NeuroML2 core types)", file=str(path), line=line, element="Include")
        if core_dir in found.resolve().parents:
            continue
        check_tree(found, search, index, core_dir, seen)
