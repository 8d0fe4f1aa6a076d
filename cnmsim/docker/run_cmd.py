"""`docker run`, `docker create`, `docker start` (docker/cli cli/command/container/run.go, opts.go).

There is no terminal: `docker run -it IMAGE sh` leaves the container running and the
transcript goes on (later lines address it by name); a server image keeps running whether or
not -d was given; a one-shot command (`docker run busybox ip addr`) runs attached, prints its
output and leaves an exited container.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

from cnmsim.docker.cli import cmd, run_error
from cnmsim.docker.flags import Flag, FlagError, parse
from cnmsim.engine import lifecycle, runtime
from cnmsim.engine.container import ContainerConfig, NetRequest
from cnmsim.engine.driverapi import PortBinding
from cnmsim.engine.errors import EngineError
from cnmsim.shell.registry import Proc

RUN_FLAGS = [
    Flag("detach", "d"), Flag("interactive", "i"), Flag("tty", "t"), Flag("rm"), Flag("name", "", "str"),
    Flag("network", "", "list"), Flag("net", "", "list"), Flag("ip", "", "str"), Flag("ip6", "", "str"),
    Flag("network-alias", "", "list"), Flag("net-alias", "", "list"), Flag("publish", "p", "list"),
    Flag("publish-all", "P"), Flag("expose", "", "list"), Flag("env", "e", "list"), Flag("env-file", "", "list"),
    Flag("link", "", "list"), Flag("dns", "", "list"), Flag("dns-search", "", "list"), Flag("dns-option", "", "list"),
    Flag("hostname", "h", "str"), Flag("mac-address", "", "str"), Flag("label", "l", "list"),
    Flag("workdir", "w", "str"), Flag("entrypoint", "", "str"), Flag("restart", "", "str"),
    Flag("privileged"), Flag("cap-add", "", "list"), Flag("cap-drop", "", "list"), Flag("volume", "v", "list"),
    Flag("init"), Flag("user", "u", "str"), Flag("memory", "m", "str"), Flag("cpus", "", "str"),
    Flag("platform", "", "str"), Flag("pull", "", "str"), Flag("add-host", "", "list"), Flag("sysctl", "", "list"),
]
WARN_HOST_PORTS = "WARNING: Published ports are discarded when using host network mode"


def parse_port(spec: str) -> list[PortBinding]:
    """nat.ParsePortSpec: [ip:][hostPort:]containerPort[/proto], ranges allowed."""
    body, _, proto = spec.partition("/")
    proto = proto or "tcp"
    if proto not in ("tcp", "udp", "sctp"):
        raise FlagError(f'invalid argument "{spec}" for "-p, --publish" flag: invalid proto: {proto}')
    parts = body.split(":")
    if len(parts) == 1:
        ip, host, ctr = "", "", parts[0]
    elif len(parts) == 2:
        ip, host, ctr = "", parts[0], parts[1]
    elif len(parts) == 3:
        ip, host, ctr = parts
    else:
        raise FlagError(f'invalid argument "{spec}" for "-p, --publish" flag: invalid port format: {spec}')

    def rng(text: str) -> tuple[int, int]:
        a, _, b = text.partition("-")
        try:
            lo, hi = int(a), int(b or a)
        except ValueError:
            raise FlagError(f'invalid argument "{spec}" for "-p, --publish" flag: '
                            f'invalid containerPort: {text}') from None
        if not (0 < lo <= hi <= 65535):
            raise FlagError(f'invalid argument "{spec}" for "-p, --publish" flag: invalid port range: {text}')
        return lo, hi

    clo, chi = rng(ctr)
    hlo, hhi = rng(host) if host else (0, 0)
    out = []
    for i, cport in enumerate(range(clo, chi + 1)):
        hp = hlo + i if host and hhi - hlo == chi - clo else hlo
        out.append(PortBinding(proto, cport, ip or "", hp))
    return out


def build_config(p: Any, d: Any) -> tuple[ContainerConfig, str | None, Any, list[str]]:
    """The container config from the flags; returns (config, name, image, warnings)."""
    from cnmsim.engine.images import lookup

    if not p.args:
        raise FlagError('"docker run" requires at least 1 argument.')
    ref, command = p.args[0], p.args[1:]
    image = lookup(ref)
    nets = p.list("network") + p.list("net")
    mode = nets[0] if nets else "default"
    aliases = p.list("network-alias") + p.list("net-alias")
    ports = [b for spec in p.list("publish") for b in parse_port(spec)]
    warnings = []
    if mode == "host" and (ports or p.bool("publish-all")):
        warnings.append(WARN_HOST_PORTS)
    reqs = [NetRequest(n, p.str("ip") or None if i == 0 else None, aliases if i == 0 else [])
            for i, n in enumerate(nets)] if nets else []
    if not nets and (p.str("ip") or aliases):
        reqs = [NetRequest("bridge", p.str("ip") or None, aliases)]
    links = []
    for spec in p.list("link"):
        target, _, alias = spec.partition(":")
        links.append((target, alias or target))
    env = list(image.env if image else [])
    for e in p.list("env"):
        k, eq, v = e.partition("=")
        env = [x for x in env if x.partition("=")[0] != k] + [e]
    exposed = list(image.exposed_ports if image else [])
    for x in p.list("expose"):
        exposed.append(x if "/" in x else x + "/tcp")
    cfg = ContainerConfig(
        image=ref, cmd=command, entrypoint=[p.str("entrypoint")] if p.str("entrypoint") else [],
        env=env, hostname=p.str("hostname"), network_mode=mode if mode in ("host", "none", "default") else mode,
        networks=reqs, ports=ports, publish_all=p.bool("publish-all"), exposed=exposed, links=links,
        dns=p.list("dns"), tty=p.bool("tty"), interactive=p.bool("interactive"), auto_remove=p.bool("rm"),
        labels={k: v for k, _, v in (x.partition("=") for x in p.list("label"))},
        mac=p.str("mac-address") or None)
    return cfg, p.str("name") or None, image, warnings


def _create(proc: Proc, d: Any, argv: list[str], verb: str) -> tuple[Any, Any]:
    """What run and create share: the flags, the image, the warnings, the container record.
    Returns (parsed flags, container), or (None, exit status) when refused."""
    p = parse(argv, RUN_FLAGS, interspersed=False)
    if not p.args:
        what = ("Create and run a new container from an image" if verb == "run"
                else "Create a new container")
        proc.err(f"docker: 'docker {verb}' requires at least 1 argument.\nSee 'docker {verb} --help'.\n\n"
                 f"Usage:  docker {verb} [OPTIONS] IMAGE [COMMAND] [ARG...]\n\n{what}")
        return None, 125
    cfg, name, image, warnings = build_config(p, d)
    if image is None:
        from cnmsim.engine.images import registry

        proc.err(registry.run_error(p.args[0], verb), end="")
        return None, registry.RUN_EXIT
    for w in warnings:
        proc.err(w)
    return p, lifecycle.create(d, cfg, name, image)


@cmd("run")
@cmd("run", group="container")
def run(proc: Proc, d: Any, argv: list[str]) -> Generator[Any, Any, int]:
    p, c = _create(proc, d, argv, "run")
    if p is None:
        return c
    try:
        lifecycle.start(d, c, attached=not p.bool("detach"))
    except EngineError as e:
        return run_error(proc, "run", f"Error response from daemon: {e}")
    if p.bool("detach"):
        proc.out(c.id)
        return 0
    return (yield from runtime.attach(d, c, proc))


@cmd("create")
@cmd("create", group="container")
def create(proc: Proc, d: Any, argv: list[str]) -> int:
    p, c = _create(proc, d, argv, "create")
    if p is None:
        return c
    proc.out(c.id)
    return 0


@cmd("start")
@cmd("start", group="container")
def start(proc: Proc, d: Any, argv: list[str]) -> int:
    p = parse(argv, [Flag("attach", "a"), Flag("interactive", "i")])
    code = 0
    for ref in p.args:
        try:
            c = d.container(ref)
            lifecycle.start(d, c, attached=False)
            proc.out(ref)
        except EngineError as e:
            proc.err(f"Error response from daemon: {e}")
            code = 1
    if code:
        proc.err("Error: failed to start containers: " + ", ".join(p.args))
    return code
