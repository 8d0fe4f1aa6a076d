"""Embedded-DNS records of swarm-scoped networks (libnetwork service_common.go
`addEndpointNameResolution`, `addContainerNameResolution`; facts/engine.md §3 "Swarm services").

What a node's resolver answers for a network comes from what the node knows of it — its own
endpoints and the `endpoint_table` entries gossip brought (cnmsim.swarm.lb.NodeLB.bindings):

- `<service>` (and each service alias) → the VIP on that network (endpoint mode vip), or the
  enabled tasks' addresses (dnsrr);
- `tasks.<service>` → the enabled tasks' addresses;
- each task container's name (and task aliases) → its address, kept while it drains;
- the `ingress` network registers no names (`addSvcRecords` returns early on ingress);
- a sandbox's networks are scanned user overlays first, then ingress, then local ones
  (docker_gwbridge).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from cnmsim.engine.dns.names import DnsNetwork

if TYPE_CHECKING:
    from cnmsim.engine.daemon import Daemon
    from cnmsim.engine.network import Endpoint, Network
    from cnmsim.swarm.lb import NodeLB


def is_swarm(net: Network) -> bool:
    return net.scope == "swarm" or net.driver == "overlay"


def order(endpoints: list[Endpoint]) -> list[Endpoint]:
    """Swarm nodes re-sort a sandbox's endpoints for resolution: overlays, ingress, local."""
    if not any(is_swarm(ep.network) for ep in endpoints):
        return list(endpoints)
    return sorted(endpoints, key=lambda ep: 1 if ep.network.ingress else 0 if is_swarm(ep.network) else 2)


def records(nlb: NodeLB, nid: str) -> tuple[dict[str, list[str]], dict[str, str]]:
    """(name -> addresses, address -> PTR name) for network nid as the node knows it."""
    rec: dict[str, list[str]] = {}
    rev: dict[str, str] = {}

    def add(name: str, ip: str) -> None:
        rec.setdefault(name.lower(), []).append(ip)

    for b in nlb.network_bindings(nid):
        r = b.record
        ip = r.endpoint_ip
        for name in (r.name, *r.task_aliases):
            if name:
                add(name, ip)
        if r.name:
            rev.setdefault(ip, r.name)
        if not r.service_id or b.disabled:
            continue
        for svc in (r.service_name, *r.aliases):
            add(f"tasks.{svc}", ip)
            if not r.virtual_ip:
                add(svc, ip)
    for lb in nlb.lbs.values():
        if lb.nid == nid and lb.vip:
            aliases = next((b.record.aliases for b in lb.backends.values()), ())
            for svc in (lb.service_name, *aliases):
                add(svc, lb.vip)
    return rec, rev


def network_table(d: Daemon, net: Network, base: DnsNetwork) -> DnsNetwork | None:
    """The DnsNetwork a container's resolver uses for `net`: `base` (the engine's local
    records) for local networks, nothing for ingress, base plus the swarm's for overlays."""
    if net.ingress:
        return None
    if not is_swarm(net):
        return base
    from cnmsim.swarm.lb import find_node_lb

    nlb = find_node_lb(d.lab, d.host.name)
    if nlb is None:
        return base
    nid = _swarm_id(nlb, net)
    key = (net.generation, nlb.generation)
    cache: Any = net.extra.get("swarm_dns")
    if cache is not None and cache[0] == key:
        return cache[1]
    rec = {k: list(v) for k, v in base.records.items()}
    rev = dict(base.reverse)
    more, more_rev = records(nlb, nid)
    for name, ips in more.items():
        rec.setdefault(name, []).extend(ips)
    for ip, name in more_rev.items():
        rev.setdefault(ip, name)
    table = DnsNetwork(net.name, rec, rev, internal=base.internal)
    net.extra["swarm_dns"] = (key, table)
    return table


def _swarm_id(nlb: NodeLB, net: Network) -> str:
    if net.id in nlb.swarm.networks:
        return net.id
    return next((s.id for s in nlb.swarm.networks.values() if s.name == net.name), net.id)
