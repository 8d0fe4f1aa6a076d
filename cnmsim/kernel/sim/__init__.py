"""The simulated Linux networking kernel (the default backend)."""

from cnmsim.kernel.sim.context import SimContext
from cnmsim.kernel.sim.kernel import SimKernel
from cnmsim.kernel.sim.segment import Segment

__all__ = ["Segment", "SimContext", "SimKernel"]
