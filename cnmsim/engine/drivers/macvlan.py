"""The macvlan driver (libnetwork drivers/macvlan): containers get their own MAC on the host's
LAN through a macvlan device on a parent interface; no bridge, no NAT, no iptables.

- `-o parent=eth0`: children of eth0, bridge mode by default (`-o macvlan_mode=`);
- `-o parent=eth0.10`: the 802.1q sub-interface is created (and brought up) if missing and
  deleted with the last network using it; a parent that existed before is never deleted;
- no parent: a dummy link `dm-<12 hex of the network id>` is the parent and the network is
  internal (no default route, no upstream DNS);
- the kernel keeps the parent and its macvlan children apart, so the host cannot reach its own
  containers (docs/macvlan.md), and two networks on different parents need an outside router.
MACs are 02:42 + the IPv4 address, as Docker Engine <= 27 made them (random from 28.0).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cnmsim.engine.driverapi import DriverBase, InterfaceInfo, JoinInfo
from cnmsim.engine.drivers.bridge.driver import mac_from_ip
from cnmsim.engine.errors import EngineError
from cnmsim.kernel import api

MODES = ("bridge", "private", "vepa", "passthru")


@dataclass
class MacvlanNet:
    nid: str
    parent: str
    mode: str
    internal: bool
    created_parent: bool  # we made the vlan sub-interface / dummy, so we delete it with the last user
    gateway: str | None
    endpoints: dict[str, str] = field(default_factory=dict)  # eid -> device name in the host until joined


class MacvlanDriver(DriverBase):
    name = "macvlan"

    def __init__(self, ctx: Any) -> None:
        super().__init__(ctx)
        self.root = ctx.kernel.root
        self.networks: dict[str, MacvlanNet] = {}

    def _has(self, name: str) -> bool:
        return self.root.link_get(name) is not None

    def _make_vlan(self, parent: str) -> None:
        """createVlanLink: `eth0.10` becomes a vlan 10 sub-interface of eth0."""
        if "." not in parent:
            raise EngineError(f"invalid subinterface vlan name {parent}, example formatting is eth0.10")
        base, _, vid_s = parent.rpartition(".")
        if not vid_s.isdigit() or not 1 <= int(vid_s) <= 4094:
            raise EngineError(f"vlan id must be between 1-4094, received: {vid_s}")
        if not self._has(base):
            raise EngineError(f"-o parent interface was not found on the host: {base}")
        self.root.link_add(api.Vlan(parent, base, int(vid_s)))
        self.root.link_set(parent, up=True)

    def create_network(self, nid: str, name: str, options: dict[str, str], ipv4: list, internal: bool) -> None:
        mode = options.get("macvlan_mode") or "bridge"
        if mode not in MODES:
            raise EngineError(f"requested macvlan mode '{mode}' is not valid, 'bridge' mode is the macvlan "
                              "driver default")
        parent = options.get("parent") or ""
        if parent == "lo":
            raise EngineError("loopback interface is not a valid macvlan parent link")
        created = False
        if not parent:
            parent, internal, created = f"dm-{nid[:12]}", True, True
            self.root.link_add(api.Dummy(parent))
            self.root.link_set(parent, up=True)
        elif not self._has(parent):
            self._make_vlan(parent)
            created = True
        for other in self.networks.values():
            if other.parent == parent and "passthru" in (mode, other.mode):
                raise EngineError(f"network {other.nid} is already using parent interface {parent}")
        gw = str(ipv4[0].gateway.ip) if ipv4 and ipv4[0].gateway is not None and not internal else None
        self.networks[nid] = MacvlanNet(nid, parent, mode, internal, created, gw)

    def delete_network(self, nid: str) -> None:
        net = self.networks.pop(nid)
        still_used = any(n.parent == net.parent for n in self.networks.values())
        if net.created_parent and not still_used and self._has(net.parent):
            self.root.link_del(net.parent)  # delVlanLink / the dummy parent

    def create_endpoint(self, nid: str, eid: str, iface: InterfaceInfo, options: dict[str, Any]) -> None:
        net = self.networks[nid]
        if iface.address is None:
            raise EngineError("no IPv4 address was allocated to the endpoint")
        name = ""
        while not name or self._has(name):
            name = "veth" + f"{self.ctx.rng.getrandbits(28):07x}"
        mac = iface.mac or mac_from_ip(str(iface.address.ip))
        self.root.link_add(api.Macvlan(name, net.parent, net.mode))
        self.root.link_set(name, address=mac)
        iface.mac = mac
        net.endpoints[eid] = name

    def delete_endpoint(self, nid: str, eid: str) -> None:
        name = self.networks[nid].endpoints.pop(eid, None)
        if name and self._has(name):  # never joined: still in the host namespace
            self.root.link_del(name)

    def join(self, nid: str, eid: str, sbox_key: str, jinfo: JoinInfo, options: dict[str, Any]) -> None:
        net = self.networks[nid]
        jinfo.src_name, jinfo.dst_prefix = net.endpoints[eid], "eth"
        jinfo.gateway = net.gateway
        jinfo.disable_gateway_service = True  # never a docker_gwbridge

    def leave(self, nid: str, eid: str) -> None:
        return None
