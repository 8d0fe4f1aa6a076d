"""The packet as iptables sees it: every field a rule may test, read once per hook call.

Reading a scapy field costs a Python call and a dict walk, so a hook reads the packet once
into a View (addresses as ints, ports, ICMP type, devices, physdev, mark, conntrack state)
and every compiled rule tests the View's slots.  Targets that rewrite the packet (MARK, NAT)
update the View too, so later rules of the same traversal see the change.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from scapy.layers.inet import ICMP, IP, TCP, UDP
from scapy.packet import Raw

from cnmsim.kernel.sim.nf.addr import ip2int
from cnmsim.kernel.sim.nf.conntrack import CT_UNTRACKED, S_DST_NAT, S_SRC_NAT
from cnmsim.packet.sizes import wire_len

if TYPE_CHECKING:
    from cnmsim.kernel.sim.devices.base import NetDevice
    from cnmsim.kernel.sim.nf.conntrack import Conn
    from cnmsim.packet.frame import Frame

# xt_conntrack / xt_state bits: INVALID, ESTABLISHED, RELATED, NEW, UNTRACKED, SNAT, DNAT
ST_INVALID, ST_ESTABLISHED, ST_RELATED, ST_NEW = 1, 2, 4, 8
ST_UNTRACKED, ST_SNAT, ST_DNAT = 1 << 8, 1 << 9, 1 << 10
STATE_BITS = {"INVALID": ST_INVALID, "ESTABLISHED": ST_ESTABLISHED, "RELATED": ST_RELATED,
              "NEW": ST_NEW, "UNTRACKED": ST_UNTRACKED, "SNAT": ST_SNAT, "DNAT": ST_DNAT}


class View:
    """The parsed fields of one packet at one hook (see module docstring)."""

    __slots__ = ("frame", "ip", "hook", "indev", "outdev", "src", "dst", "proto", "sport", "dport",
                 "itype", "icode", "tcpflags", "frag", "length", "iif", "oif", "physin", "physout",
                 "mark", "conn", "ctinfo", "ctstate")

    def __init__(self) -> None:
        self.sport = self.dport = self.itype = self.icode = -1
        self.tcpflags = 0

    @property
    def ctdir(self) -> int:
        """0 original, 1 reply (only meaningful with a conntrack entry)."""
        return 1 if self.ctinfo >= 3 else 0

    def refresh_ct(self, conn: Conn | None, ctinfo: int) -> None:
        """Recompute the conntrack state bits after frame.ct changed."""
        self.conn, self.ctinfo = conn, ctinfo
        if conn is None:
            self.ctstate = ST_UNTRACKED if ctinfo == CT_UNTRACKED else ST_INVALID
        else:
            st = 1 << (ctinfo % 3 + 1)
            s = conn.status
            if s & S_SRC_NAT:
                st |= ST_SNAT
            if s & S_DST_NAT:
                st |= ST_DNAT
            self.ctstate = st

    def __repr__(self) -> str:
        return f"<View {self.hook} {self.src:#x}->{self.dst:#x} p{self.proto} {self.sport}->{self.dport}>"


def build(frame: Frame, ip: IP, hook: str, indev: NetDevice | None,
          outdev: NetDevice | None) -> View:
    """Parse `frame` (whose IPv4 header is `ip`) once for the rules of one hook."""
    v = View()
    v.frame, v.ip, v.hook, v.indev, v.outdev = frame, ip, hook, indev, outdev
    v.src = ip2int(ip.src)
    v.dst = ip2int(ip.dst)
    pl = ip.payload
    t = type(pl)
    off = ip.frag
    v.frag = off != 0
    if t is TCP and not off:
        v.proto = 6
        v.sport, v.dport = pl.sport, pl.dport
        v.tcpflags = int(pl.flags)
    elif t is UDP and not off:
        v.proto = 17
        v.sport, v.dport = pl.sport, pl.dport
    elif t is ICMP and not off:
        v.proto = 1
        v.itype, v.icode = pl.type, pl.code
    else:
        v.proto = ip.proto
        if t is Raw and not off:  # a first fragment: its transport header is raw bytes
            first_fragment(v, pl.load)
    n = ip.len
    v.length = n if n is not None else wire_len(ip)
    v.iif = indev.name if indev is not None else ""
    v.oif = outdev.name if outdev is not None else ""
    meta = frame.meta
    if meta:
        v.physin = meta.get("physdev_in")
        v.physout = meta.get("physdev_out")
    else:
        v.physin = v.physout = None
    v.mark = frame.mark
    ct = frame.ct
    if ct is None:
        v.conn, v.ctinfo, v.ctstate = None, -1, ST_INVALID
    else:
        v.refresh_ct(ct[0], ct[1])
    return v


def first_fragment(v: View, load: bytes) -> None:
    """Ports (or ICMP type and code) read from the raw header bytes of a first fragment."""
    p = v.proto
    if p in (6, 17) and len(load) >= 4:
        v.sport, v.dport = int.from_bytes(load[0:2], "big"), int.from_bytes(load[2:4], "big")
        if p == 6 and len(load) >= 14:
            v.tcpflags = load[13]
    elif p == 1 and len(load) >= 2:
        v.itype, v.icode = load[0], load[1]
