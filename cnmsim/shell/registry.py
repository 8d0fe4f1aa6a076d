"""The command registry and the process context every simulated command receives.

A command is `fn(proc) -> int` or a generator that yields simpy events and returns an int
(the exit status); it writes with `proc.out()` / `proc.err()`.  Modules in `cnmsim.apps`
register commands with `@command("name")` and are imported on first use.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Generator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cnmsim.lab import Lab
    from cnmsim.place import Place

CommandFn = Callable[["Proc"], "int | Generator[Any, Any, int]"]
COMMANDS: dict[str, CommandFn] = {}
_loaded = False


def command(*names: str) -> Callable[[CommandFn], CommandFn]:
    def deco(fn: CommandFn) -> CommandFn:
        for n in names:
            COMMANDS[n] = fn
        return fn

    return deco


def lookup(name: str) -> CommandFn | None:
    global _loaded
    if not _loaded:
        import cnmsim.apps as apps

        for m in pkgutil.iter_modules(apps.__path__):
            importlib.import_module(f"cnmsim.apps.{m.name}")
        _loaded = True
    return COMMANDS.get(name.rsplit("/", 1)[-1])


class Proc:
    """What a running command sees: argv, stdin, its place, the lab, and its output buffers."""

    def __init__(self, lab: Lab, place: Place, argv: list[str], stdin: str = "") -> None:
        self.lab = lab
        self.place = place
        self.argv = argv
        self.stdin = stdin
        self.stdout: list[str] = []
        self.stderr: list[str] = []
        self.pid = lab.next_pid()

    @property
    def ns(self):  # noqa: ANN201
        return self.place.ns

    @property
    def env(self):  # noqa: ANN201
        return self.lab.env

    @property
    def args(self) -> list[str]:
        return self.argv[1:]

    def out(self, text: str = "", end: str = "\n") -> None:
        self.stdout.append(text + end)

    def err(self, text: str, end: str = "\n") -> None:
        self.stderr.append(text + end)

    def fail(self, text: str, code: int = 1) -> int:
        self.err(text)
        return code

    def sleep(self, seconds: float):  # noqa: ANN201
        return self.lab.env.timeout(seconds)

    def run(self, argv: list[str], place: Place | None = None, stdin: str = "") -> Generator[Any, Any, int]:
        """Run another command (e.g. `ip netns exec NS CMD`), sharing this one's output."""
        from cnmsim.shell.runner import exec_argv

        return (yield from exec_argv(self.lab, place or self.place, argv, stdin, self))
