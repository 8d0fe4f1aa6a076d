"""A machine of the lab: a kernel, a NIC on the underlay, its files; optionally a Docker engine."""

from __future__ import annotations

from ipaddress import IPv4Interface
from typing import TYPE_CHECKING, Any

from cnmsim.kernel import api
from cnmsim.kernel.sim.context import random_mac
from cnmsim.place import Place

if TYPE_CHECKING:
    from cnmsim.kernel.sim.devices.nic import Nic
    from cnmsim.kernel.sim.segment import Segment
    from cnmsim.lab import Lab


class Host:
    """One lab host. `host.root` is its root namespace (an api.Netns), `host.kernel` its kernel."""

    def __init__(self, lab: Lab, name: str, docker: bool = True,
                 daemon: dict[str, Any] | None = None) -> None:
        self.lab = lab
        self.name = name
        self.docker = docker
        self.daemon = dict(daemon or {})
        self.kernel = lab.new_kernel(name)  # simulated, or real namespaces
        self.files: dict[str, str] = {
            "/etc/hostname": name + "\n",
            "/etc/hosts": f"127.0.0.1\tlocalhost\n127.0.1.1\t{name}\n\n"
                          "# The following lines are desirable for IPv6 capable hosts\n"
                          "::1     localhost ip6-localhost ip6-loopback\n"
                          "ff02::1 ip6-allnodes\nff02::2 ip6-allrouters\n",
            "/etc/resolv.conf": "",
        }
        self.place = Place(name, self, self.kernel.root, self.files)
        self.nics: list[Nic] = []  # simulated NICs (the real backend's are veths named in nic_names)
        self.nic_names: list[str] = []
        self.engine: Any = None  # the Docker engine, when the engine issue provides one

    @property
    def root(self):  # noqa: ANN201
        return self.kernel.root

    def ns(self, name: str = ""):  # noqa: ANN201
        return self.kernel.netns(name)

    @property
    def address(self) -> str | None:
        """The first address of the first NIC (the host's address on the LAN)."""
        for a in self.root.addrs():
            if a.dev in self.nic_names:
                return a.address.split("/")[0]
        return None

    def add_nic(self, segment: Segment, address: str | None = None, name: str | None = None,
                mtu: int | None = None, latency: float = 50e-6, bandwidth: float | None = 1e9,
                loss: float = 0.0) -> Nic:
        """Cable a new NIC (eth0, eth1 ...) to a segment and give it an address."""
        name = name or f"eth{len(self.nic_names)}"
        root = self.kernel.root
        mac = random_mac(self.lab.rng)  # the lab's stream: the same MACs on both backends
        self.nic_names.append(name)
        if self.lab.real is not None:
            self.lab.real.add_nic(self, segment, name, mac, mtu or segment.mtu)
            root.link_set(name, up=True)
            if address:
                iface = IPv4Interface(address)
                root.addr_add(name, address, broadcast=str(iface.network.broadcast_address))
            return None  # type: ignore[return-value]
        from cnmsim.kernel.sim.devices.nic import Nic

        nic = Nic(root, name, mac=mac, mtu=mtu or segment.mtu)
        root.attach(nic)
        nic.mac_set = True
        self.nics.append(nic)
        segment.attach(nic, latency=latency, bandwidth=bandwidth, loss=loss)
        nic.set_up(True)
        if address:
            iface = IPv4Interface(address)
            root.addr_add(name, address, broadcast=str(iface.network.broadcast_address))
        return nic

    def set_gateway(self, via: str) -> None:
        self.root.route_add(api.Route(dst="default", via=via), replace=True)

    def run(self, line: str):  # noqa: ANN201
        return self.lab.run(self.name, line)

    def __repr__(self) -> str:
        return f"<Host {self.name} {self.address or ''}>"
