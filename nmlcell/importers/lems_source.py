"""Where each LEMS ComponentType, and each element inside it, is written.

pylems keeps no line numbers and, once resolved, forgets which base type
an inherited element came from. :class:`TypeIndex` reads the same files
with expat (line numbers come with it) and answers "in which file, at
which line, and in which ComponentType of the ``extends`` chain is the
``<DerivedVariable name="v">`` of type T", for error messages
(:mod:`.lems_check`) and for ``nmlcell info``'s equation origins.
"""
from __future__ import annotations

import xml.parsers.expat
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path


ANY = type("_Any", (), {"__repr__": lambda self: "ANY"})()
"""``regime=ANY``: an element anywhere in the type, in a Regime or not."""


@dataclass(frozen=True)
class Element:
    tag: str
    attrs: dict
    line: int
    parents: tuple[str, ...]   # tags between the ComponentType and this element
    regime: str | None = None  # the enclosing <Regime name=...>, if any


@dataclass
class TypeDef:
    name: str
    extends: str | None
    file: str
    line: int
    elements: list[Element] = field(default_factory=list)


def _read(path: str) -> dict[str, TypeDef]:
    """ComponentTypes of one file: name -> TypeDef."""
    out: dict[str, TypeDef] = {}
    stack: list[str] = []
    cur: list = [None, 0, None]  # TypeDef, depth of its element, regime name

    p = xml.parsers.expat.ParserCreate()

    def start(tag, attrs):
        tag = tag.split(":")[-1]
        stack.append(tag)
        if tag == "ComponentType" and cur[0] is None:
            cur[0] = TypeDef(attrs.get("name", ""), attrs.get("extends"), path, p.CurrentLineNumber)
            cur[1] = len(stack)
            out.setdefault(cur[0].name, cur[0])
        elif cur[0] is not None:
            if tag == "Regime":
                cur[2] = attrs.get("name")
            cur[0].elements.append(Element(tag, dict(attrs), p.CurrentLineNumber,
                                           tuple(stack[cur[1]:-1]), cur[2]))

    def end(tag):
        if cur[0] is not None:
            if len(stack) == cur[1]:
                cur[0] = None
            elif stack[-1] == "Regime":
                cur[2] = None
        stack.pop()

    p.StartElementHandler = start
    p.EndElementHandler = end
    try:
        with open(path, "rb") as fh:
            data = fh.read()
        if b"ComponentType" in data:  # skip cells and morphologies quickly
            p.Parse(data, True)
    except (OSError, xml.parsers.expat.ExpatError):
        pass  # xmlcheck reports malformed files with their line
    return out


@lru_cache(maxsize=8)
def _core(core_dir: str) -> dict[str, TypeDef]:
    out: dict[str, TypeDef] = {}
    for f in sorted(Path(core_dir).glob("*.xml")):
        for k, v in _read(str(f)).items():
            out.setdefault(k, v)
    return out


class TypeIndex:
    """ComponentType definitions of the user's files (first) and of the
    NeuroML2 core type files."""

    def __init__(self, files=(), core_dir=None):
        self.types: dict[str, TypeDef] = {}
        for f in files:
            for k, v in _read(str(f)).items():
                self.types.setdefault(k, v)
        if core_dir is not None:
            for k, v in _core(str(core_dir)).items():
                self.types.setdefault(k, v)

    def chain(self, name: str) -> list[TypeDef]:
        """The type and its bases, nearest first."""
        out, seen = [], set()
        while name and name in self.types and name not in seen:
            seen.add(name)
            out.append(self.types[name])
            name = self.types[name].extends
        return out

    def locate(self, type_name: str) -> tuple[str | None, int | None]:
        t = self.types.get(type_name)
        return (t.file, t.line) if t else (None, None)

    def find(self, type_name: str, tag: str, name: str | None = None, *, key: str = "name",
             regime=ANY, index: int = 0, after: int = 0):
        """(defining type, file, line) of the ``index``-th ``<tag key=name>``
        at or after line ``after`` in ``type_name`` or its nearest base that
        has one. ``regime``: the Regime it sits in (``None``: outside every
        Regime; :data:`ANY`: anywhere). Falls back to the ComponentType
        itself, then to (type_name, None, None)."""
        for t in self.chain(type_name):
            hits = [e for e in t.elements if e.tag == tag and (name is None or e.attrs.get(key) == name)
                    and (regime is ANY or e.regime == regime) and e.line >= after]
            if len(hits) > index:
                return t.name, t.file, hits[index].line
        t = self.types.get(type_name)
        return (type_name, t.file, t.line) if t else (type_name, None, None)
