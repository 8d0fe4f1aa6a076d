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
    return api.LinkInfo(
        ifindex=d.ifindex, name=d.name, kind=d.kind, mac=d.mac, mtu=d.mtu, up=d.admin_up,
        lower_up=d.lower_up, master=d.master.name if d.master else None, link=link,
        link_ifindex=link_ifindex, link_netns=other_ns, flags=tuple(flags), details=details,
        rx_packets=d.rx_packets, rx_bytes=d.rx_bytes, tx_packets=d.tx_packets,
        tx_bytes=d.tx_bytes, rx_dropped=d.rx_dropped, tx_dropped=d.tx_dropped,
    )
