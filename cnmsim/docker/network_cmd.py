"""`docker network create|ls|inspect|rm|connect|disconnect|prune` (docker/cli cli/command/network)."""

from __future__ import annotations

from typing import Any

from cnmsim.docker import views
from cnmsim.docker.cli import cmd, daemon_error
from cnmsim.docker.flags import Flag, parse
from cnmsim.engine import lifecycle
from cnmsim.engine.errors import EngineError, Forbidden
from cnmsim.engine.ipam.api import IpamError
from cnmsim.engine.ipam.create_flags import confs_from_flags, validate_ipam
from cnmsim.engine.network import PREDEFINED
from cnmsim.shell.registry import Proc

CREATE = [Flag("driver", "d", "str", "bridge"), Flag("subnet", "", "list"), Flag("ip-range", "", "list"),
          Flag("gateway", "", "list"), Flag("aux-address", "", "list"), Flag("ipam-driver", "", "str"),
          Flag("ipam-opt", "", "list"), Flag("opt", "o", "list"), Flag("label", "", "list"),
          Flag("internal"), Flag("attachable"), Flag("ipv6"), Flag("scope", "", "str"),
          Flag("ingress"), Flag("config-only"), Flag("config-from", "", "str")]


def _kv(items: list[str]) -> dict[str, str]:
    out = {}
    for it in items:
        k, _, v = it.partition("=")
        out[k] = v
    return out


def _needs(proc: Proc, path: str, n: int, args: list[str], usage: str, what: str, exact: bool = True) -> bool:
    ok = len(args) == n if exact else len(args) >= n
    if ok:
        return True
    word = "exactly" if exact else "at least"
    plural = "argument" if n == 1 else "arguments"
    proc.err(f'"docker {path}" requires {word} {n} {plural}.\nSee \'docker {path} --help\'.\n\n'
             f"Usage:  docker {path} {usage}\n\n{what}")
    return False


@cmd("create", group="network")
def create(proc: Proc, d: Any, argv: list[str]) -> int:
    p = parse(argv, CREATE)
    if not _needs(proc, "network create", 1, p.args, "[OPTIONS] NETWORK", "Create a network"):
        return 1
    name = p.args[0]
    try:
        confs = confs_from_flags(p.list("subnet"), p.list("ip-range"), p.list("gateway"), p.list("aux-address"))
    except IpamError as e:
        proc.err(str(e))
        return 1
    if name in PREDEFINED:
        return daemon_error(proc, f"operation is not permitted on predefined {name} network ")
    driver = p.str("driver", "bridge")
    try:
        validate_ipam(confs)
        net = d.controller.new_network(
            name, driver, ipam_driver=p.str("ipam-driver") or "default", ipam_confs=confs,
            ipam_options=_kv(p.list("ipam-opt")), options=_kv(p.list("opt")), labels=_kv(p.list("label")),
            internal=p.bool("internal"), attachable=p.bool("attachable"))
    except (EngineError, IpamError) as e:
        return daemon_error(proc, e)
    proc.out(net.id)
    return 0


@cmd("ls", "list", group="network")
def ls(proc: Proc, d: Any, argv: list[str]) -> int:
    p = parse(argv, [Flag("quiet", "q"), Flag("no-trunc"), Flag("filter", "f", "list"), Flag("format", "", "str")])
    nets = sorted(d.controller.networks.values(), key=lambda n: n.name)
    for f in p.list("filter"):
        k, _, v = f.partition("=")
        nets = [n for n in nets if views.network_filter(n, k, v)]
    trunc = not p.bool("no-trunc")
    if p.bool("quiet"):
        for n in nets:
            proc.out(n.id[:12] if trunc else n.id)
        return 0
    rows = [views.network_row(n, trunc) for n in nets]
    proc.out(views.render(p.str("format") or "table {{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}",
                          views.NETWORK_HEADERS, rows), end="")
    return 0


@cmd("inspect", group="network")
def inspect_(proc: Proc, d: Any, argv: list[str]) -> int:
    p = parse(argv, [Flag("format", "f", "str"), Flag("verbose", "v")])
    if not _needs(proc, "network inspect", 1, p.args, "[OPTIONS] NETWORK [NETWORK...]",
                  "Display detailed information on one or more networks", exact=False):
        return 1
    from cnmsim.docker.jsonout import InspectError, docker_inspect

    def lookup(ref: str) -> Any:
        try:
            return views.network_json(d, d.controller.network(ref))
        except EngineError as e:
            raise InspectError(f"Error response from daemon: {e}") from None

    res = docker_inspect(p.args, lookup, p.str("format"))
    proc.out(res.stdout, end="")
    if res.stderr:
        proc.err(res.stderr, end="")
    return res.exit_code


@cmd("rm", "remove", group="network")
def rm(proc: Proc, d: Any, argv: list[str]) -> int:
    p = parse(argv, [Flag("force", "f")])
    if not _needs(proc, "network rm", 1, p.args, "NETWORK [NETWORK...]", "Remove one or more networks", exact=False):
        return 1
    code = 0
    for ref in p.args:
        try:
            net = d.controller.network(ref)
            if net.predefined:
                raise Forbidden(f"{net.name} is a pre-defined network and cannot be removed")
            d.controller.delete_network(net)
            proc.out(ref)
        except EngineError as e:
            if p.bool("force") and e.status == 404:
                continue
            proc.err(f"Error response from daemon: {e}")
            code = 1
    return code


@cmd("connect", group="network")
def connect(proc: Proc, d: Any, argv: list[str]) -> int:
    p = parse(argv, [Flag("ip", "", "str"), Flag("ip6", "", "str"), Flag("alias", "", "list"),
                     Flag("link", "", "list"), Flag("driver-opt", "", "list")])
    if not _needs(proc, "network connect", 2, p.args, "[OPTIONS] NETWORK CONTAINER",
                  "Connect a container to a network"):
        return 1
    net = d.controller.network(p.args[0])
    c = d.container(p.args[1])
    lifecycle.connect(d, c, net, p.str("ip") or None, p.list("alias"))
    return 0


@cmd("disconnect", group="network")
def disconnect(proc: Proc, d: Any, argv: list[str]) -> int:
    p = parse(argv, [Flag("force", "f")])
    if not _needs(proc, "network disconnect", 2, p.args, "[OPTIONS] NETWORK CONTAINER",
                  "Disconnect a container from a network"):
        return 1
    net = d.controller.network(p.args[0])
    c = d.container(p.args[1])
    lifecycle.disconnect(d, c, net, p.bool("force"))
    return 0


@cmd("prune", group="network")
def prune(proc: Proc, d: Any, argv: list[str]) -> int:
    p = parse(argv, [Flag("force", "f"), Flag("filter", "", "list")])
    if not p.bool("force"):
        proc.out("WARNING! This will remove all custom networks not used by at least one container.\n"
                 "Are you sure you want to continue? [y/N] ", end="")
        if not proc.stdin.strip().lower().startswith("y"):
            return 0
    gone = []
    for net in sorted(d.controller.networks.values(), key=lambda n: n.created):
        if net.predefined or net.endpoints:
            continue
        d.controller.delete_network(net)
        gone.append(net.name)
    if gone:
        proc.out("Deleted Networks:\n" + "\n".join(gone) + "\n")
    return 0
