"""The FDB of a vxlan device (`bridge fdb ... dev vxlan0 self`): MAC -> remote VTEPs.

Entries come from `bridge fdb add|append` (permanent/static, never aged) or from learning on
receive (vxlan_snoop; aged after 300 s).  The all-zeros MAC is the default entry: frames for
unknown MACs (and broadcasts) get one copy per remote listed there; `append` adds remotes only
to that entry and multicast ones, as vxlan_fdb_update does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from cnmsim.kernel import api
from cnmsim.kernel.api import KernelError
from cnmsim.trace.explain import register

if TYPE_CHECKING:
    from cnmsim.kernel.sim.devices.base import NetDevice
    from cnmsim.packet.frame import Frame

ZERO_MAC = "00:00:00:00:00:00"
ANY = "0.0.0.0"


def is_group(mac: str) -> bool:
    return int(mac[:2], 16) & 1 == 1


@dataclass(slots=True)
class Remote:
    """One vxlan_rdst: a remote VTEP (and an optional per-entry VNI)."""

    ip: str
    vni: int | None = None


@dataclass(slots=True)
class VxlanFdbEntry:
    remotes: list[Remote]
    state: str  # "permanent", "static", or "" for a learned (NUD_REACHABLE) entry
    updated: float


class VxlanFdb:
    """The table of one vxlan device."""

    def __init__(self, dev: NetDevice, ageing: float = 300.0) -> None:
        self.dev = dev
        self.ageing = ageing
        self.entries: dict[str, VxlanFdbEntry] = {}

    @property
    def now(self) -> float:
        return self.dev.ns.kernel.ctx.env.now

    def lookup(self, mac: str) -> VxlanFdbEntry | None:
        e = self.entries.get(mac)
        if e is not None and not e.state and self.now - e.updated > self.ageing:
            del self.entries[mac]  # vxlan_cleanup ages learned entries
            return None
        return e

    def add(self, fdb: api.Fdb, append: bool) -> None:
        """`bridge fdb add|append MAC dev vxlan0 dst VTEP` (vxlan_fdb_add -> vxlan_fdb_update)."""
        mac = fdb.mac.lower()
        remote = Remote(fdb.dst or ANY, fdb.vni)
        e = self.lookup(mac)
        if e is None:
            self.entries[mac] = VxlanFdbEntry([remote], fdb.state or "permanent", self.now)
        elif not append:
            raise KernelError("RTNETLINK answers: File exists", "EEXIST")
        elif (mac == ZERO_MAC or is_group(mac)) and remote not in e.remotes:
            e.remotes.append(remote)  # NLM_F_APPEND: extra remotes on default/multicast entries only
        self.dev.trace("vxlan:fdb", "add", f"{mac} -> VTEP {remote.ip}", None)

    def delete(self, fdb: api.Fdb) -> None:
        """`bridge fdb del MAC dev vxlan0 [dst VTEP]`: one remote, or the whole entry."""
        mac = fdb.mac.lower()
        e = self.lookup(mac)
        if e is None:
            raise KernelError("RTNETLINK answers: No such file or directory", "ENOENT")
        if fdb.dst is not None:
            keep = [r for r in e.remotes if r.ip != fdb.dst]
            if len(keep) == len(e.remotes):
                raise KernelError("RTNETLINK answers: No such file or directory", "ENOENT")
            e.remotes = keep
            if keep:
                return
        del self.entries[mac]

    def dump(self) -> list[api.Fdb]:
        out = []
        for mac in list(self.entries):
            e = self.lookup(mac)
            if e is not None:
                out.extend(api.Fdb(mac, self.dev.name, dst=r.ip if r.ip != ANY else None,
                                   state=e.state, self_=True, vni=r.vni) for r in e.remotes)
        return out

    def snoop(self, mac: str, vtep: str, frame: Frame) -> bool:
        """vxlan_snoop: learn or move `mac` behind `vtep`; True when a static entry forbids it."""
        if is_group(mac):
            return False
        e = self.lookup(mac)
        if e is None:
            self.entries[mac] = VxlanFdbEntry([Remote(vtep)], "", self.now)
            self.dev.trace("vxlan:fdb", "learn", f"{mac} is behind VTEP {vtep}", frame)
            return False
        first = e.remotes[0].ip if e.remotes else ANY
        if first == vtep:
            if not e.state:
                e.updated = self.now
            return False
        if e.state:
            self.dev.drop(frame, "vxlan:fdb", f"{mac} arrived from VTEP {vtep} but a static entry says "
                          f"{first}: static entries do not migrate", tx=False)
            return True
        self.dev.trace("vxlan:fdb", "move", f"{mac} migrated from {first} to {vtep}", frame)
        e.remotes[0].ip, e.updated = vtep, self.now
        return False


register("vxlan:fdb", "hit", "The VXLAN device {dev} of {place} looks up its FDB: {reason}.")
register("vxlan:fdb", "default", "The VXLAN device {dev} of {place} floods: {reason}.")
register("vxlan:fdb", "learn", "The VXLAN device {dev} of {place} learns that {reason}.")
register("vxlan:fdb", "move", "The VXLAN device {dev} of {place} updates its FDB: {reason}.")
register("vxlan:fdb", "add", "{place}: FDB entry added on {dev}: {reason}.")
register("vxlan:fdb", "drop", "The VXLAN device {dev} of {place} drops the frame: {reason}.")
