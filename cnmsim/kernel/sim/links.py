"""`ip link add ... type KIND`: build the device for a link spec; and the LinkInfo dump."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from cnmsim.kernel import api
from cnmsim.kernel.api import KernelError

if TYPE_CHECKING:
    from cnmsim.kernel.sim.devices.base import NetDevice
    from cnmsim.kernel.sim.netns import SimNetns

Factory = Callable[["SimNetns", object], None]
FACTORIES: dict[type, Factory] = {}


def factory(kind: type) -> Callable[[Factory], Factory]:
    """Register the builder of one link kind (each driver module registers its own)."""

    def deco(fn: Factory) -> Factory:
        FACTORIES[kind] = fn
        return fn

    return deco


def create_link(ns: SimNetns, spec: api.LinkKind) -> None:
    import cnmsim.kernel.sim.drivers  # noqa: F401  (registers every built-in kind)

    try:
        build = FACTORIES[type(spec)]
    except KeyError:
        raise KernelError(f'Error: Unknown device type "{type(spec).__name__.lower()}".', "EOPNOTSUPP") from None
    build(ns, spec)


NO_CARRIER_MGMT = ("loopback", "dummy", "vxlan")  # drivers that never signal carrier: operstate UNKNOWN


def link_info(d: NetDevice) -> api.LinkInfo:
    link, link_ifindex, other_ns = d.link_desc()
    flags = []
    if d.promisc:
        flags.append("PROMISC")
    if not d.arp:
        flags.append("NOARP")
    details = dict(d.details())
    if d.master is not None:
        details["hairpin"] = d.hairpin
        ports = getattr(d.master, "ports", [])
        details["port_no"] = ports.index(d) + 1 if d in ports else 1
        details["cost"] = 2 if d.kind == "veth" else 100  # br port_cost(): veth reports 10 Gb/s
    if d.kind == "bridge":
        ports = getattr(d, "ports", [])
        details["bridge_id"] = d.mac if d.mac_set or ports else "00:00:00:00:00:00"
        details.setdefault("vlan_filtering", bool(getattr(d, "vlan_filtering", False)))
    nsid = name = None
    if other_ns and (peer_ns := _link_ns(d)) is not None:
        nsid = _nsid(d.ns, peer_ns)
        name = peer_ns.name if peer_ns.name in peer_ns.kernel.listed else None
    return api.LinkInfo(
        ifindex=d.ifindex, name=d.name, kind=d.kind, mac=d.mac, mtu=d.mtu, up=d.admin_up,
        lower_up=d.lower_up, master=d.master.name if d.master else None, link=link,
        link_ifindex=link_ifindex, link_netns=other_ns, flags=tuple(flags), details=details,
        rx_packets=d.rx_packets, rx_bytes=d.rx_bytes, tx_packets=d.tx_packets,
        tx_bytes=d.tx_bytes, rx_dropped=d.rx_dropped, tx_dropped=d.tx_dropped,
        operstate=_operstate(d, link_ifindex),
        qdisc=("pfifo_fast" if d.kind == "ether" else "noqueue") if getattr(d, "qdisc_attached", False) else "noop",
        link_netnsid=nsid, link_netns_name=name, promiscuity=_promiscuity(d),
    )


def _promiscuity(d: NetDevice) -> int:
    """A bridge port, `promisc on`, and a unicast list on a device that cannot filter unicast
    (veth, dummy: no IFF_UNICAST_FLT) each hold the device promiscuous."""
    from cnmsim.kernel.sim.fdb import uc_list

    uc = d.kind in ("veth", "dummy") and bool(uc_list(d))
    return int(d.promisc) + int(d.master is not None) + int(uc)


def _operstate(d: NetDevice, iflink: int | None) -> str:
    """default_operstate(): without carrier, LOWERLAYERDOWN when the lower device (macvlan/vlan
    parent, same-namespace veth peer) has no carrier either, DOWN otherwise."""
    if not d.admin_up:
        return "DOWN"
    if d.kind in NO_CARRIER_MGMT:
        return "UNKNOWN"
    if d.lower_up:
        return "UP"
    if iflink is None or d.link_desc()[2]:
        return "DOWN"  # (the kernel looks a foreign peer's index up locally: usually a miss)
    lower = next((x for x in d.ns.devices.values() if x.ifindex == iflink), None)
    return "DOWN" if lower is None or lower.lower_up else "LOWERLAYERDOWN"


def _link_ns(d: NetDevice) -> SimNetns | None:
    """The namespace of the device after '@' (veth peer, macvlan/vlan lower, vxlan link netns)."""
    link_ns = getattr(d, "link_ns", None)
    if link_ns is not None and link_ns is not d.ns:
        return link_ns
    for attr in ("peer", "lower", "parent", "lowerdev", "link"):
        other = getattr(d, attr, None)
        if other is not None and hasattr(other, "ns"):
            return other.ns
    return None


def _nsid(ns: SimNetns, other: SimNetns) -> int:
    """peernet2id_alloc(): the lowest free id, allocated the first time `other` is named here."""
    ids = ns.nsids
    if other not in ids:
        used = set(ids.values())
        ids[other] = next(i for i in range(len(used) + 1) if i not in used)
    return ids[other]
