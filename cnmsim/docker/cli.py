"""`docker ...`: parse the command line, call the host's engine, print what the real CLI prints.

The CLI has no behaviour of its own (BRIEF: "parses `docker ...`, calls the engine").  A daemon
refusal prints `Error response from daemon: MSG` and exits 1; `docker run`/`create` print
`docker: Error response from daemon: MSG.` plus `See 'docker run --help'.` and exit 125; a
flag error prints pflag's message plus the same hint and exits 125.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Generator
from typing import Any

from cnmsim.docker.flags import FlagError
from cnmsim.engine.errors import EngineError
from cnmsim.engine.ipam.api import IpamError
from cnmsim.shell.registry import Proc

Handler = Callable[[Proc, Any, list[str]], "int | Generator[Any, Any, int]"]
COMMANDS: dict[str, Handler] = {}
GROUPS: dict[str, dict[str, Handler]] = {"network": {}, "container": {}, "swarm": {}, "node": {}, "service": {}}
USAGE = """
Usage:  docker [OPTIONS] COMMAND

A self-sufficient runtime for containers

Common Commands:
  run         Create and run a new container from an image
  exec        Execute a command in a running container
  ps          List containers
  inspect     Return low-level information on Docker objects

Management Commands:
  container   Manage containers
  network     Manage networks
  node        Manage Swarm nodes
  service     Manage Swarm services

Swarm Commands:
  swarm       Manage Swarm

Run 'docker COMMAND --help' for more information on a command.
"""


def cmd(*names: str, group: str | None = None) -> Callable[[Handler], Handler]:
    def deco(fn: Handler) -> Handler:
        table = GROUPS[group] if group else COMMANDS
        for n in names:
            table[n] = fn
        return fn

    return deco


def _load() -> None:
    from cnmsim.docker import (  # noqa: F401  (they register)
        container_cmd,
        network_cmd,
        node_cmd,
        run_cmd,
        service_cmd,
        swarm_cmd,
    )


def daemon_error(proc: Proc, e: Exception, code: int = 1) -> int:
    proc.err(f"Error response from daemon: {e}")
    return code


def run_error(proc: Proc, name: str, msg: str) -> int:
    """reportError: `docker: MSG.` and the help hint, exit 125 (docker run / create / start -a)."""
    proc.err(f"docker: {msg.rstrip('.')}.\nSee 'docker {name} --help'.")
    return 125


def main(proc: Proc) -> Generator[Any, Any, int]:
    engine = getattr(proc.place.host, "engine", None)
    if engine is None or proc.place.container is not None:
        proc.err("sh: docker: not found")
        return 127
    _load()
    args = proc.args
    if not args or args[0] in ("-h", "--help", "help"):
        proc.out(USAGE.strip("\n") if args else USAGE.rstrip("\n"))
        return 0 if args else 0
    if args[0] in ("-v", "--version", "version"):
        from cnmsim.engine.daemon import VERSION

        proc.out(f"Docker version {VERSION}, build cnmsim")
        return 0
    name, rest, path = args[0], args[1:], args[0]
    table = COMMANDS
    if name in GROUPS:
        if not rest or rest[0] in ("-h", "--help"):
            proc.out(f"\nUsage:  docker {name} COMMAND\n\nManage {name}s\n")
            return 0
        table, name, rest, path = GROUPS[name], rest[0], rest[1:], f"{name} {rest[0]}"
    fn = table.get(name)
    if fn is None:
        if table is COMMANDS:
            proc.err(f"docker: '{name}' is not a docker command.\nSee 'docker --help'")
            return 1
        proc.err(f"docker: '{path.split()[0]} {name}' is not a docker command.\nSee 'docker --help'")
        return 1
    try:
        r = fn(proc, engine, rest)
        if inspect.isgenerator(r):
            r = yield from r
        return int(r or 0)
    except FlagError as e:
        proc.err(f"{e}\nSee 'docker {path} --help'.")
        return 125
    except (EngineError, IpamError) as e:
        if path in ("run", "create", "container run", "container create"):
            return run_error(proc, path.split()[-1], f"Error response from daemon: {e}")
        return daemon_error(proc, e)
