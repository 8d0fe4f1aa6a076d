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
    if driver == "overlay" or p.str("scope") == "swarm" or p.bool("ingress"):
        return _create_swarm(proc, d, p, name, confs)
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


def _create_swarm(proc: Proc, d: Any, p: Any, name: str, confs: list[Any]) -> int:
    """An overlay on a manager: the swarm allocates it (cnmsim.swarm.manager.networks); a worker
    or a host outside a swarm gets the daemon's refusal."""
    from cnmsim.swarm.manager import networks as swnets
    from cnmsim.swarm.manager import swarm as sw
    from cnmsim.swarm.manager.errors import NO_MANAGER, WORKER_NETWORK

    node = sw.member(proc.lab, d.host.name)
    if node is None:
        return daemon_error(proc, NO_MANAGER)
    if node.role != "manager":
        return daemon_error(proc, WORKER_NETWORK)
    swarm = sw.get(proc.lab)
    try:
        if any(n.name == name for n in d.controller.networks.values()):
            raise EngineError(f"network with name {name} already exists")
        conf = confs[0] if confs else None
        net = swnets.create(proc.lab, swarm, name, subnet=conf.subnet if conf else None,
                            gateway=conf.gateway if conf else None, attachable=p.bool("attachable"),
                            internal=p.bool("internal"), ingress=p.bool("ingress"), options=_kv(p.list("opt")),
                            labels=_kv(p.list("label")), ipam_options=_kv(p.list("ipam-opt")))
    except EngineError as e:
        return daemon_error(proc, e)
    sw.bump(swarm)
    sw.notify(swarm, "network_created", network=net)
    proc.out(net.id)
    return 0


def _swarm_networks(proc: Proc, d: Any) -> tuple[Any, list[Any]]:
    """The swarm and the swarm networks this host lists: all of them on a manager, none on a
    worker (it lists its local copies only)."""
    from cnmsim.swarm.manager import swarm as sw

    node = sw.member(proc.lab, d.host.name)
    swarm = sw.get(proc.lab)
    if node is None or node.role != "manager" or swarm is None:
        return swarm, []
    return swarm, [n for n in swarm.networks.values() if n.id not in d.controller.networks]


@cmd("ls", "list", group="network")
def ls(proc: Proc, d: Any, argv: list[str]) -> int:
    from cnmsim.swarm.manager.agent import engine_network

    p = parse(argv, [Flag("quiet", "q"), Flag("no-trunc"), Flag("filter", "f", "list"), Flag("format", "", "str")])
    trunc = not p.bool("no-trunc")
    swarm, remote = _swarm_networks(proc, d)
    nets = list(d.controller.networks.values()) + [engine_network(swarm, n) for n in remote]
    nets.sort(key=lambda n: n.name)
    for f in p.list("filter"):
        k, _, v = f.partition("=")
        nets = [n for n in nets if views.network_filter(n, k, v)]
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
    from cnmsim.docker.swarm_views import swarm_network_json
    from cnmsim.swarm.manager import networks as swnets

    swarm, remote = _swarm_networks(proc, d)

    def lookup(ref: str) -> Any:
        try:
            net = d.controller.network(ref)
        except EngineError as e:
            snet = swnets.lookup(swarm, ref) if remote else None
            if snet is None or snet not in remote:
                raise InspectError(f"Error response from daemon: {e}") from None
            return swarm_network_json(d, swarm, snet)
        if net.scope == "swarm" and swarm is not None and net.id in swarm.networks:
            return swarm_network_json(d, swarm, swarm.networks[net.id])
        return views.network_json(d, net)

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
            if _rm_swarm(proc, d, ref):
                proc.out(ref)
                continue
            net = d.controller.network(ref)
            if net.predefined:
                raise Forbidden(f"{net.name} is a pre-defined network and cannot be removed")
            d.controller.delete_network(net)
            proc.out(ref)
        except _Skip:
            continue
        except EngineError as e:
            if p.bool("force") and e.status == 404:
                continue
            proc.err(f"Error response from daemon: {e}")
            code = 1
    return code


INGRESS_WARNING = ("WARNING! Before removing the routing-mesh network, make sure all the nodes in your swarm "
                   "run the same docker engine version. Otherwise, removal may not be effective and "
                   "functionality of newly create ingress networks will be impaired.\nAre you sure you want to "
                   "continue? [y/N] ")


def _rm_swarm(proc: Proc, d: Any, ref: str) -> bool:
    """Remove a swarm network on a manager (True when REF named one): refused while a service
    or task uses it; each node drops its copy; `ingress` asks first, as the CLI does."""
    from cnmsim.swarm.manager import agent
    from cnmsim.swarm.manager import networks as swnets
    from cnmsim.swarm.manager import swarm as sw
    from cnmsim.swarm.manager.errors import NOT_MANAGER, SwarmError

    swarm = sw.get(proc.lab)
    node = sw.member(proc.lab, d.host.name)
    snet = swnets.lookup(swarm, ref) if node is not None else None
    if snet is None or swarm is None or node is None:
        return False
    if node.role != "manager":
        raise SwarmError(NOT_MANAGER)
    if snet.ingress:
        proc.out(INGRESS_WARNING, end="")
        if not proc.stdin.strip().lower().startswith("y"):
            raise _Skip()
    swnets.check_removable(swarm, snet)
    for n in swarm.nodes.values():
        local = None if n.left else proc.lab[n.hostname].engine.controller.networks.get(snet.id)
        if local is not None:
            agent.drop_local(proc.lab, swarm, n, local)
    swnets.forget(swarm, snet)
    sw.bump(swarm)
    sw.notify(swarm, "network_removed", network=snet)
    return True


class _Skip(EngineError):
    """The user did not confirm."""

    def __init__(self) -> None:
        super().__init__("", 0)


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
