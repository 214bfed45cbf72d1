"""The IR of a whole model: groups of mechanism instances, the links between
them, and what a simulation of it records. Plain frozen data."""
from __future__ import annotations

from dataclasses import dataclass, field

from .mechanism import Mechanism


@dataclass(frozen=True)
class Group:
    """``size`` instances of one mechanism (a population of cells, a set of
    stimuli). ``overrides`` gives per-instance parameter values
    (name -> tuple of ``size`` floats, internal units)."""
    id: str
    mechanism: Mechanism
    size: int
    component: str = ""
    overrides: dict = field(default_factory=dict)
    emits_spikes: bool = False


@dataclass(frozen=True)
class Link:
    """Feed ``src`` group's variable into ``dst`` group's input.

    kind "sum": dst input (an attachment) is the sum over linked sources;
    kind "gather": dst input (a requirement such as ``v``) reads the source.
    ``pairs`` are (src instance, dst instance)."""
    kind: str
    src: str
    src_var: str
    dst: str
    dst_input: str
    pairs: tuple[tuple[int, int], ...]


@dataclass(frozen=True)
class EventLink:
    """Events emitted on ``src`` group's port ``src_port`` (a cell's
    ``spike``) reach ``dst`` group's ``OnEvent`` on ``dst_port`` (a
    synapse's ``in``) after a delay. ``pairs`` are (src instance, dst
    instance); ``delays`` (ms) one per pair."""
    src: str
    src_port: str
    dst: str
    dst_port: str
    pairs: tuple[tuple[int, int], ...]
    delays: tuple[float, ...]


@dataclass(frozen=True)
class Cable:
    """The compartments of one branched cell and their axial coupling, in
    Hines order (``parent[i] < i``, ``parent[0] = -1``). ``ri`` is the axial
    resistance (MΩ) from each node to its parent, ``area`` the membrane area
    (µm²; 0 for NEURON's zero-area end nodes). ``members`` maps each group
    (compartments with the same mechanisms) to the node of each of its
    instances, so every node is one instance of one group."""
    parent: tuple[int, ...]
    ri: tuple[float, ...]
    area: tuple[float, ...]
    members: dict


@dataclass(frozen=True)
class Network:
    id: str
    groups: tuple[Group, ...]
    links: tuple[Link, ...] = ()
    temperature: float = 279.45  # K (6.3 degC, NEURON's default celsius)
    cable: Cable | None = None
    event_links: tuple[EventLink, ...] = ()

    def group(self, gid: str) -> Group:
        for g in self.groups:
            if g.id == gid:
                return g
        raise KeyError(gid)


@dataclass(frozen=True)
class OutputColumn:
    id: str
    quantity: str


@dataclass(frozen=True)
class OutputFile:
    id: str
    file_name: str
    columns: tuple[OutputColumn, ...]


@dataclass(frozen=True)
class EventSelection:
    id: str
    select: str
    event_port: str = "spike"


@dataclass(frozen=True)
class EventOutputFile:
    id: str
    file_name: str
    format: str
    selections: tuple[EventSelection, ...]


@dataclass(frozen=True)
class Line:
    id: str
    quantity: str
    scale: float = 1.0        # SI value of one plotted unit
    scale_text: str = "1"
    color: str | None = None
    time_scale: float = 1e-3  # SI seconds per plotted time unit


@dataclass(frozen=True)
class Display:
    id: str
    title: str
    lines: tuple[Line, ...]
    xmin: float | None = None
    xmax: float | None = None
    ymin: float | None = None
    ymax: float | None = None
    time_scale: float = 1e-3


@dataclass(frozen=True)
class SimulationSpec:
    id: str
    duration: float  # ms
    dt: float        # ms
    outputs: tuple[OutputFile, ...] = ()
    event_outputs: tuple[EventOutputFile, ...] = ()
    displays: tuple[Display, ...] = ()
    seed: int | None = None


@dataclass(frozen=True)
class ModelIR:
    name: str
    file: str
    network: Network
    simulation: SimulationSpec | None = None
    unsupported: tuple[str, ...] = ()
    origins: dict = field(default_factory=dict)
    """Mechanism name -> where its equations are written: ``("d/dt",
    state)``, ``("derived", name)``, ``("on_start", state)``,
    ``("condition", k)`` -> :class:`~nmlcell.ir.mechanism.Source` (see
    :mod:`nmlcell.importers.lems_origins`); for ``nmlcell info``."""
