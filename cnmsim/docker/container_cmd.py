"""`docker ps|inspect|logs|port|exec|stop|kill|restart|rm` and `docker container prune`
(docker/cli cli/command/container, cli/command/system/inspect.go) over the engine.

The CLI prints what the daemon answers (container_views shapes it).  Refusals are the
daemon's words behind "Error response from daemon: "; a wrong number of arguments is
cobra's message and exit 1; a bad flag is pflag's and exit 125 (cnmsim.docker.cli).
Stopping waits in simulated time where docker waits: a main process that ignores the stop
signal (a shell or a one-shot command as PID 1) gets SIGKILL after 10 s and exits 137.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Generator
from typing import Any

from cnmsim.docker import container_views as cv
from cnmsim.docker import units, views
from cnmsim.docker.cli import cmd
from cnmsim.docker.flags import Flag, FlagError, parse
from cnmsim.docker.jsonout import InspectError, docker_inspect, no_such_object
from cnmsim.engine import lifecycle
from cnmsim.engine.errors import Conflict, EngineError
from cnmsim.engine.runtime import SHELLS
from cnmsim.shell.registry import Proc

Fn = Callable[[Proc, Any, list[str], str], Any]
USAGE = {  # cobra Use (after the name) and Short
    "ps": ("[OPTIONS]", "List containers"), "ls": ("[OPTIONS]", "List containers"),
    "inspect": ("[OPTIONS] NAME|ID [NAME|ID...]", "Return low-level information on Docker objects"),
    "container inspect": ("[OPTIONS] CONTAINER [CONTAINER...]",
                          "Display detailed information on one or more containers"),
    "logs": ("[OPTIONS] CONTAINER", "Fetch the logs of a container"),
    "port": ("CONTAINER [PRIVATE_PORT[/PROTO]]", "List port mappings or a specific mapping for the container"),
    "exec": ("[OPTIONS] CONTAINER COMMAND [ARG...]", "Execute a command in a running container"),
    "stop": ("[OPTIONS] CONTAINER [CONTAINER...]", "Stop one or more running containers"),
    "kill": ("[OPTIONS] CONTAINER [CONTAINER...]", "Kill one or more running containers"),
    "restart": ("[OPTIONS] CONTAINER [CONTAINER...]", "Restart one or more containers"),
    "rm": ("[OPTIONS] CONTAINER [CONTAINER...]", "Remove one or more containers"),
    "prune": ("[OPTIONS]", "Remove all stopped containers"),
}
OCI_EXEC = ('OCI runtime exec failed: exec failed: unable to start container process: exec: "{0}": '
            "executable file not found in $PATH: unknown")
PRUNE_WARNING = "WARNING! This will remove all stopped containers.\nAre you sure you want to continue? [y/N] "
STOP_TIMEOUT = 10  # seconds: the default StopTimeout


def command(name: str, top: tuple[str, ...] = (), group: tuple[str, ...] = ()) -> Callable[[Fn], Fn]:
    """Register FN as `docker TOP` and `docker container GROUP`; FN gets the command path
    cobra would name in its messages (an alias is named by the command's own name)."""
    def deco(fn: Fn) -> Fn:
        for n in top:
            cmd(n)(lambda proc, d, argv, _p=name: fn(proc, d, argv, _p))
        for n in group:
            cmd(n, group="container")(lambda proc, d, argv, _p=f"container {name}": fn(proc, d, argv, _p))
        return fn
    return deco


def _arity(proc: Proc, path: str, args: list[str], lo: int, hi: int | None) -> bool:
    """cli.NoArgs / ExactArgs / RequiresMinArgs / RequiresRangeArgs."""
    if len(args) >= lo and (hi is None or len(args) <= hi):
        return True
    plural = "argument" if (hi or lo) == 1 else "arguments"
    if hi == 0:
        what = "accepts no arguments"
    elif hi == lo:
        what = f"requires exactly {lo} {plural}"
    elif hi is None:
        what = f"requires at least {lo} {plural}"
    else:
        what = f"requires at least {lo} and at most {hi} {plural}"
    use, short = USAGE.get(path, USAGE[path.split()[-1]])
    proc.err(f'"docker {path}" {what}.\nSee \'docker {path} --help\'.\n\nUsage:  docker {path} {use}\n\n{short}')
    return False


def _int_flag(p: Any, name: str, short: str, default: int) -> int:
    raw = p.get(name)
    if raw is None:
        return default
    try:
        return int(str(raw))
    except ValueError:
        shown = f"-{short}, --{name}" if short else f"--{name}"
        raise FlagError(f'invalid argument "{raw}" for "{shown}" flag: strconv.ParseInt: '
                        f'parsing "{raw}": invalid syntax') from None


# ---------------------------------------------------------------- docker ps
PS_FLAGS = [Flag("all", "a"), Flag("quiet", "q"), Flag("no-trunc"), Flag("latest", "l"), Flag("last", "n", "str"),
            Flag("size", "s"), Flag("format", "", "str"), Flag("filter", "f", "list")]


@command("ps", top=("ps",))
@command("ls", group=("ls", "ps", "list"))
def ps(proc: Proc, d: Any, argv: list[str], path: str) -> int:
    from cnmsim.docker import gotemplate
    from cnmsim.docker.table import FormatError

    p = parse(argv, PS_FLAGS)
    if not _arity(proc, path, p.args, 0, 0):
        return 1
    last = _int_flag(p, "last", "n", -1)
    filters = cv.ps_filters(p.list("filter"))
    fmt, quiet = p.str("format"), p.bool("quiet")
    if fmt and quiet:
        proc.err("WARNING: Ignoring custom format, because both --format and --quiet are set.")
    if fmt:
        try:
            gotemplate.parse(fmt)
        except gotemplate.TemplateError as e:
            proc.err(f"failed to parse template: {e}")
            return 1
    ctrs = cv.ps_select(d, p.bool("all"), 1 if p.bool("latest") and last == -1 else last, filters)
    trunc = not p.bool("no-trunc")
    if quiet:
        fmt = "{{.ID}}"
    elif fmt in ("", "table"):
        fmt = cv.PS_FORMAT + ("\t{{.Size}}" if p.bool("size") else "")
    elif fmt == "raw":
        fmt = cv.PS_RAW_FORMAT + ("size: {{.Size}}\n" if p.bool("size") else "")
    size = p.bool("size") or (".Size" in fmt and p.get("size") is None)
    try:
        text = views.render(fmt, cv.PS_HEADERS, [cv.ps_row(d, c, trunc, size) for c in ctrs])
    except FormatError as e:
        proc.err(str(e))
        return 1
    proc.out(text, end="")
    return 0


# ---------------------------------------------------------------- docker inspect
@command("inspect", top=("inspect",), group=("inspect",))
def inspect_(proc: Proc, d: Any, argv: list[str], path: str) -> int:
    flags = [Flag("format", "f", "str"), Flag("size", "s")] + ([Flag("type", "", "str")] if path == "inspect" else [])
    p = parse(argv, flags)
    kind = "container" if path != "inspect" else p.str("type")
    if kind not in ("", "container", "network", "image", "volume", "config", "node", "plugin", "secret",
                    "service", "task"):
        proc.err(f'"{kind}" is not a valid value for --type')
        return 1
    if not _arity(proc, path, p.args, 1, None):
        return 1

    def lookup(ref: str) -> Any:  # inspectAll: a container, else a network (images are not modelled)
        for k, find, shape in (("container", d.container, lambda o: cv.container_json(d, o, p.bool("size"))),
                               ("network", d.controller.network, lambda o: views.network_json(d, o))):
            if kind in ("", k):
                try:
                    return shape(find(ref))
                except EngineError as e:
                    if kind:
                        raise InspectError(f"Error response from daemon: {e}") from None
        raise InspectError(no_such_object(ref) if not kind else f"Error response from daemon: No such {kind}: {ref}")

    res = docker_inspect(p.args, lookup, p.str("format"))
    proc.out(res.stdout, end="")
    proc.err(res.stderr, end="")
    return res.exit_code


# ---------------------------------------------------------------- docker logs / port
LOGS_FLAGS = [Flag("follow", "f"), Flag("tail", "n", "str"), Flag("timestamps", "t"), Flag("details"),
              Flag("since", "", "str"), Flag("until", "", "str")]


@command("logs", top=("logs",), group=("logs",))
def logs(proc: Proc, d: Any, argv: list[str], path: str) -> Generator[Any, Any, int]:
    """The container's log lines, stdout's to stdout and stderr's to stderr; -f follows them
    until the container stops (or the line is interrupted)."""
    p = parse(argv, LOGS_FLAGS)
    if not _arity(proc, path, p.args, 1, 1):
        return 1
    c = d.container(p.args[0])
    tail = p.str("tail", "all")
    n = int(tail) if tail.lstrip("-").isdigit() else -1
    lines = c.logs[-n:] if n > 0 else ([] if n == 0 else list(c.logs))
    seen = len(c.logs)

    def emit(entries: list[tuple[float, str, str]]) -> None:
        for t, stream, line in entries:
            text = f"{cv.rfc3339nano_fixed(t)} {line}" if p.bool("timestamps") else line
            (proc.out if stream == "stdout" else proc.err)(text)

    emit(lines)
    while p.bool("follow") and c.running and c.id in d.containers:
        yield proc.sleep(0.1)
        emit(c.logs[seen:])
        seen = len(c.logs)
    if p.bool("follow"):
        emit(c.logs[seen:])
    return 0


@command("port", top=("port",), group=("port",))
def port(proc: Proc, d: Any, argv: list[str], path: str) -> int:
    p = parse(argv, [])
    if not _arity(proc, path, p.args, 1, 2):
        return 1
    c = d.container(p.args[0])
    ports = {k: (v if isinstance(v, list) else None) for k, v in cv.port_map(c).items()}
    try:
        lines = units.port_lookup(ports, p.args[0], p.args[1]) if len(p.args) > 1 else units.port_lines(ports)
    except units.PortError as e:
        proc.err(str(e))
        return 1
    if lines:
        proc.out("\n".join(lines))
    return 0


# ---------------------------------------------------------------- docker exec
EXEC_FLAGS = [Flag("interactive", "i"), Flag("tty", "t"), Flag("detach", "d"), Flag("env", "e", "list"),
              Flag("env-file", "", "list"), Flag("workdir", "w", "str"), Flag("user", "u", "str"),
              Flag("privileged"), Flag("detach-keys", "", "str")]


@command("exec", top=("exec",), group=("exec",))
def exec_(proc: Proc, d: Any, argv: list[str], path: str) -> Generator[Any, Any, int]:
    """Run a command in a running container's place; its status is docker's exit status."""
    from cnmsim.shell.registry import lookup
    from cnmsim.shell.runner import exec_argv

    p = parse(argv, EXEC_FLAGS, interspersed=False)
    if not _arity(proc, path, p.args, 2, None):
        return 1
    c = d.container(p.args[0])
    if not c.running or c.place is None:
        raise Conflict(f"container {c.id} is not running")
    argv2 = p.args[1:]
    place = dataclasses.replace(c.place, cwd=p.str("workdir")) if p.str("workdir") else c.place
    shell = lookup(argv2[0]) is None and argv2[0].rsplit("/", 1)[-1] in SHELLS
    if shell and (len(argv2) == 1 or argv2[1] == "-c"):
        return (yield from _shell(proc, d, place, argv2, p.bool("detach")))
    if lookup(argv2[0]) is None:  # runc cannot find the executable: the exec exits 127
        if p.bool("detach"):
            raise EngineError(OCI_EXEC.format(argv2[0]))
        proc.out(OCI_EXEC.format(argv2[0]))
        return 127
    if p.bool("detach"):
        d.lab.env.process(exec_argv(d.lab, place, argv2, "", None))
        return 0
    err_at = len(proc.stderr)
    code = yield from proc.run(argv2, place=place, stdin=proc.stdin if p.bool("interactive") else "")
    if p.bool("tty"):  # one pseudo-terminal: stderr arrives on stdout
        proc.stdout += proc.stderr[err_at:]
        del proc.stderr[err_at:]
    return code


def _shell(proc: Proc, d: Any, place: Any, argv: list[str], detach: bool) -> Generator[Any, Any, int]:
    """A shell the simulator has no program for: `sh -c SCRIPT` runs the script's line there;
    a lone shell is the interactive session the transcript goes on in (lines naming the
    container), or, without -i, a shell that reads end-of-file and exits 0."""
    from cnmsim.shell.parser import ParseError
    from cnmsim.shell.parser import parse as parse_line
    from cnmsim.shell.runner import Terminal, run_line

    if len(argv) < 3:
        return 0
    try:
        line = parse_line(argv[2])
    except ParseError as e:
        proc.err(f"{argv[0]}: {e}")
        return 2
    term = Terminal()
    if detach:
        d.lab.env.process(run_line(d.lab, place, line, term))
        return 0
    code = yield from run_line(d.lab, place, line, term)
    proc.stdout += term.stdout
    proc.stderr += term.stderr
    return code


# ---------------------------------------------------------------- stop / kill / restart / rm / prune
def _stop_signal(c: Any, raw: str) -> int:
    return cv.parse_signal(raw or getattr(c.image, "stop_signal", "") or "SIGTERM")


def _halt(d: Any, c: Any, code: int, remove: bool = True) -> None:
    """The main process ended: SIGKILL (137) gives the app no chance to log its shutdown."""
    lifecycle.stop(d, c, code, graceful=code != 137)
    if remove and c.config.auto_remove and c.id in d.containers:
        lifecycle.remove(d, c, force=True)


def _handles(c: Any, sig: int) -> bool:
    """Does the main process act on SIG?  An app does (and exits with the image's code, 0
    unless it says otherwise); a shell or a one-shot command running as PID 1 has no handler,
    and PID 1 ignores such signals (a shell-form CMD keeps `sh -c` as PID 1)."""
    return (c.app is not None and sig in (2, 3, 15)
            and cv.path_args(c)[0].rsplit("/", 1)[-1] not in SHELLS)


def stop_container(d: Any, c: Any, timeout: int | None, sig: int, remove: bool = True) -> Generator[Any, Any, None]:
    """ContainerStop: the stop signal, up to TIMEOUT seconds (-1: forever), then SIGKILL (137)."""
    env = d.lab.env
    if not c.running:
        return
    if sig == 9 or _handles(c, sig):
        _halt(d, c, 137 if sig == 9 else int(getattr(c.image, "stop_exit_code", 0)), remove)
        return
    wait = STOP_TIMEOUT if timeout is None else timeout
    events = [env.timeout(wait)] if wait > 0 else ([env.event()] if wait < 0 else [])
    if events and c.proc is not None and c.proc.is_alive:
        events.append(c.proc)  # the command may end by itself while docker waits
    if events:
        yield env.any_of(events)
    if c.running:
        _halt(d, c, 137, remove)


def _stop_flags(p: Any) -> int | None:
    """-t/--time (or the deprecated --timeout); None: the container's default."""
    for name, short in (("time", "t"), ("timeout", "")):
        if p.get(name) is not None:
            return _int_flag(p, name, short, 0)
    return None


STOP_FLAGS = [Flag("time", "t", "str"), Flag("timeout", "", "str"), Flag("signal", "s", "str")]


@command("stop", top=("stop",), group=("stop",))
def stop(proc: Proc, d: Any, argv: list[str], path: str) -> Generator[Any, Any, int]:
    """Stop all the containers at once (the CLI's parallelOperation), then print their names."""
    p = parse(argv, STOP_FLAGS)
    if not _arity(proc, path, p.args, 1, None):
        return 1
    timeout, errs, jobs = _stop_flags(p), {}, []
    for ref in p.args:
        try:
            c = d.container(ref)
            jobs.append(d.lab.env.process(stop_container(d, c, timeout, _stop_signal(c, p.str("signal")))))
        except EngineError as e:
            errs[ref] = f"Error response from daemon: {e}"
    if jobs:
        yield d.lab.env.all_of(jobs)
    for ref in p.args:
        if ref not in errs:
            proc.out(ref)
    if errs:
        proc.err("\n".join(errs.values()))
    return 1 if errs else 0


@command("kill", top=("kill",), group=("kill",))
def kill(proc: Proc, d: Any, argv: list[str], path: str) -> int:
    p = parse(argv, [Flag("signal", "s", "str")])
    if not _arity(proc, path, p.args, 1, None):
        return 1
    errs = []
    for ref in p.args:
        try:
            sig = cv.parse_signal(p.str("signal") or "KILL")
            c = d.container(ref)
            if not c.running:
                raise Conflict(f"container {c.id} is not running")
            if sig == 9 or _handles(c, sig):
                _halt(d, c, 137 if sig == 9 else int(getattr(c.image, "stop_exit_code", 0)))
        except EngineError as e:
            errs.append(f"Error response from daemon: cannot kill container: {ref}: {e}")
            continue
        proc.out(ref)
    if errs:
        proc.err("\n".join(errs))
    return 1 if errs else 0


@command("restart", top=("restart",), group=("restart",))
def restart(proc: Proc, d: Any, argv: list[str], path: str) -> Generator[Any, Any, int]:
    """One container after the other: stop as `docker stop` does (no --rm removal), start."""
    p = parse(argv, STOP_FLAGS)
    if not _arity(proc, path, p.args, 1, None):
        return 1
    timeout, errs = _stop_flags(p), []
    for ref in p.args:
        try:
            c = d.container(ref)
        except EngineError as e:
            errs.append(f"Error response from daemon: {e}")
            continue
        try:
            yield from stop_container(d, c, timeout, _stop_signal(c, p.str("signal")), remove=False)
            lifecycle.start(d, c)
        except EngineError as e:
            errs.append(f"Error response from daemon: Cannot restart container {ref}: {e}")
            continue
        proc.out(ref)
    if errs:
        proc.err("\n".join(errs))
    return 1 if errs else 0


@command("rm", top=("rm",), group=("rm", "remove"))
def rm(proc: Proc, d: Any, argv: list[str], path: str) -> int:
    """Remove; -f kills a running one first.  With -f a missing container is only reported."""
    p = parse(argv, [Flag("force", "f"), Flag("volumes", "v"), Flag("link", "l")])
    if not _arity(proc, path, p.args, 1, None):
        return 1
    errs = []
    for ref in p.args:
        name = ref.strip("/")
        try:
            if not name:
                raise EngineError("Container name cannot be empty")
            lifecycle.remove(d, d.container(name), force=p.bool("force"))
        except EngineError as e:
            msg = f"Error response from daemon: {e}" if name else str(e)
            if p.bool("force") and e.status == 404:
                proc.err(msg)
            else:
                errs.append(msg)
            continue
        proc.out(ref)
    if errs:
        proc.err("\n".join(errs))
    return 1 if errs else 0


@command("prune", group=("prune",))
def prune(proc: Proc, d: Any, argv: list[str], path: str) -> int:
    p = parse(argv, [Flag("force", "f"), Flag("filter", "", "list")])
    if not _arity(proc, path, p.args, 0, 0):
        return 1
    if not p.bool("force"):
        proc.out(PRUNE_WARNING, end="")
        if not proc.stdin.strip().lower().startswith("y"):
            return 0
    gone = [c for c in sorted(d.containers.values(), key=lambda c: c.created) if not c.running]
    for c in gone:
        lifecycle.remove(d, c)
    if gone:
        proc.out("Deleted Containers:\n" + "".join(c.id + "\n" for c in gone))
    proc.out("Total reclaimed space: 0B")
    return 0
