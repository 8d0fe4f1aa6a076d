"""`docker swarm init|join|leave|join-token` (docker/cli cli/command/swarm), and what the swarm
command groups share: cobra's argument checks and the manager-only guard.

Output is the CLI's: init prints the node id and the join command (printJoinCommand), join
"This node joined a swarm as a worker." (or manager), leave "Node left the swarm.".
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

from cnmsim.docker.cli import cmd, daemon_error
from cnmsim.docker.flags import Flag, FlagError, parse
from cnmsim.engine.errors import EngineError
from cnmsim.shell.registry import Proc
from cnmsim.swarm.manager import swarm as sw

INIT = [Flag("advertise-addr", "", "str"), Flag("listen-addr", "", "str"), Flag("data-path-addr", "", "str"),
        Flag("data-path-port", "", "str"), Flag("default-addr-pool", "", "list"),
        Flag("default-addr-pool-mask-length", "", "str"), Flag("force-new-cluster"), Flag("autolock"),
        Flag("availability", "", "str"), Flag("task-history-limit", "", "str"),
        Flag("dispatcher-heartbeat", "", "str"), Flag("cert-expiry", "", "str"), Flag("external-ca", "", "list"),
        Flag("max-snapshots", "", "str"), Flag("snapshot-interval", "", "str")]
JOIN = [Flag("token", "", "str"), Flag("advertise-addr", "", "str"), Flag("listen-addr", "", "str"),
        Flag("data-path-addr", "", "str"), Flag("availability", "", "str")]


def arity(proc: Proc, path: str, args: list[str], lo: int, hi: int | None, usage: str, short: str) -> bool:
    """cobra's cli.NoArgs / ExactArgs / RequiresMinArgs (exit 1 with the usage)."""
    if len(args) >= lo and (hi is None or len(args) <= hi):
        return True
    plural = "argument" if (hi if hi else lo) == 1 else "arguments"
    if hi == 0:
        what = "accepts no arguments."
    elif hi == lo:
        what = f"requires exactly {lo} {plural}."
    else:
        what = f"requires at least {lo} {plural}."
    proc.err(f'"docker {path}" {what}\nSee \'docker {path} --help\'.\n\nUsage:  docker {path} {usage}\n\n{short}')
    return False


def uint(p: Any, name: str, default: int) -> int:
    """A uint flag (strconv.ParseUint's error as pflag reports it)."""
    raw = p.str(name)
    if not raw:
        return default
    try:
        v = int(raw, 0)
        if v < 0:
            raise ValueError
        return v
    except ValueError:
        raise FlagError(f'invalid argument "{raw}" for "--{name}" flag: strconv.ParseUint: parsing "{raw}": '
                        "invalid syntax") from None


def availability(proc: Proc, p: Any) -> str | None:
    raw = p.str("availability")
    if not raw:
        return "active"
    if raw.lower() in ("active", "pause", "drain"):
        return raw.lower()
    proc.err(f'invalid availability "{raw}", only active, pause and drain are supported')
    return None


def join_command(swarm: Any, node: Any, role: str) -> str:
    """printJoinCommand for one role."""
    return (f"To add a {role} to this swarm, run the following command:\n\n"
            f"    docker swarm join --token {swarm.tokens[role]} {sw.manager_addr(swarm, node)}\n\n")


@cmd("init", group="swarm")
def init(proc: Proc, d: Any, argv: list[str]) -> int:
    import ipaddress

    p = parse(argv, INIT)
    if not arity(proc, "swarm init", p.args, 0, 0, "[OPTIONS]", "Initialize a swarm"):
        return 1
    pools = []
    for v in p.list("default-addr-pool"):
        for item in v.split(","):
            try:
                ipaddress.IPv4Network(item.strip(), strict=False)
            except ValueError:
                raise FlagError(f'invalid argument "{v}" for "--default-addr-pool" flag: invalid CIDR '
                                f"address: {item.strip()}") from None
            pools.append(item.strip())
    mask = uint(p, "default-addr-pool-mask-length", 24)
    port = uint(p, "data-path-port", 0)
    avail = availability(proc, p)
    if avail is None:
        return 1
    node = sw.init(proc.lab, d.host.name, advertise_addr=p.str("advertise-addr") or None, pools=pools,
                   mask=mask, data_port=port, availability=avail)
    swarm = sw.get(proc.lab)
    proc.out(f"Swarm initialized: current node ({node.id}) is now a manager.\n", end="\n")
    proc.out(join_command(swarm, node, "worker"), end="")
    proc.out("To add a manager to this swarm, run 'docker swarm join-token manager' and follow the instructions.")
    return 0


@cmd("join", group="swarm")
def join(proc: Proc, d: Any, argv: list[str]) -> Generator[Any, Any, int]:
    p = parse(argv, JOIN)
    if not arity(proc, "swarm join", p.args, 1, 1, "[OPTIONS] HOST:PORT", "Join a swarm as a node and/or manager"):
        return 1
    avail = availability(proc, p)
    if avail is None:
        return 1
    try:
        node = yield from sw.join(proc.lab, d.host.name, p.str("token"), p.args[0],
                                  advertise_addr=p.str("advertise-addr") or None, availability=avail)
    except EngineError as e:
        return daemon_error(proc, e)
    proc.out(f"This node joined a swarm as a {node.role}.")
    return 0


@cmd("leave", group="swarm")
def leave(proc: Proc, d: Any, argv: list[str]) -> int:
    p = parse(argv, [Flag("force", "f")])
    if not arity(proc, "swarm leave", p.args, 0, 0, "[OPTIONS]", "Leave the swarm"):
        return 1
    sw.leave(proc.lab, d.host.name, force=p.bool("force"))
    proc.out("Node left the swarm.")
    return 0


@cmd("join-token", group="swarm")
def join_token(proc: Proc, d: Any, argv: list[str]) -> int:
    p = parse(argv, [Flag("rotate"), Flag("quiet", "q")])
    if not arity(proc, "swarm join-token", p.args, 1, 1, "[OPTIONS] (worker|manager)", "Manage join tokens"):
        return 1
    role = p.args[0]
    if role not in ("worker", "manager"):
        proc.err(f"unknown role {role}")
        return 1
    swarm, node = sw.require_manager(proc.lab, d.host.name)
    if p.bool("rotate"):
        sw.rotate_token(proc.lab, swarm, role)
        if not p.bool("quiet"):
            proc.out(f"Successfully rotated {role} join token.\n")
    if p.bool("quiet"):
        proc.out(swarm.tokens[role])
        return 0
    proc.out(join_command(swarm, node, role), end="")
    return 0


@cmd("update", group="swarm")
def update(proc: Proc, d: Any, argv: list[str]) -> int:
    parse(argv, INIT[7:])
    sw.require_manager(proc.lab, d.host.name)
    proc.out("Swarm updated.")
    return 0


@cmd("ca", "unlock", "unlock-key", group="swarm")
def unsupported(proc: Proc, d: Any, argv: list[str]) -> int:
    sw.require_manager(proc.lab, d.host.name)
    return daemon_error(proc, "cnmsim: the swarm's CA and autolock are not simulated")
