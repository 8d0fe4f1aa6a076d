"""Runs a parsed line as a simpy process: pipelines, `;`/`&&`/`||`, redirections, and the
shell's parameters: each word is expanded when its command runs (`false; echo $?` prints 1).

A place's shell variables live in `place.env` (a dict; a place that brings none gets HOME, PATH
and HOSTNAME, plus a container's image and `-e` variables); `NAME=value` alone on a command sets
one for the lines that follow, `NAME=value cmd` only while cmd runs, and the `export`/`unset`
builtins set and remove them.  `$?` at the start of a line is the previous line's status there.
"""

from __future__ import annotations

import inspect
from collections.abc import Generator
from typing import TYPE_CHECKING, Any

import simpy

from cnmsim.shell.parser import ASSIGNMENT, NAME, Line, expand, expand_one
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
    if proc.lab.real is not None:  # real mode: socket programs are the machine's own binaries
        from cnmsim.kernel.real import tools

        real = tools.lookup(name, proc.place.flavour)
        fn = None if real is False else (real or fn)
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


DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def shell_env(place: Place) -> dict[str, str]:
    """The place's shell variables (`place.env`), given their defaults the first time."""
    env = getattr(place, "env", None)
    if env is None:
        env = {}
        place.env = env  # type: ignore[attr-defined]  # kept for the lines that follow
    if not getattr(place, "_sh_seeded", False):
        c = getattr(place, "container", None)
        given: dict[str, str] = {}
        for e in [*(getattr(getattr(c, "image", None), "env", None) or []),
                  *(getattr(getattr(c, "config", None), "env", None) or [])]:
            k, sep, v = str(e).partition("=")
            if sep:
                given[k] = v
        for k, v in {"HOME": "/root", "PATH": DEFAULT_PATH, "HOSTNAME": place.hostname, **given}.items():
            env.setdefault(k, v)
        place._sh_seeded = True  # type: ignore[attr-defined]
    return env


def shell_pid(lab: Lab, place: Place) -> int:
    """`$$`: the PID of the shell the transcript types into at this place."""
    pid = getattr(place, "_sh_pid", None)
    if pid is None:
        pid = lab.next_pid()
        place._sh_pid = pid  # type: ignore[attr-defined]
    return int(pid)


def run_line(lab: Lab, place: Place, line: Line, term: Terminal) -> Generator[Any, Any, int]:
    env = shell_env(place)
    status = 0 if line.background else int(getattr(place, "_sh_status", 0))
    if line.background:  # `cmd &`: $? is 0 at once, whatever the job does later
        place._sh_status = 0  # type: ignore[attr-defined]

    def get(name: str) -> str | None:
        if name == "?":
            return str(status)
        if name == "$":
            return str(shell_pid(lab, place))
        if name == "#":
            return "0"
        if name == "0":
            return "sh"
        if len(name) == 1 and not NAME.fullmatch(name):
            return ""  # $1..$9, $@, $*, $!, $-: no arguments, no background job, no flags
        return env.get(name)

    def assign(name: str, value: str) -> None:
        env[name] = value

    for pl in line.pipelines:
        if (pl.op == "&&" and status != 0) or (pl.op == "||" and status == 0):
            continue
        stdin = ""
        for i, cmd in enumerate(pl.commands):
            words = list(cmd.argv)
            prefix: dict[str, str] = {}
            while words and (m := ASSIGNMENT.match(words[0])):
                prefix[m.group(1)] = expand_one(words.pop(0)[m.end():], get, assign)
            argv = [f for w in words for f in expand(w, get, assign)]
            proc = Proc(lab, place, argv, stdin) if argv else None
            if proc is None:  # only assignments: they stay set
                env.update(prefix)
                status = 0
                if i < len(pl.commands) - 1:
                    stdin = ""
                continue
            saved = {k: env.get(k) for k in prefix}
            env.update(prefix)  # `NAME=value cmd`: set while cmd runs
            try:
                if argv[0] in BUILTINS:
                    status = BUILTINS[argv[0]](proc, env)
                else:
                    status = yield from _call(proc)
            finally:
                for k, v in saved.items():
                    if v is None:
                        env.pop(k, None)
                    else:
                        env[k] = v
            out, err = "".join(proc.stdout), "".join(proc.stderr)
            stderr_to = expand_one(cmd.stderr_to, get) if cmd.stderr_to else cmd.stderr_to
            stdout_to = expand_one(cmd.stdout_to, get) if cmd.stdout_to else cmd.stdout_to
            if stderr_to == "&1":
                out, err = out + err, ""
            elif stderr_to is not None:
                if stderr_to != "/dev/null":
                    place.files[stderr_to] = err
                err = ""
            term.stderr.append(err)
            if stdout_to is not None:
                if stdout_to != "/dev/null":
                    old = place.files.get(stdout_to, "") if cmd.append else ""
                    place.files[stdout_to] = old + out
                out = ""
            if i == len(pl.commands) - 1:
                term.stdout.append(out)
            else:
                stdin = out
    if not line.background:
        place._sh_status = status  # type: ignore[attr-defined]
    return status


def _export(proc: Proc, env: dict[str, str]) -> int:
    """`export [NAME[=value] ...]`; alone, the variables as ash (busybox) or bash list them."""
    if not proc.args:
        busybox = proc.place.flavour == "busybox"
        for k in sorted(env):
            v = env[k]
            proc.out(f"export {k}='{v}'" if busybox else f'declare -x {k}="{v}"')
        return 0
    status = 0
    for a in proc.args:
        name, eq, value = a.partition("=")
        if not NAME.fullmatch(name):
            proc.err(f"sh: export: `{a}': not a valid identifier")
            status = 1
        elif eq:
            env[name] = value
    return status


def _unset(proc: Proc, env: dict[str, str]) -> int:
    for a in proc.args:
        if a not in ("-v", "-f"):
            env.pop(a, None)
    return 0


BUILTINS = {"export": _export, "unset": _unset}
