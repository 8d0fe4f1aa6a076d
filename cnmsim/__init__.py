"""cnmsim: Docker container networking (CNM) simulated on a Linux-like kernel, hop by hop."""

from cnmsim.lab import Lab
from cnmsim.result import Result

__version__ = "0.1.0"
__all__ = ["Lab", "Result", "__version__"]
