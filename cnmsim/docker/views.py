"""What the daemon's API returns, shaped as Go values (structs in field order, maps sorted), for
`docker network inspect`, `docker inspect` and the table/--format rows of `ls`/`ps`.

Field names and order follow moby's api/types (network.Inspect, container.InspectResponse,
NetworkSettings, EndpointSettings) as Docker Engine 27 encodes them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from cnmsim.docker.jsonout import NIL_MAP, NIL_SLICE, GoMap, GoStruct
from cnmsim.docker.jsonout import inspect_json as inspect_json  # re-exported for the commands

if TYPE_CHECKING:
    from cnmsim.engine.network import Network

NETWORK_HEADERS = {"ID": "NETWORK ID", "Name": "NAME", "Driver": "DRIVER", "Scope": "SCOPE",
                   "IPv6": "IPV6", "Internal": "INTERNAL", "Labels": "LABELS", "CreatedAt": "CREATED AT"}


def timestamp(t: float) -> str:
    """RFC 3339 with nanoseconds, as Go's time.Time marshals (the lab starts at the Unix epoch)."""
    dt = datetime.fromtimestamp(int(t), UTC)
    ns = int(round((t - int(t)) * 1e9))
    frac = f".{ns:09d}".rstrip("0") if ns else ""  # RFC3339Nano drops trailing zeros
    return dt.strftime("%Y-%m-%dT%H:%M:%S") + frac + "Z"


def created_at(t: float) -> str:
    """time.Time.String() as `docker ps --format {{.CreatedAt}}` prints it."""
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d %H:%M:%S +0000 UTC")


def render(fmt: str, headers: dict[str, str], rows: list[GoStruct]) -> str:
    """A `table ...` or plain --format over rows (docker/cli formatter.Context)."""
    from cnmsim.docker.table import format_rows

    return format_rows(fmt, headers, rows)


def template(fmt: str, obj: Any) -> str:
    from cnmsim.docker import gotemplate

    return gotemplate.parse(fmt).execute(obj)


# ---------------------------------------------------------------- networks
def network_row(n: Network, trunc: bool = True) -> GoStruct:
    return GoStruct({"ID": n.id[:12] if trunc else n.id, "Name": n.name, "Driver": n.driver, "Scope": n.scope,
                     "IPv6": "false", "Internal": str(n.internal).lower(),
                     "Labels": ",".join(f"{k}={v}" for k, v in sorted(n.labels.items())),
                     "CreatedAt": created_at(n.created)})


def network_filter(n: Network, key: str, value: str) -> bool:
    """`docker network ls -f`: name and id by substring/prefix, driver, scope, type, label."""
    if key == "name":
        return value in n.name
    if key == "id":
        return n.id.startswith(value)
    if key == "driver":
        return n.driver == value
    if key == "scope":
        return n.scope == value
    if key == "type":
        return (value == "builtin") == n.predefined
    if key == "label":
        k, _, v = value.partition("=")
        return k in n.labels and (not v or n.labels[k] == v)
    return True


def network_json(d: Any, n: Network) -> GoStruct:
    ipam_cfg: list[Any] = []
    for conf, info in zip(n.ipam_confs, n.ipam_infos, strict=False):
        entry = GoStruct({"Subnet": str(info.subnet)})
        if conf.ip_range:
            entry["IPRange"] = conf.ip_range
        if info.gateway is not None:
            entry["Gateway"] = str(info.gateway.ip)
        if conf.aux_addresses:
            entry["AuxiliaryAddresses"] = GoMap(conf.aux_addresses)
        ipam_cfg.append(entry)
    containers = GoMap({}, "map[string]network.EndpointResource", None)
    for c in d.containers.values():
        ep = c.endpoints.get(n.id)
        if ep is None and c.sandbox is not None:  # an endpoint the engine added (docker_gwbridge)
            ep = next((e for e in c.sandbox.endpoints if e.network is n), None)
        if ep is None:
            continue
        containers[c.id] = GoStruct({"Name": c.name, "EndpointID": ep.id, "MacAddress": ep.mac,
                                     "IPv4Address": str(ep.address) if ep.address else "", "IPv6Address": ""})
    predefined_ipam_opts: Any = NIL_MAP if n.name in ("bridge", "host", "none") else GoMap(n.ipam_options)
    return GoStruct({
        "Name": n.name, "Id": n.id, "Created": timestamp(n.created), "Scope": n.scope, "Driver": n.driver,
        "EnableIPv6": False,
        "IPAM": GoStruct({"Driver": n.ipam_driver, "Options": predefined_ipam_opts,
                          "Config": ipam_cfg}),
        "Internal": n.internal, "Attachable": n.attachable, "Ingress": n.ingress,
        "ConfigFrom": GoStruct({"Network": ""}), "ConfigOnly": False,
        "Containers": containers, "Options": GoMap(n.options), "Labels": GoMap(n.labels),
    })


NIL = NIL_SLICE  # re-export for container views
