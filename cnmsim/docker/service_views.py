"""Services and tasks as the docker CLI prints them (docker/cli cli/command/service/formatter.go,
cli/command/task/formatter.go and print.go; moby api/types/swarm Service).

- `docker service ls`: ``table {{.ID}}\\t{{.Name}}\\t{{.Mode}}\\t{{.Replicas}}\\t{{.Image}}\\t{{.Ports}}``,
  sorted by name (natural order); Ports lists ingress-mode ports only, grouped into ranges
  (``*:8080->80/tcp``); Image without its digest.
- `docker service ps`: ``table {{.ID}}\\t{{.Name}}\\t{{.Image}}\\t{{.Node}}\\t{{.DesiredState}}\\t
  {{.CurrentState}}\\t{{.Error}}\\t{{.Ports}}``; earlier tasks of a slot follow it, indented `` \\_ ``.
- `docker service inspect --pretty`: serviceInspectPrettyTemplate, literal tabs included.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from cnmsim.docker.jsonout import GoMap, GoStruct
from cnmsim.docker.swarm_views import natural_sorted, pretty
from cnmsim.docker.units import ellipsis, human_duration
from cnmsim.docker.views import timestamp

if TYPE_CHECKING:
    from cnmsim.swarm.model import PortConfig, Service, SwarmState, Task

SERVICE_TABLE = "table {{.ID}}\t{{.Name}}\t{{.Mode}}\t{{.Replicas}}\t{{.Image}}\t{{.Ports}}"
SERVICE_HEADERS = {"ID": "ID", "Name": "NAME", "Mode": "MODE", "Replicas": "REPLICAS", "Image": "IMAGE",
                   "Ports": "PORTS"}
TASK_TABLE = ("table {{.ID}}\t{{.Name}}\t{{.Image}}\t{{.Node}}\t{{.DesiredState}}\t{{.CurrentState}}"
              "\t{{.Error}}\t{{.Ports}}")
TASK_HEADERS = {"ID": "ID", "Name": "NAME", "Image": "IMAGE", "Node": "NODE", "DesiredState": "DESIRED STATE",
                "CurrentState": "CURRENT STATE", "Error": "ERROR", "Ports": "PORTS"}
NS = 1_000_000_000


def display_image(image: str) -> str:
    """The image without its digest, as the formatters show it."""
    return image.split("@")[0]


def ports_column(ports: list[PortConfig]) -> str:
    """serviceContext.Ports: ingress ports, consecutive ones grouped (Go's unsigned arithmetic)."""
    M = 2**32
    ps = sorted(ports, key=lambda p: (p.protocol, p.published))
    out: list[str] = []
    cur: list[Any] | None = None  # [pStart, pEnd, tStart, tEnd, proto]

    def text(r: list[Any]) -> str:
        pub = f"{r[0]}-{r[1]}" if r[1] > r[0] else str(r[0])
        tgt = f"{r[2]}-{r[3]}" if r[3] > r[2] else str(r[2])
        return f"*:{pub}->{tgt}/{r[4]}"

    for p in ps:
        if p.mode != "ingress":
            continue
        if cur is None:
            cur = [0, 0, 0, 0, ""]
        is_range = cur[3] != cur[2]
        overlaps = p.target <= cur[3]
        if (p.protocol != cur[4] or (p.published - cur[1]) % M > 1 or (p.target - cur[3]) % M > 1
                or (is_range and overlaps)):
            if cur[0] > 0:
                out.append(text(cur))
            cur = [p.published, p.published, p.target, p.target, p.protocol]
            continue
        cur[1], cur[3] = p.published, p.target
    if cur is not None and cur[0] > 0:
        out.append(text(cur))
    return ", ".join(out)


def service_row(swarm: SwarmState, svc: Service) -> GoStruct:
    from cnmsim.swarm.manager.services import status

    running, desired = status(swarm, svc)
    return GoStruct({"ID": svc.id[:12], "Name": svc.name, "Mode": svc.mode, "Replicas": f"{running}/{desired}",
                     "Image": display_image(svc.image), "Ports": ports_column(svc.ports)})


def _port_json(p: PortConfig) -> GoStruct:
    return GoStruct({"Protocol": p.protocol, "TargetPort": p.target, "PublishedPort": p.published,
                     "PublishMode": p.mode})


def _spec(swarm: SwarmState, svc: Service, image: str, replicas: int, env: list[str], args: list[str],
          ports: list[PortConfig]) -> GoStruct:
    container = GoStruct({"Image": image})
    if args:
        container["Args"] = list(args)
    if env:
        container["Env"] = list(env)
    container.update({"Init": False, "StopGracePeriod": 10 * NS, "DNSConfig": GoStruct({}),
                      "Isolation": "default"})
    template = GoStruct({
        "ContainerSpec": container, "Resources": GoStruct({"Limits": GoStruct({}), "Reservations": GoStruct({})}),
        "RestartPolicy": GoStruct({"Condition": "any", "Delay": 5 * NS, "MaxAttempts": 0}),
        "Placement": GoStruct({"Constraints": list(svc.extra.get("constraints", []))}
                              if svc.extra.get("constraints") else {}),
    })
    if svc.networks:
        template["Networks"] = [GoStruct({"Target": nid}) for nid in svc.networks]
    template.update({"ForceUpdate": 0, "Runtime": "container"})
    mode = GoStruct({"Global": GoStruct({})}) if svc.mode == "global" else \
        GoStruct({"Replicated": GoStruct({"Replicas": replicas})})
    endpoint = GoStruct({"Mode": svc.endpoint_mode})
    if ports:
        endpoint["Ports"] = [_port_json(p) for p in ports]
    update = GoStruct({"Parallelism": 1, "FailureAction": "pause", "Monitor": 5 * NS, "MaxFailureRatio": 0,
                       "Order": "stop-first"})
    return GoStruct({"Name": svc.name, "Labels": GoMap(svc.extra.get("labels", {})), "TaskTemplate": template,
                     "Mode": mode, "UpdateConfig": update, "RollbackConfig": GoStruct(update),
                     "EndpointSpec": endpoint})


def service_json(swarm: SwarmState, svc: Service) -> GoStruct:
    """swarm.Service as `docker service inspect` prints it."""
    out = GoStruct({"ID": svc.id, "Version": GoStruct({"Index": svc.version}),
                    "CreatedAt": timestamp(svc.created), "UpdatedAt": timestamp(svc.updated),
                    "Spec": _spec(swarm, svc, svc.image, svc.replicas, svc.env, svc.args, svc.ports)})
    prev = svc.extra.get("previous")
    if prev:
        out["PreviousSpec"] = _spec(swarm, svc, prev["image"], prev["replicas"], prev["env"], prev["args"],
                                    prev["ports"])
    endpoint = GoStruct({"Spec": GoStruct(out["Spec"]["EndpointSpec"])})
    if svc.ports:
        endpoint["Ports"] = [_port_json(p) for p in svc.ports]
    if svc.vips:
        endpoint["VirtualIPs"] = [GoStruct({"NetworkID": nid, "Addr": str(vip)}) for nid, vip in svc.vips.items()]
    out["Endpoint"] = endpoint
    st = svc.extra.get("update_status")
    if st:
        us = GoStruct({"State": st["State"], "StartedAt": timestamp(st["StartedAt"])})
        if "CompletedAt" in st:
            us["CompletedAt"] = timestamp(st["CompletedAt"])
        us["Message"] = st["Message"]
        out["UpdateStatus"] = us
    return out


def service_pretty(swarm: SwarmState, svc: Service, now: float) -> str:
    """serviceInspectPrettyTemplate for what cnmsim services hold (starts with a blank line)."""
    lines = ["", f"ID:\t\t{svc.id}", f"Name:\t\t{svc.name}"]
    labels = svc.extra.get("labels", {})
    if labels:
        lines.append("Labels:")
        lines += [f" {k}={v}" if v else f" {k}" for k, v in sorted(labels.items())]
    if svc.mode == "global":
        lines.append("Service Mode:\tGlobal")
    else:
        lines.append("Service Mode:\tReplicated")
        if svc.replicas:
            lines.append(f" Replicas:\t{svc.replicas}")
    st = svc.extra.get("update_status")
    if st:
        lines += ["UpdateStatus:", f" State:\t\t{st['State']}",
                  f" Started:\t{human_duration(now - st['StartedAt'])} ago"]
        if st["State"] == "completed":
            lines.append(f" Completed:\t{human_duration(now - st['CompletedAt'])} ago")
        lines.append(f" Message:\t{st['Message']}")
    lines.append("Placement:")
    if svc.extra.get("constraints"):
        lines.append(f" Constraints:\t[{' '.join(svc.extra['constraints'])}]")
    for what, pad in (("Update", "      "), ("Rollback", "    ")):
        lines += [f"{what}Config:", " Parallelism:\t1", " On failure:\tpause", " Monitoring Period: 5s",
                  " Max failure ratio: 0", f" {what} order:{pad}stop-first"]
    lines += ["ContainerSpec:", f" Image:\t\t{svc.image}"]
    if svc.args:
        lines.append(" Args:\t\t" + "".join(a + " " for a in svc.args))
    if svc.env:
        lines.append(" Env:\t\t" + "".join(e + " " for e in svc.env))
    lines += [" Init:\t\tfalse", "Resources:"]
    if svc.networks:
        lines.append("Networks:" + "".join(" " + swarm.networks[n].name if n in swarm.networks else " " + n
                                           for n in svc.networks) + " ")
    lines.append(f"Endpoint Mode:\t{svc.endpoint_mode}")
    if svc.ports:
        lines.append("Ports:")
        for p in svc.ports:
            lines += [f" PublishedPort = {p.published}", f"  Protocol = {p.protocol}",
                      f"  TargetPort = {p.target}", f"  PublishMode = {p.mode}"]
        lines[-1] += " "
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- tasks
def task_name(swarm: SwarmState, t: Task) -> str:
    svc = swarm.services.get(t.service)
    name = svc.name if svc is not None else t.service
    return f"{name}.{t.slot}" if t.slot else f"{name}.{t.node}"


def task_rows(swarm: SwarmState, tasks: list[Task], now: float, trunc: bool = True,
              table: bool = True) -> list[GoStruct]:
    """task.Print: sorted by name, newest first within a slot; older ones indented."""
    named = [(task_name(swarm, t), t) for t in tasks]
    named = natural_sorted(sorted(named, key=lambda x: -x[1].created), key=lambda x: x[0])
    rows, prev = [], None
    for name, t in named:
        svc = swarm.services.get(t.service)
        node = swarm.nodes.get(t.node)
        err = t.error
        if trunc:
            err = ellipsis(err, 30)
        image = t.extra.get("image", svc.image if svc is not None else "")
        rows.append(GoStruct({
            "ID": t.id[:12] if trunc else t.id, "Name": (" \\_ " + name) if table and name == prev else name,
            "Image": display_image(image) if trunc else image, "Node": node.hostname if node else "",
            "DesiredState": pretty(t.desired),
            "CurrentState": f"{pretty(t.state)} {human_duration(now - t.updated).lower()} ago",
            "Error": f'"{err}"' if err else "",
            "Ports": ",".join(f"*:{p.published}->{p.target}/{p.protocol}" for p in (svc.ports if svc else [])
                              if p.mode == "host" and t.state == "running"),
        }))
        prev = name
    return rows
