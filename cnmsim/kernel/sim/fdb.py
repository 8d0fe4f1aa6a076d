"""`bridge fdb add|del|show`: entries in a bridge's table or a vxlan device's own table.

The dump also lists what rtnl_fdb_dump() shows for every Ethernet-like device through
ndo_dflt_fdb_dump(): its unicast address list (a macvlan child's MAC, `bridge fdb add MAC dev
DEV self`) and its multicast list, as an IPv4-only kernel (ipv6 disable_ipv6=1) fills it:
33:33:00:00:00:01 from registration, the bridge's multicast-router groups and 224.0.0.1's
01:00:5e:00:00:01 while the device is up.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cnmsim.kernel import api
from cnmsim.kernel.api import KernelError
from cnmsim.kernel.sim.devices.bridge import BridgeDevice, FdbEntry

if TYPE_CHECKING:
    from cnmsim.kernel.sim.devices.base import NetDevice
    from cnmsim.kernel.sim.netns import SimNetns


def _uc(dev: NetDevice) -> list[str]:
    """The addresses added with `bridge fdb add MAC dev DEV self` (dev_uc_add/dev_mc_add)."""
    return dev.__dict__.setdefault("fdb_uc", [])


def fdb_add(ns: SimNetns, fdb: api.Fdb, append: bool = False) -> None:
    dev = ns.dev(fdb.dev)
    own = getattr(dev, "fdb_self_add", None)
    if fdb.self_ or (own is not None and fdb.master is None):
        if own is None:
            if dev.kind == "loopback" or fdb.state not in ("", "permanent"):
                raise KernelError("RTNETLINK answers: Operation not supported", "EOPNOTSUPP")
            if fdb.mac.lower() in _uc(dev):  # ndo_dflt_fdb_add: dev_uc_add_excl
                raise KernelError("RTNETLINK answers: File exists", "EEXIST")
            _uc(dev).append(fdb.mac.lower())
            return
        own(fdb, append)
        return
    br = dev.master
    if not isinstance(br, BridgeDevice):
        raise KernelError("RTNETLINK answers: Operation not supported", "EOPNOTSUPP")
    mac = fdb.mac.lower()
    if mac in br.fdb and not append:  # fdb_add_entry(): NLM_F_EXCL refuses any existing entry
        raise KernelError("RTNETLINK answers: File exists", "EEXIST")
    # a permanent entry is local (frames for it go up the stack), a static one is forwarded
    br.fdb[mac] = FdbEntry(dev, ns.kernel.ctx.env.now, local=fdb.state == "permanent", static=True)


def fdb_del(ns: SimNetns, fdb: api.Fdb) -> None:
    dev = ns.dev(fdb.dev)
    own = getattr(dev, "fdb_self_del", None)
    if fdb.self_ or (own is not None and fdb.master is None):
        if own is None:
            if fdb.mac.lower() not in _uc(dev):
                raise KernelError("RTNETLINK answers: No such file or directory", "ENOENT")
            _uc(dev).remove(fdb.mac.lower())
            return
        own(fdb)
        return
    br = dev.master
    mac = fdb.mac.lower()
    if not isinstance(br, BridgeDevice) or mac not in br.fdb or br.fdb[mac].port is not dev:
        raise KernelError("RTNETLINK answers: No such file or directory", "ENOENT")
    del br.fdb[mac]


def fdb_dump(ns: SimNetns) -> list[api.Fdb]:
    """Rows in the order `bridge fdb show` prints them: by device; a port's entries in its
    bridge (newest first, as br_fdb_dump walks its hlist), then the device's own ones."""
    out: list[api.Fdb] = []
    now = ns.kernel.ctx.env.now
    for dev in sorted(ns.devices.values(), key=lambda d: d.ifindex):
        br = dev.master
        if isinstance(br, BridgeDevice):
            for mac, e in reversed(br.entries()):
                if e.port is dev:
                    state = "permanent" if e.local else ("static" if e.static else "")
                    out.append(api.Fdb(mac, dev.name, master=br.name, state=state,
                                       age=None if e.local or e.static else now - e.updated))
        own = getattr(dev, "fdb_self_dump", None)
        if own is not None:
            out.extend(own())
            continue
        out.extend(api.Fdb(mac, dev.name, self_=True) for mac in _dflt_addrs(dev))
        if isinstance(dev, BridgeDevice) and int(dev.mac.replace(":", ""), 16):
            owned = dev.fdb.get(dev.mac)
            if owned is None or owned.port not in dev.ports:  # a port's MAC is the port's entry
                out.append(api.Fdb(dev.mac, dev.name, master=dev.name, state="permanent"))
    return out


def uc_list(dev: NetDevice) -> list[str]:
    """dev->uc: the unicast addresses of up macvlan/vlan children, then `fdb add ... self` ones."""
    uc = [u.mac for u in dev.uppers
          if u.admin_up and u.mac != dev.mac and u.kind in ("macvlan", "vlan")]
    user = _uc(dev) if "fdb_uc" in dev.__dict__ else []
    return uc + [m for m in user if not int(m[:2], 16) & 1]


def _dflt_addrs(dev: NetDevice) -> list[str]:
    """ndo_dflt_fdb_dump(): the device's unicast list, then its multicast list."""
    if dev.kind == "loopback":
        return []
    mc = ["33:33:00:00:00:01"]
    if dev.admin_up and isinstance(dev, BridgeDevice):  # br_multicast_open(): mcast-router groups
        mc += ["01:00:5e:00:00:6a", "33:33:00:00:00:6a"]
    # ip_mc_up(): all-hosts 224.0.0.1, also held by an up macvlan/vlan child (dev_mc_sync)
    if dev.admin_up or any(u.admin_up and u.kind in ("macvlan", "vlan") for u in dev.uppers):
        mc.append("01:00:5e:00:00:01")
    user = _uc(dev) if "fdb_uc" in dev.__dict__ else []
    return uc_list(dev) + mc + [m for m in user if int(m[:2], 16) & 1]
