"""`docker service create|ls|ps|inspect|scale|update|rm|logs` (docker/cli cli/command/service;
opts.PortOpt for --publish).  Managers only.

create/update/scale print the service (id, or the name given) and, unless -d, wait for it to
converge printing the progress as docker does without a terminal (service_progress.py).
"""

from __future__ import annotations

import csv
import re
from collections.abc import Generator
from typing import Any

from cnmsim.docker import views
from cnmsim.docker.cli import cmd
from cnmsim.docker.flags import Flag, FlagError, parse
from cnmsim.docker.jsonout import InspectError, docker_inspect
from cnmsim.docker.service_progress import wait_on_service
from cnmsim.docker.service_views import (
    SERVICE_HEADERS,
    SERVICE_TABLE,
    TASK_HEADERS,
    TASK_TABLE,
    service_json,
    service_pretty,
    service_row,
    task_rows,
)
from cnmsim.docker.swarm_cmd import arity, uint
from cnmsim.docker.swarm_views import natural_sorted
from cnmsim.engine.errors import EngineError
from cnmsim.shell.registry import Proc
from cnmsim.swarm.manager import services
from cnmsim.swarm.manager import swarm as sw
from cnmsim.swarm.model import PortConfig

COMMON = [Flag("detach", "d"), Flag("quiet", "q"), Flag("env", "e", "list"), Flag("publish", "p", "list"),
          Flag("label", "l", "list"), Flag("container-label", "", "list"), Flag("constraint", "", "list"),
          Flag("hostname", "", "str"), Flag("mount", "", "list"), Flag("restart-condition", "", "str"),
          Flag("restart-delay", "", "str"), Flag("restart-max-attempts", "", "str"),
          Flag("update-parallelism", "", "str"), Flag("update-delay", "", "str"), Flag("update-order", "", "str"),
          Flag("with-registry-auth"), Flag("user", "u", "str"), Flag("workdir", "w", "str"),
          Flag("entrypoint", "", "str"), Flag("limit-cpu", "", "str"), Flag("limit-memory", "", "str"),
          Flag("reserve-cpu", "", "str"), Flag("reserve-memory", "", "str"), Flag("dns", "", "list"),
          Flag("host", "", "list"), Flag("secret", "", "list"), Flag("config", "", "list"), Flag("tty", "t"),
          Flag("init"), Flag("stop-grace-period", "", "str"), Flag("health-cmd", "", "str"),
          Flag("no-healthcheck"), Flag("log-driver", "", "str"), Flag("log-opt", "", "list"),
          Flag("read-only"), Flag("cap-add", "", "list"), Flag("cap-drop", "", "list"),
          Flag("placement-pref", "", "list"), Flag("replicas-max-per-node", "", "str"),
          Flag("endpoint-mode", "", "str"), Flag("replicas", "", "str")]
CREATE = COMMON + [Flag("name", "", "str"), Flag("mode", "", "str"), Flag("network", "", "list")]
UPDATE = COMMON + [Flag("image", "", "str"), Flag("args", "", "str"), Flag("env-add", "", "list"),
                   Flag("env-rm", "", "list"), Flag("publish-add", "", "list"), Flag("publish-rm", "", "list"),
                   Flag("force"), Flag("network-add", "", "list"), Flag("network-rm", "", "list"),
                   Flag("constraint-add", "", "list"), Flag("constraint-rm", "", "list"),
                   Flag("label-add", "", "list"), Flag("label-rm", "", "list"), Flag("rollback")]
LONG_PORT = re.compile(r"\w+=\w+(,\w+=\w+)*")


# ---------------------------------------------------------------- --publish
def parse_publish(spec: str, flag: str = "-p, --publish") -> list[PortConfig]:
    """opts.PortOpt.Set: `mode=host,target=80,published=8080,protocol=udp` or `[P:]T[/proto]`."""
    def bad(msg: str) -> FlagError:
        return FlagError(f'invalid argument "{spec}" for "{flag}" flag: {msg}')

    if LONG_PORT.search(spec):
        pc = PortConfig(target=0, mode="", protocol="")
        for field in next(csv.reader([spec])):
            key, eq, val = field.lower().partition("=")
            if not eq or not key:
                raise bad(f"invalid field {field}")
            if key == "protocol":
                if val not in ("tcp", "udp", "sctp"):
                    raise bad(f"invalid protocol value {val}")
                pc.protocol = val
            elif key == "mode":
                if val not in ("ingress", "host"):
                    raise bad(f"invalid publish mode value {val}")
                pc.mode = val
            elif key in ("target", "published"):
                if not val.isdigit() or int(val) > 65535:
                    raise bad(f'strconv.ParseUint: parsing "{val}": invalid syntax')
                setattr(pc, key, int(val))
            else:
                raise bad(f"invalid field key {key}")
        if not pc.target:
            raise bad('missing mandatory field "target"')
        pc.mode, pc.protocol = pc.mode or "ingress", pc.protocol or "tcp"
        return [pc]
    from cnmsim.docker.run_cmd import parse_port

    try:
        bindings = parse_port(spec)
    except FlagError as e:
        raise bad(str(e).rsplit(": ", 1)[-1]) from None
    if any(b.host_ip for b in bindings):
        raise bad("hostip is not supported")
    return [PortConfig(b.container_port, b.host_port, b.proto, "ingress") for b in bindings]


def _replicas(p: Any) -> int | None:
    return uint(p, "replicas", 0) if p.str("replicas") else None


# ---------------------------------------------------------------- create
@cmd("create", group="service")
def create(proc: Proc, d: Any, argv: list[str]) -> Generator[Any, Any, int]:
    p = parse(argv, CREATE, interspersed=False)
    if not arity(proc, "service create", p.args, 1, None, "[OPTIONS] IMAGE [COMMAND] [ARG...]",
                 "Create a new service"):
        return 1
    mode = p.str("mode") or "replicated"
    replicas = _replicas(p)
    if mode == "global" and replicas is not None:
        proc.err("replicas can only be used with replicated mode")
        return 1
    if mode not in ("replicated", "global"):
        proc.err(f"Unknown mode: {mode}, only replicated and global supported")
        return 1
    ports = [pc for spec in p.list("publish") for pc in parse_publish(spec)]
    spec = services.Spec(image=p.args[0], name=p.str("name"), replicas=1 if replicas is None else replicas,
                         mode=mode, networks=p.list("network"), ports=ports,
                         endpoint_mode=(p.str("endpoint-mode") or "vip").lower(), env=p.list("env"),
                         args=p.args[1:], constraints=p.list("constraint"),
                         labels={k: v for k, _, v in (x.partition("=") for x in p.list("label"))},
                         hostname=p.str("hostname"))
    swarm, _ = sw.require_manager(proc.lab, d.host.name)
    svc, warnings = services.create(proc.lab, swarm, d.host.name, spec)
    for w in warnings:
        proc.err(w)
    proc.out(svc.id)
    if p.bool("detach"):
        return 0
    quiet = p.bool("quiet")
    return (yield from wait_on_service(proc.lab, swarm, svc, svc.id, (lambda s: None) if quiet else proc.out,
                                       proc.err))


# ---------------------------------------------------------------- ls / ps / inspect
@cmd("ls", "list", group="service")
def ls(proc: Proc, d: Any, argv: list[str]) -> int:
    p = parse(argv, [Flag("quiet", "q"), Flag("format", "", "str"), Flag("filter", "f", "list")])
    if not arity(proc, "service ls", p.args, 0, 0, "[OPTIONS]", "List services"):
        return 1
    swarm, _ = sw.require_manager(proc.lab, d.host.name)
    svcs = list(swarm.services.values())
    for f in p.list("filter"):
        k, _, v = f.partition("=")
        svcs = [s for s in svcs if (k == "name" and s.name.startswith(v)) or (k == "id" and s.id.startswith(v))
                or (k == "mode" and s.mode == v) or k not in ("name", "id", "mode")]
    svcs = natural_sorted(svcs, key=lambda s: s.name)
    rows = [service_row(swarm, s) for s in svcs]
    fmt = "table {{.ID}}" if p.bool("quiet") else (p.str("format") or SERVICE_TABLE)
    if p.bool("quiet"):
        for r in rows:
            proc.out(r["ID"])
        return 0
    proc.out(views.render(fmt, SERVICE_HEADERS, rows), end="")
    return 0


@cmd("ps", group="service")
def ps(proc: Proc, d: Any, argv: list[str]) -> int:
    p = parse(argv, [Flag("quiet", "q"), Flag("no-trunc"), Flag("no-resolve"), Flag("format", "", "str"),
                     Flag("filter", "f", "list")])
    if not arity(proc, "service ps", p.args, 1, None, "[OPTIONS] SERVICE [SERVICE...]",
                 "List the tasks of one or more services"):
        return 1
    swarm, _ = sw.require_manager(proc.lab, d.host.name)
    found, missing = [], []
    for ref in p.args:
        try:
            found.append(services.find(swarm, ref))
        except EngineError:
            missing.append(f"no such service: {ref}")
    if missing:
        proc.err("\n".join(missing))
        return 1
    ids = {s.id for s in found}
    tasks = [t for t in swarm.tasks.values() if t.service in ids]
    for f in p.list("filter"):
        k, _, v = f.partition("=")
        if k == "desired-state":
            tasks = [t for t in tasks if t.desired == v or (v == "accepted" and t.desired == "running")]
        elif k == "node":
            tasks = [t for t in tasks if t.node in swarm.nodes and v in (t.node, swarm.nodes[t.node].hostname)]
    if p.bool("quiet"):
        for t in tasks:
            proc.out(t.id)
        return 0
    fmt = p.str("format") or TASK_TABLE
    rows = task_rows(swarm, tasks, proc.lab.now, trunc=not p.bool("no-trunc"), table=fmt.startswith("table"))
    proc.out(views.render(fmt, TASK_HEADERS, rows), end="")
    return 0


@cmd("inspect", group="service")
def inspect_(proc: Proc, d: Any, argv: list[str]) -> int:
    p = parse(argv, [Flag("format", "f", "str"), Flag("pretty")])
    if not arity(proc, "service inspect", p.args, 1, None, "[OPTIONS] SERVICE [SERVICE...]",
                 "Display detailed information on one or more services"):
        return 1
    swarm, _ = sw.require_manager(proc.lab, d.host.name)
    if p.bool("pretty"):
        for ref in p.args:
            try:
                svc = services.find(swarm, ref)
            except EngineError:
                proc.err(f"Error: no such service: {ref}")
                return 1
            proc.out(service_pretty(swarm, svc, proc.lab.now))
        return 0

    def lookup(ref: str) -> Any:
        try:
            return service_json(swarm, services.find(swarm, ref))
        except EngineError:
            raise InspectError(f"Error: no such service: {ref}") from None

    res = docker_inspect(p.args, lookup, p.str("format"))
    proc.out(res.stdout, end="")
    if res.stderr:
        proc.err(res.stderr, end="")
    return res.exit_code


# ---------------------------------------------------------------- scale / update / rm
@cmd("scale", group="service")
def scale(proc: Proc, d: Any, argv: list[str]) -> Generator[Any, Any, int]:
    p = parse(argv, [Flag("detach", "d")])
    if not p.args:
        arity(proc, "service scale", p.args, 1, None, "SERVICE=REPLICAS [SERVICE=REPLICAS...]",
              "Scale one or multiple replicated services")
        return 1
    for a in p.args:
        k, eq, v = a.partition("=")
        if not eq or not k or not v:
            proc.err(f"invalid scale specifier '{a}'.\nSee 'docker service scale --help'.\n\nUsage:  docker "
                     "service scale SERVICE=REPLICAS [SERVICE=REPLICAS...]\n\nScale one or multiple replicated "
                     "services")
            return 1
    swarm, _ = sw.require_manager(proc.lab, d.host.name)
    errs, done = [], []
    for a in p.args:
        ref, _, v = a.partition("=")
        if not v.isdigit():
            errs.append(f'{ref}: invalid replicas value {v}: strconv.ParseUint: parsing "{v}": invalid syntax')
            continue
        try:
            svc = services.find(swarm, ref)
            if svc.mode != "replicated":
                raise EngineError("scale can only be used with replicated or replicated-job mode")
            for w in services.update(proc.lab, swarm, svc, replicas=int(v)):
                proc.err(w)
        except EngineError as e:
            msg = str(e) if str(e).startswith("scale can") else f"Error response from daemon: {e}"
            errs.append(f"{ref}: {msg}")
            continue
        proc.out(f"{ref} scaled to {int(v)}")
        done.append((ref, svc))
    if not p.bool("detach"):
        for ref, svc in done:
            yield from wait_on_service(proc.lab, swarm, svc, ref, proc.out, proc.err)
    if errs:
        proc.err("\n".join(errs))
        return 1
    return 0


@cmd("update", group="service")
def update(proc: Proc, d: Any, argv: list[str]) -> Generator[Any, Any, int]:
    p = parse(argv, UPDATE)
    if not arity(proc, "service update", p.args, 1, 1, "[OPTIONS] SERVICE", "Update a service"):
        return 1
    swarm, _ = sw.require_manager(proc.lab, d.host.name)
    ref = p.args[0]
    svc = services.find(swarm, ref)
    replicas = _replicas(p)
    if replicas is not None and svc.mode != "replicated":
        proc.err("replicas can only be used with replicated or replicated-job mode")
        return 1
    env = None
    if p.list("env-add") or p.list("env-rm") or p.list("env"):
        env = list(svc.env)
        for e in p.list("env-add") + p.list("env"):
            env = [x for x in env if x.partition("=")[0] != e.partition("=")[0]] + [e]
        env = [x for x in env if x.partition("=")[0] not in p.list("env-rm")]
    ports = None
    if p.list("publish-add") or p.list("publish-rm") or p.list("publish"):
        ports = list(svc.ports)
        # cli/command/service/update.go updatePorts: --publish-rm removes by target port,
        # --publish-add keys a port by published/target/protocol/mode (an equal one is replaced)
        for spec in p.list("publish-rm"):
            tgt = spec.split(":")[-1].split("/")[0] if "=" not in spec else spec.split("target=")[-1].split(",")[0]
            ports = [x for x in ports if str(x.target) != tgt]
        for spec in p.list("publish-add") + p.list("publish"):
            for pc in parse_publish(spec, "--publish-add"):
                same = (pc.published, pc.target, pc.protocol, pc.mode)
                ports = [x for x in ports if (x.published, x.target, x.protocol, x.mode) != same] + [pc]
    args = p.str("args").split() if p.str("args") else None
    warnings = services.update(proc.lab, swarm, svc, replicas=replicas, image=p.str("image") or None, env=env,
                               args=args, ports=ports, force=p.bool("force"))
    for w in warnings:
        proc.err(w)
    proc.out(ref)
    if p.bool("detach"):
        return 0
    out = (lambda s: None) if p.bool("quiet") else proc.out
    return (yield from wait_on_service(proc.lab, swarm, svc, ref, out, proc.err))


@cmd("rm", "remove", group="service")
def rm(proc: Proc, d: Any, argv: list[str]) -> int:
    p = parse(argv, [])
    if not arity(proc, "service rm", p.args, 1, None, "SERVICE [SERVICE...]", "Remove one or more services"):
        return 1
    swarm, _ = sw.require_manager(proc.lab, d.host.name)
    errs = []
    for ref in p.args:
        try:
            services.remove(proc.lab, swarm, services.find(swarm, ref))
        except EngineError as e:
            errs.append(f"Error response from daemon: {e}")
            continue
        proc.out(ref)
    if errs:
        proc.err("\n".join(errs))
        return 1
    return 0


@cmd("logs", group="service")
def logs(proc: Proc, d: Any, argv: list[str]) -> int:
    p = parse(argv, [Flag("follow", "f"), Flag("no-resolve"), Flag("no-trunc"), Flag("no-task-ids"),
                     Flag("raw"), Flag("timestamps", "t"), Flag("details"), Flag("since", "", "str"),
                     Flag("tail", "n", "str")])
    if not arity(proc, "service logs", p.args, 1, 1, "[OPTIONS] SERVICE|TASK", "Fetch the logs of a service or task"):
        return 1
    swarm, _ = sw.require_manager(proc.lab, d.host.name)
    ref = p.args[0]
    try:
        svc = services.find(swarm, ref)
        tasks = [t for t in swarm.tasks.values() if t.service == svc.id]
        width = len(str(svc.replicas)) if svc.mode == "replicated" else 1
    except EngineError:
        tasks = [t for t in swarm.tasks.values() if t.id == ref or (len(ref) >= 12 and t.id.startswith(ref))]
        if not tasks:
            proc.err(f"no such task or service: {ref}")
            return 1
        svc, width = swarm.services.get(tasks[0].service), len(str(tasks[0].slot))
    lines = []
    tail = p.str("tail")
    keep = int(tail) if tail and tail != "all" and tail.isdigit() else None
    for t in tasks:
        node = swarm.nodes.get(t.node)
        c = proc.lab[node.hostname].engine.containers.get(t.container) if node and t.container else None
        if c is None:
            continue
        name = f"{svc.name if svc else t.service}.{t.slot}"
        if not p.bool("no-task-ids"):
            name += "." + (t.id if p.bool("no-trunc") else t.id[:12])
        prefix = f"{name}@{node.id if p.bool('no-resolve') else node.hostname}" + " " * (width - len(str(t.slot)))
        logs = c.logs if keep is None else (c.logs[-keep:] if keep else [])  # --tail is per task
        for when, stream, line in logs:
            lines.append((when, stream, line if p.bool("raw") else f"{prefix}    | {line}"))
    lines.sort(key=lambda x: x[0])
    for _, stream, line in lines:
        (proc.out if stream == "stdout" else proc.err)(line)
    return 0
