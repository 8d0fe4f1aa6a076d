"""The container's main process (what containerd/runc would run): the image's app, an idle
shell, or a one-shot command, and what `docker run` shows of it when attached.

- no command given and the image has an app (nginx, consul, pets): the app starts and keeps
  the container running, attached or not (there is no terminal to hold);
- a lone shell (`sh`, `bash` ...) with -i or -t: the container idles, running; without them the
  shell reads EOF and exits 0 at once, as a real one does;
- any other command: attached, the CLI runs it in the container and prints its output; detached,
  it runs in the background and its output goes to `docker logs`.  Either way the container
  exits with the command's status when it ends.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import TYPE_CHECKING, Any

import simpy

if TYPE_CHECKING:
    from cnmsim.engine.container import Container
    from cnmsim.engine.daemon import Daemon
    from cnmsim.shell.registry import Proc

SHELLS = {"sh", "bash", "ash", "zsh", "/bin/sh", "/bin/bash", "/bin/ash", "/bin/zsh"}
OCI_NOT_FOUND = ('failed to create task for container: failed to create shim task: OCI runtime create failed: '
                 'runc create failed: unable to start container process: exec: "{0}": executable file not found '
                 'in $PATH: unknown')


def main_argv(c: Container) -> list[str]:
    img = c.image
    if c.config.entrypoint:  # --entrypoint drops the image's Cmd too (only the run's words follow)
        return c.config.entrypoint + c.config.cmd
    return list(img.entrypoint) + (c.config.cmd or list(img.cmd))


def _env(c: Container) -> dict[str, str]:
    out = {}
    for e in c.config.env:
        k, _, v = e.partition("=")
        out[k] = v
    return out


def _kind(c: Container) -> str:
    argv = main_argv(c)
    if not argv:
        return "exit"
    if argv[0] in SHELLS and len(argv) == 1:
        return "idle" if (c.config.tty or c.config.interactive) else "exit"
    return "command"


def _start_app(d: Daemon, c: Container) -> bool:
    """The image's own server, if it has one and the command was not replaced."""
    from cnmsim.engine.images.base import AppContext

    if c.image.app is None:
        return False
    ctx = AppContext(place=c.place, env=_env(c), cmd=c.config.cmd or list(c.image.cmd),
                     log=lambda stream, line: c.log(stream, line, d.lab.now), tty=c.config.tty,
                     on_exit=lambda code: _finished(d, c, code) if c.running else None)
    if d.lab.real is not None:  # the image's server as a real process in the sandbox
        from cnmsim.kernel.real.apps import start_real_app

        started = start_real_app(ctx, c.image)
    else:
        started = c.image.start(ctx)
    if started is None:
        return False
    c.app = ctx
    return True


def start(d: Daemon, c: Container) -> None:
    if _start_app(d, c):
        c.main_kind = "app"  # type: ignore[attr-defined]
        return
    kind = _kind(c)
    c.main_kind = kind  # type: ignore[attr-defined]
    env = d.lab.env
    if kind == "exit":
        c.proc = env.process(_exit_now(d, c))
    elif kind == "command" and not getattr(c, "attached", False):
        c.proc = env.process(_background(d, c))


def _exit_now(d: Daemon, c: Container) -> Generator[Any, Any, None]:
    yield d.lab.env.timeout(0)
    _finished(d, c, 0)


def _finished(d: Daemon, c: Container, code: int) -> None:
    from cnmsim.engine import lifecycle

    c.proc = None
    lifecycle.stop(d, c, code)
    if c.config.auto_remove:
        lifecycle.remove(d, c, force=True)


def _background(d: Daemon, c: Container) -> Generator[Any, Any, None]:
    from cnmsim.shell.registry import Proc
    from cnmsim.shell.runner import exec_argv

    sink = Proc(d.lab, c.place, ["containerd-shim"])
    try:
        code = yield from exec_argv(d.lab, c.place, main_argv(c), "", sink)
    except simpy.Interrupt:
        return
    _log_output(d, c, sink)
    if c.running:
        _finished(d, c, code)


def _log_output(d: Daemon, c: Container, sink: Proc) -> None:
    for stream, chunks in (("stdout", sink.stdout), ("stderr", sink.stderr)):
        for line in "".join(chunks).splitlines():
            c.log(stream, line, d.lab.now)


def stop(d: Daemon, c: Container, graceful: bool = True) -> None:
    app, c.app = c.app, None
    if app is not None:
        app.stop(graceful)
    proc = c.proc
    c.proc = None
    if proc is not None and proc.is_alive and proc is not d.lab.env.active_process:
        proc.interrupt("stop")


def attach(d: Daemon, c: Container, proc: Proc) -> Generator[Any, Any, int]:
    """`docker run` without -d: print what the terminal would show, wait for a one-shot command."""
    from cnmsim.shell.registry import lookup

    if getattr(c, "main_kind", "") != "command":
        for _, stream, line in c.logs:
            (proc.out if stream == "stdout" else proc.err)(line)
        if getattr(c, "main_kind", "") == "exit":
            yield d.lab.env.timeout(0)
        return 0
    argv = main_argv(c)
    if lookup(argv[0]) is None:
        from cnmsim.docker.cli import run_error

        _finished(d, c, 127)
        return run_error(proc, "run", "Error response from daemon: " + OCI_NOT_FOUND.format(argv[0])) + 2
    before = (len(proc.stdout), len(proc.stderr))
    code = yield from proc.run(argv, place=c.place)
    for stream, chunks in (("stdout", proc.stdout[before[0]:]), ("stderr", proc.stderr[before[1]:])):
        for line in "".join(chunks).splitlines():
            c.log(stream, line, d.lab.now)
    if c.running:
        _finished(d, c, code)
    return code
