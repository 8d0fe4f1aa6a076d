"""Runs a parsed line as a simpy process: pipelines, `;`/`&&`/`||`, redirections."""

from __future__ import annotations

import inspect
from collections.abc import Generator
from typing import TYPE_CHECKING, Any

import simpy

from cnmsim.shell.parser import Line
from cnmsim.shell.registry import Proc, lookup

if TYPE_CHECKING:
    from cnmsim.lab import Lab
    from cnmsim.place import Place


class Terminal:
    """What the terminal shows for one line."""

    def __init__(self) -> None:
        self.stdout: list[str] = []
        self.stderr: list[str] = []


def exec_argv(lab: Lab, place: Place, argv: list[str], stdin: str,
              sink: Proc | None) -> Generator[Any, Any, int]:
    """Run one command; its output goes to `sink` (a parent proc) when given."""
    proc = Proc(lab, place, argv, stdin)
    if sink is not None:  # share buffers with the parent (ip netns exec, docker exec ...)
        proc.stdout, proc.stderr = sink.stdout, sink.stderr
    code = yield from _call(proc)
    return code


def _call(proc: Proc) -> Generator[Any, Any, int]:
    name = proc.argv[0]
    fn = lookup(name)
    if fn is None:
        proc.err(f"sh: {name}: not found")
        return 127
    try:
        r = fn(proc)
        if inspect.isgenerator(r):
            r = yield from r
    except simpy.Interrupt:
        return 130
    return int(r or 0)


def run_line(lab: Lab, place: Place, line: Line, term: Terminal) -> Generator[Any, Any, int]:
    status = 0
    for pl in line.pipelines:
        if (pl.op == "&&" and status != 0) or (pl.op == "||" and status == 0):
            continue
        stdin = ""
        for i, cmd in enumerate(pl.commands):
            proc = Proc(lab, place, cmd.argv, stdin) if cmd.argv else None
            if proc is None:
                status = 0
                continue
            status = yield from _call(proc)
            out, err = "".join(proc.stdout), "".join(proc.stderr)
            if cmd.stderr_to == "&1":
                out, err = out + err, ""
            elif cmd.stderr_to is not None:
                if cmd.stderr_to != "/dev/null":
                    place.files[cmd.stderr_to] = err
                err = ""
            term.stderr.append(err)
            if cmd.stdout_to is not None:
                if cmd.stdout_to != "/dev/null":
                    old = place.files.get(cmd.stdout_to, "") if cmd.append else ""
                    place.files[cmd.stdout_to] = old + out
                out = ""
            if i == len(pl.commands) - 1:
                term.stdout.append(out)
            else:
                stdin = out
    return status
