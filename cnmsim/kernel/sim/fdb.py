"""`bridge fdb add|del|show`: entries in a bridge's table or a vxlan device's own table."""

from __future__ import annotations

from typing import TYPE_CHECKING

from cnmsim.kernel import api
from cnmsim.kernel.api import KernelError
from cnmsim.kernel.sim.devices.bridge import BridgeDevice, FdbEntry

if TYPE_CHECKING:
    from cnmsim.kernel.sim.netns import SimNetns


def fdb_add(ns: SimNetns, fdb: api.Fdb, append: bool = False) -> None:
    dev = ns.dev(fdb.dev)
    own = getattr(dev, "fdb_self_add", None)
    if fdb.self_ or (own is not None and fdb.master is None):
        if own is None:
            raise KernelError("RTNETLINK answers: Operation not supported", "EOPNOTSUPP")
        own(fdb, append)
        return
    br = dev.master
    if not isinstance(br, BridgeDevice):
        raise KernelError("RTNETLINK answers: Operation not supported", "EOPNOTSUPP")
    mac = fdb.mac.lower()
    if mac in br.fdb and br.fdb[mac].static:
        raise KernelError("RTNETLINK answers: File exists", "EEXIST")
    br.fdb[mac] = FdbEntry(dev, ns.kernel.ctx.env.now, static=True)


def fdb_del(ns: SimNetns, fdb: api.Fdb) -> None:
    dev = ns.dev(fdb.dev)
    own = getattr(dev, "fdb_self_del", None)
    if fdb.self_ or (own is not None and fdb.master is None):
        if own is None:
            raise KernelError("RTNETLINK answers: Operation not supported", "EOPNOTSUPP")
        own(fdb)
        return
    br = dev.master
    mac = fdb.mac.lower()
    if not isinstance(br, BridgeDevice) or mac not in br.fdb or br.fdb[mac].port is not dev:
        raise KernelError("RTNETLINK answers: No such file or directory", "ENOENT")
    del br.fdb[mac]


def fdb_dump(ns: SimNetns) -> list[api.Fdb]:
    """Rows in the order `bridge fdb show` prints them: by device, learned then permanent."""
    out: list[api.Fdb] = []
    for dev in sorted(ns.devices.values(), key=lambda d: d.ifindex):
        br = dev.master
        if isinstance(br, BridgeDevice):
            for mac, e in br.entries():
                if e.port is dev:
                    state = "permanent" if e.local else ("static" if e.static else "")
                    out.append(api.Fdb(mac, dev.name, master=br.name, state=state))
        if isinstance(dev, BridgeDevice):
            out.append(api.Fdb(dev.mac, dev.name, master=dev.name, state="permanent"))
        own = getattr(dev, "fdb_self_dump", None)
        if own is not None:
            out.extend(own())
    return out
