"""Plain-data IR shared by importers, passes and lowering (no JAX here)."""
from .mechanism import (Assignment as Assignment, Condition as Condition, Derived as Derived,
                        Input as Input, Mechanism as Mechanism, Parameter as Parameter,
                        Source as Source, State as State)
from .model import (Display as Display, EventLink as EventLink, EventOutputFile as EventOutputFile, Group as Group,
                    Line as Line, Link as Link, ModelIR as ModelIR, Network as Network,
                    OutputColumn as OutputColumn, OutputFile as OutputFile,
                    SimulationSpec as SimulationSpec)
from .units import Dim as Dim
