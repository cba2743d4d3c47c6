"""What happens at the end of every step: observers on one schedule, with one fused reduction.

``schedule`` (when), ``reduction`` (one allreduce of sums and extrema), ``observers`` (the protocol and
the ordered set a Simulation runs), ``guard`` (state and closure-failure check), ``recorder`` (the
diagnostics history), ``outputs`` (field files, checkpoints, the stop check), ``progress`` (rank 0's bar
or batch-log lines); and, within a step, ``unchanged`` (the closure's memo of cells whose moments did not
change).
"""

from .guard import StateGuard, StateSummary
from .observers import Observer, Observers
from .outputs import Checkpointer, FieldWriter, StopCheck
from .progress import Progress
from .recorder import StepRecorder
from .reduction import FusedReduction
from .schedule import Schedule

__all__ = ["Checkpointer", "FieldWriter", "FusedReduction", "Observer", "Observers", "Progress", "Schedule",
           "StateGuard", "StateSummary", "StepRecorder", "StopCheck"]
