"""The outcome of one transcript line: what a terminal would show, and the packets it caused."""

from __future__ import annotations

from dataclasses import dataclass, field

from cnmsim.trace.events import Trace


@dataclass
class Result:
    exit_code: int
    stdout: str = ""
    stderr: str = ""
    trace: Trace = field(default_factory=Trace)

    @property
    def ok(self) -> bool:
        return self.exit_code == 0

    @property
    def output(self) -> str:
        """stdout then stderr, as a terminal shows them."""
        return self.stdout + self.stderr

    def __str__(self) -> str:
        return self.output

    def _repr_pretty_(self, p, cycle) -> None:  # noqa: ANN001  (IPython shows the terminal text)
        p.text(self.output.rstrip("\n") + f"\n[exit {self.exit_code}]")
