"""What the daemon's swarm API returns, shaped for the CLI: nodes (`docker node ls|inspect`) and
swarm networks in `docker network ls|inspect` (moby api/types/swarm Node, network.Inspect;
docker/cli cli/command/node/formatter.go).

Node table: ``table {{.ID}} {{if .Self}}*{{else}} {{ end }}\\t{{.Hostname}}\\t{{.Status}}\\t
{{.Availability}}\\t{{.ManagerStatus}}\\t{{.EngineVersion}}``, nodes sorted by hostname
(natural order); Status/Availability/ManagerStatus through formatter.PrettyPrint (capitalised).
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cmp_to_key
from typing import TYPE_CHECKING, Any

from cnmsim.docker.jsonout import NIL_MAP, GoMap, GoStruct
from cnmsim.docker.units import bytes_size, natural_less
from cnmsim.docker.views import network_json, timestamp

if TYPE_CHECKING:
    from cnmsim.swarm.model import Node, SwarmNetwork, SwarmState

NODE_TABLE = ("table {{.ID}} {{if .Self}}*{{else}} {{ end }}\t{{.Hostname}}\t{{.Status}}\t{{.Availability}}"
              "\t{{.ManagerStatus}}\t{{.EngineVersion}}")
NODE_HEADERS = {"ID": "ID", "Self": "", "Hostname": "HOSTNAME", "Status": "STATUS",
                "Availability": "AVAILABILITY", "ManagerStatus": "MANAGER STATUS",
                "EngineVersion": "ENGINE VERSION", "TLSStatus": "TLS STATUS"}
NANO_CPUS = 2_000_000_000
MEMORY = 4 * 1024**3
PLUGINS = [("Log", "awslogs"), ("Log", "fluentd"), ("Log", "gcplogs"), ("Log", "gelf"), ("Log", "journald"),
           ("Log", "json-file"), ("Log", "local"), ("Log", "splunk"), ("Log", "syslog"),
           ("Network", "bridge"), ("Network", "host"), ("Network", "ipvlan"), ("Network", "macvlan"),
           ("Network", "null"), ("Network", "overlay"), ("Volume", "local")]


def pretty(s: str) -> str:
    """formatter.PrettyPrint: capitalise the first letter."""
    return s[:1].upper() + s[1:]


def go_time(t: float) -> str:
    """time.Time.String(): 2006-01-02 15:04:05.999999999 +0000 UTC."""
    dt = datetime.fromtimestamp(int(t), UTC)
    ns = int(round((t - int(t)) * 1e9))
    frac = f".{ns:09d}".rstrip("0") if ns else ""
    return dt.strftime("%Y-%m-%d %H:%M:%S") + frac + " +0000 UTC"


def natural_sorted(items: list[Any], key: Any) -> list[Any]:
    return sorted(items, key=cmp_to_key(lambda a, b: -1 if natural_less(key(a), key(b))
                                        else (1 if natural_less(key(b), key(a)) else 0)))


def manager_status(n: Node) -> str:
    if n.role != "manager" or n.left:
        return ""
    return "Leader" if n.leader else pretty("unreachable" if n.status == "down" else "reachable")


def node_row(n: Node, self_id: str, version: str) -> GoStruct:
    return GoStruct({"ID": n.id, "Self": n.id == self_id, "Hostname": n.hostname, "Status": pretty(n.status),
                     "Availability": pretty(n.availability), "ManagerStatus": manager_status(n),
                     "EngineVersion": version, "TLSStatus": "Ready"})


def node_json(swarm: SwarmState, n: Node, version: str) -> GoStruct:
    """swarm.Node as `docker node inspect` prints it."""
    from cnmsim.swarm.manager.swarm import manager_addr

    out = GoStruct({
        "ID": n.id, "Version": GoStruct({"Index": swarm.extra.get("index", 10)}),
        "CreatedAt": timestamp(n.joined_at), "UpdatedAt": timestamp(n.joined_at),
        "Spec": GoStruct({"Labels": GoMap({}), "Role": n.role, "Availability": n.availability}),
        "Description": GoStruct({
            "Hostname": n.hostname, "Platform": GoStruct({"Architecture": "x86_64", "OS": "linux"}),
            "Resources": GoStruct({"NanoCPUs": NANO_CPUS, "MemoryBytes": MEMORY}),
            "Engine": GoStruct({"EngineVersion": version,
                                "Plugins": [GoStruct({"Type": t, "Name": p}) for t, p in PLUGINS]}),
            "TLSInfo": GoStruct({})}),
        "Status": GoStruct({"State": n.status, "Addr": n.addr}),
    })
    if n.role == "manager" and not n.left:
        ms = GoStruct({"Reachability": "unreachable" if n.status == "down" else "reachable",
                       "Addr": manager_addr(swarm, n)})
        if n.leader:
            ms = GoStruct({"Leader": True, **ms})
        out["ManagerStatus"] = ms
    return out


def node_pretty(swarm: SwarmState, n: Node, version: str) -> str:
    """nodeInspectPrettyTemplate (without TLS info)."""
    from cnmsim.swarm.manager.swarm import manager_addr

    lines = [f"ID:\t\t\t{n.id}", f"Hostname:              \t{n.hostname}",
             f"Joined at:             \t{go_time(n.joined_at)}", "Status:", f" State:\t\t\t{pretty(n.status)}",
             f" Availability:         \t{pretty(n.availability)}"]
    if n.addr:
        lines.append(f" Address:\t\t{n.addr}")
    if n.role == "manager" and not n.left:
        lines += ["Manager Status:", f" Address:\t\t{manager_addr(swarm, n)}",
                  f" Raft Status:\t\t{'Unreachable' if n.status == 'down' else 'Reachable'}",
                  f" Leader:\t\t{'Yes' if n.leader else 'No'}"]
    lines += ["Platform:", " Operating System:\tlinux", " Architecture:\t\tx86_64", "Resources:",
              f" CPUs:\t\t\t{NANO_CPUS // 10**9}", f" Memory:\t\t{bytes_size(MEMORY)}", "Plugins:"]
    by_type: dict[str, list[str]] = {}
    for t, p in PLUGINS:
        by_type.setdefault(t, []).append(p)
    for t in sorted(by_type):
        lines.append(f" {t}:\t\t{', '.join(by_type[t])}")
    lines.append(f"Engine Version:\t\t{version}")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- swarm networks
def swarm_network_json(d: Any, swarm: SwarmState, snet: SwarmNetwork) -> GoStruct:
    """network.Inspect of a swarm network: the node's own copy (with its containers and peers)
    when it has one, else the cluster's record (Containers null)."""
    local = d.controller.networks.get(snet.id)
    ipam_cfg = [GoStruct({"Subnet": str(snet.subnet), "Gateway": snet.gateway})] if snet.subnet else []
    ipam = GoStruct({"Driver": "default", "Options": GoMap(snet.ipam_options), "Config": ipam_cfg})
    if local is not None:
        out = network_json(d, local)
        out["Scope"], out["IPAM"], out["Ingress"] = "swarm", ipam, snet.ingress
        out["Options"], out["Labels"] = GoMap(snet.options), GoMap(snet.labels)
        out["Peers"] = peers(d.lab, swarm, snet)
        return out
    return GoStruct({
        "Name": snet.name, "Id": snet.id, "Created": timestamp(snet.created), "Scope": "swarm",
        "Driver": snet.driver, "EnableIPv6": False, "IPAM": ipam, "Internal": snet.internal,
        "Attachable": snet.attachable, "Ingress": snet.ingress, "ConfigFrom": GoStruct({"Network": ""}),
        "ConfigOnly": False, "Containers": NIL_MAP, "Options": GoMap(snet.options), "Labels": GoMap(snet.labels),
    })


def peers(lab: Any, swarm: SwarmState, snet: SwarmNetwork) -> list[GoStruct]:
    """The nodes that have the network (networkdb's peers: node name and address)."""
    out = []
    for n in sorted(swarm.nodes.values(), key=lambda n: n.index):
        if n.left:
            continue
        eng = lab[n.hostname].engine
        if snet.id in eng.controller.networks:
            out.append(GoStruct({"Name": swarm.extra["ndb_names"].get(n.id, n.hostname), "IP": n.addr}))
    return out
