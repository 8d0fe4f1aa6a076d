"""The Linux bridge: a learning switch in the kernel (net/bridge/br_input.c, br_forward.c).

Ports learn source MACs into the FDB (aged after `ageing_time`, 300 s by default); a frame for
a known MAC goes to that port only, unknown unicast and broadcast are flooded to every other
port, a frame is never sent back out of the port it came in on unless that port has the
hairpin flag, and a frame for the bridge's own MAC goes up the stack through the bridge device
(the bridge's address is the containers' gateway).  When `net.bridge.bridge-nf-call-iptables`
is 1, bridged IPv4 traffic also traverses netfilter's PREROUTING, FORWARD and POSTROUTING.
"""

from __future__ import annotations

from dataclasses import dataclass

from scapy.layers.inet import IP
from scapy.layers.l2 import Ether

from cnmsim.kernel.sim.devices.base import NetDevice
from cnmsim.packet.frame import Frame


@dataclass(slots=True)
class FdbEntry:
    port: NetDevice
    updated: float
    local: bool = False  # the bridge's or a port's own address: deliver up the stack
    static: bool = False  # added by `bridge fdb add`, never aged


def is_group(mac: str) -> bool:
    """Broadcast or multicast: the I/G bit of the first octet."""
    return int(mac[:2], 16) & 1 == 1


class BridgeDevice(NetDevice):
    kind = "bridge"
    cost = 2e-6

    def __init__(self, ns, name: str, mac: str | None = None, ageing_time: float = 300.0) -> None:  # noqa: ANN001
        super().__init__(ns, name, mac)
        self.ports: list[NetDevice] = []
        self.fdb: dict[str, FdbEntry] = {}
        self.ageing_time = ageing_time
        self.carrier = False  # NO-CARRIER until a port is up

    @property
    def lower_up(self) -> bool:
        return self.admin_up and any(p.running for p in self.ports)

    # ------------------------------------------------------------ ports
    def add_port(self, dev: NetDevice) -> None:
        """`ip link set DEV master BR`."""
        if dev.master is None and dev.rx_handler is not None:
            from cnmsim.kernel.api import KernelError  # a macvlan parent already has an rx handler

            raise KernelError("RTNETLINK answers: Device or resource busy", "EBUSY")
        if dev.master is not None:
            dev.master.del_port(dev)  # type: ignore[attr-defined]
        dev.master = self
        dev.rx_handler = self.handle_frame
        self.ports.append(dev)
        self.fdb[dev.mac] = FdbEntry(dev, self.ns.kernel.ctx.env.now, local=True)
        self._recalc_mac()
        self.recalc_mtu()
        self.trace("bridge:port", "add", f"{dev.name} is now a port of {self.name}", None)

    def del_port(self, dev: NetDevice) -> None:
        """`ip link set DEV nomaster` (or the port is deleted)."""
        if dev in self.ports:
            self.ports.remove(dev)
        dev.master = None
        dev.rx_handler = None
        self.fdb = {m: e for m, e in self.fdb.items() if e.port is not dev}
        self._recalc_mac()
        self.recalc_mtu()

    def recalc_mtu(self) -> None:
        """br_mtu_auto_adjust: the smallest port MTU (1500 without ports), unless the user set
        the bridge's own MTU (BROPT_MTU_SET_BY_USER, `mtu_set` from `ip link set br0 mtu N`)."""
        if not getattr(self, "mtu_set", False):
            self.mtu = min((p.mtu for p in self.ports), default=1500)

    def _recalc_mac(self) -> None:
        """Without an explicitly set address, a bridge takes its lowest port MAC (br_stp_recalculate_bridge_id)."""
        if self.mac_set or not self.ports:
            return
        self.mac = min(p.mac for p in self.ports)

    # ------------------------------------------------------------ FDB
    def lookup(self, mac: str) -> FdbEntry | None:
        e = self.fdb.get(mac)
        if e is None:
            return None
        if not (e.local or e.static) and self.ns.kernel.ctx.env.now - e.updated > self.ageing_time:
            del self.fdb[mac]  # aged out
            self.trace("bridge:fdb", "expire", f"{mac} on {e.port.name} aged out", None)
            return None
        return e

    def learn(self, mac: str, port: NetDevice, frame: Frame) -> None:
        if is_group(mac):
            return
        now = self.ns.kernel.ctx.env.now
        e = self.fdb.get(mac)
        if e is None:
            self.fdb[mac] = FdbEntry(port, now)
            self.trace("bridge:learn", "learn", f"{mac} is behind port {port.name}", frame)
        elif not (e.local or e.static):
            if e.port is not port:
                self.trace("bridge:learn", "move", f"{mac} moved from {e.port.name} to {port.name}", frame)
            e.port, e.updated = port, now

    def entries(self) -> list[tuple[str, FdbEntry]]:
        """Live entries (aged ones dropped), in insertion order."""
        return [(m, e) for m, e in list(self.fdb.items()) if self.lookup(m) is not None]

    # ------------------------------------------------------------ data path
    def handle_frame(self, port: NetDevice, frame: Frame) -> bool:
        """rx handler of every port (br_handle_frame): learn, then deliver/forward/flood."""
        if not self.admin_up:
            self.drop(frame, "bridge:rx", f"bridge {self.name} is down", tx=False)
            return True
        if self.ns.bridge_nf and not self.nf_prerouting(frame, port):
            return True
        eth = frame.pkt
        self.learn(eth.src, port, frame)
        dst = eth.dst
        if is_group(dst):
            self.flood(frame, port, local=True)
            return True
        e = self.lookup(dst)
        if dst == self.mac or (e is not None and e.local):  # the bridge's own address has a local entry
            self.trace("bridge:local", "deliver", f"{dst} is the bridge's own address; up the stack of {self.name}", frame)
            NetDevice.receive(self, frame)
            return True
        if e is None:
            self.flood(frame, port, local=False)
            return True
        self.forward(frame, port, e.port, f"FDB: {dst} is behind port {e.port.name}")
        return True

    def forward(self, frame: Frame, inport: NetDevice | None, outport: NetDevice, why: str) -> None:
        if outport is inport and not outport.hairpin:
            self.drop(frame, "bridge:forward", f"{why}, which is the ingress port and hairpin is off", tx=False)
            return
        if inport is not None and not self.nf_forward(frame, inport, outport):
            return
        self.trace("bridge:forward", "forward", why, frame)
        frame.cost += self.cost
        outport.xmit(frame)

    def flood(self, frame: Frame, inport: NetDevice | None, local: bool) -> None:
        """Copy to every other running port, and up the stack for broadcast/multicast (br_flood)."""
        outs = [p for p in self.ports if p.running and (p is not inport or p.hairpin)]
        up = local and inport is not None
        dst = frame.pkt.dst
        what = "broadcast" if dst == "ff:ff:ff:ff:ff:ff" else (
            "multicast" if is_group(dst) else "unknown unicast")
        names = ", ".join(p.name for p in outs) or "no other port"
        self.trace("bridge:flood", "flood", f"{what} {dst}: flooded to {names}", frame)
        last = len(outs) - (0 if up else 1)  # the original frame goes to the last delivery
        for i, p in enumerate(outs):
            # copies keep the packet's id: one packet whose path branches
            self.forward(frame if i == last else frame.clone(frame.id), inport, p, f"flooded {what}")
        if up:
            NetDevice.receive(self, frame)

    @staticmethod
    def _is_ipv4(frame: Frame) -> bool:
        return isinstance(frame.pkt, Ether) and isinstance(frame.pkt.payload, IP)

    def nf_prerouting(self, frame: Frame, inport: NetDevice) -> bool:
        """br_nf_pre_routing: bridged IPv4 frames see PREROUTING once, at the bridge port.

        The frame is marked so that, if it is then passed up through the bridge device, ip_rcv
        does not traverse PREROUTING a second time (the kernel's ip_sabotage_in).
        """
        if not self._is_ipv4(frame):
            return True
        frame.set_meta("physdev_in", inport.name)
        frame.set_meta("br_nf_pre", True)
        return self.ns.nf.hook("PREROUTING", frame, self, None)

    def nf_forward(self, frame: Frame, inport: NetDevice, outport: NetDevice) -> bool:
        """br_nf_forward_ip + br_nf_post_routing: bridged IPv4 frames traverse FORWARD, then
        POSTROUTING, with -m physdev seeing the bridge ports, when bridge-nf-call-iptables=1."""
        ns = self.ns
        if not ns.bridge_nf or not self._is_ipv4(frame):
            return True
        frame.set_meta("physdev_in", inport.name)
        frame.set_meta("physdev_out", outport.name)
        return ns.nf.hook("FORWARD", frame, self, self) and ns.nf.hook("POSTROUTING", frame, None, self)

    # ------------------------------------------------------------ local transmit
    def transmit(self, frame: Frame) -> None:
        """The stack sends through the bridge device (br_dev_xmit): FDB lookup or flood."""
        dst = frame.pkt.dst
        if is_group(dst):
            self.flood(frame, None, local=False)
            return
        e = self.lookup(dst)
        if e is None or e.local:
            self.flood(frame, None, local=False)
            return
        self.forward(frame, None, e.port, f"FDB: {dst} is behind port {e.port.name}")

    def details(self) -> dict[str, object]:
        return {"ageing_time": self.ageing_time, "ports": [p.name for p in self.ports]}
