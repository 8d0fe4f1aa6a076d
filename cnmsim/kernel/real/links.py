"""Netlink messages for `ip link add ... type KIND`, and rtnetlink dumps read back as api records.

Builders return pyroute2 messages (ifinfmsg ...) ready for `nlm_request`; decoders turn the
kernel's replies into the same frozen records the simulated kernel returns, filled the way
cnmsim's `ip`/`bridge` tools read them (details keys as in cnmsim.kernel.sim.links).
"""

from __future__ import annotations

import dataclasses
import errno
import os
import socket
from collections.abc import Callable
from ipaddress import IPv4Network
from typing import Any

from pyroute2.netlink.exceptions import NetlinkError
from pyroute2.netlink.rtnl.ifinfmsg import ifinfmsg
from pyroute2.netlink.rtnl.rtmsg import rtmsg

from cnmsim.kernel import api
from cnmsim.kernel.api import KernelError

# IFF_* flags the tools print beside the derived ones (UP, LOWER_UP, BROADCAST, MULTICAST, LOOPBACK)
EXTRA_FLAGS = ((0x4, "DEBUG"), (0x10, "POINTOPOINT"), (0x20, "NOTRAILERS"), (0x80, "NOARP"),
               (0x100, "PROMISC"), (0x200, "ALLMULTI"), (0x400, "MASTER"), (0x800, "SLAVE"),
               (0x2000, "PORTSEL"), (0x4000, "AUTOMEDIA"), (0x8000, "DYNAMIC"), (0x20000, "DORMANT"),
               (0x40000, "ECHO"))
IFF_UP, IFF_LOOPBACK, IFF_PROMISC, IFF_LOWER_UP = 0x1, 0x8, 0x100, 0x10000
SCOPES = {0: "global", 200: "site", 253: "link", 254: "host", 255: "nowhere"}
SCOPE_IDS = {v: k for k, v in SCOPES.items()}
PROTOS = {0: "unspec", 1: "redirect", 2: "kernel", 3: None, 4: "static", 16: "dhcp", 186: "bgp",
          187: "isis", 188: "ospf", 189: "rip"}
PROTO_IDS = {v: k for k, v in PROTOS.items() if v} | {"boot": 3}
TYPES = {1: "unicast", 2: "local", 3: "broadcast", 4: "anycast", 5: "multicast", 6: "blackhole",
         7: "unreachable", 8: "prohibit", 9: "throw", 10: "nat"}
TYPE_IDS = {v: k for k, v in TYPES.items()}
TABLES = {254: "main", 255: "local", 253: "default"}
TABLE_IDS = {v: k for k, v in TABLES.items()}
NUD = {0x01: "INCOMPLETE", 0x02: "REACHABLE", 0x04: "STALE", 0x08: "DELAY", 0x10: "PROBE",
       0x20: "FAILED", 0x40: "NOARP", 0x80: "PERMANENT"}
NUD_IDS = {v: k for k, v in NUD.items()} | {"NONE": 0}
NTF_PROXY, NTF_SELF, NTF_MASTER, NTF_ROUTER = 0x08, 0x02, 0x04, 0x80
BR_TIMERS = ("hello_timer", "tcn_timer", "topology_change_timer", "gc_timer")
MACVLAN_MODES = ("private", "vepa", "bridge", "passthru", "source")


def rtnl_error(e: NetlinkError) -> KernelError:
    """What iproute2 prints for a refused request: the kernel's extack message when it sent
    one (`Error: ipv4: Address already assigned.`), else `RTNETLINK answers: <strerror>`."""
    code = abs(e.code)
    msg = e.args[1] if len(e.args) > 1 else None
    name = "EOPNOTSUPP" if code == errno.EOPNOTSUPP else errno.errorcode.get(code, "EINVAL")
    if msg and msg != os.strerror(code):
        return KernelError(f"Error: {msg}" + ("" if msg.endswith(".") else "."), name)
    return KernelError(f"RTNETLINK answers: {os.strerror(code)}", name)


def no_dev(name: str) -> KernelError:
    return KernelError(f'Cannot find device "{name}"', "ENODEV")


def link_msg(index: int = 0, name: str | None = None, family: int = 0) -> ifinfmsg:
    msg = ifinfmsg()
    msg["family"], msg["index"], msg["flags"], msg["change"] = family, index, 0, 0
    msg["attrs"] = [("IFLA_IFNAME", name)] if name else []
    return msg


def linkinfo(kind: str, data: list[tuple[str, object]] | None = None) -> tuple[str, dict]:
    attrs: list[tuple[str, object]] = [("IFLA_INFO_KIND", kind)]
    if data:
        attrs.append(("IFLA_INFO_DATA", {"attrs": data}))
    return ("IFLA_LINKINFO", {"attrs": attrs})


def add_msg(spec: api.LinkKind, index_of: Callable[[str], int], peer_path: str | None) -> ifinfmsg:
    """RTM_NEWLINK for one link kind; `index_of` resolves parent/lower device names."""
    msg = link_msg(name=spec.name)
    data: list[tuple[str, object]]
    if isinstance(spec, api.Veth):
        peer: list[tuple[str, object]] = [("IFLA_IFNAME", spec.peer)]
        if peer_path is not None:  # the peer is born in the target namespace (IFLA_NET_NS_FD)
            peer.append(("IFLA_NET_NS_FD", peer_path))
        msg["attrs"].append(linkinfo("veth", [("VETH_INFO_PEER", {"attrs": peer})]))
    elif isinstance(spec, api.Bridge):
        data = []  # only what differs from the defaults, as `ip link add ... type bridge [opts]`
        if spec.ageing_time != 300.0:
            data.append(("IFLA_BR_AGEING_TIME", int(round(spec.ageing_time * 100))))
        if spec.vlan_filtering:  # (a kernel without CONFIG_BRIDGE_VLAN_FILTERING refuses even 0)
            data.append(("IFLA_BR_VLAN_FILTERING", 1))
        msg["attrs"].append(linkinfo("bridge", data))
    elif isinstance(spec, api.Vxlan):
        data = [("IFLA_VXLAN_ID", spec.vni)]
        if spec.local:
            data.append(("IFLA_VXLAN_LOCAL", spec.local))
        if spec.dev:
            data.append(("IFLA_VXLAN_LINK", index_of(spec.dev)))
        data += [("IFLA_VXLAN_PORT", spec.dstport), ("IFLA_VXLAN_LEARNING", int(spec.learning)),
                 ("IFLA_VXLAN_PROXY", int(spec.proxy)), ("IFLA_VXLAN_L2MISS", int(spec.l2miss)),
                 ("IFLA_VXLAN_L3MISS", int(spec.l3miss))]
        msg["attrs"].append(linkinfo("vxlan", data))
    elif isinstance(spec, api.Macvlan):
        if spec.mode not in MACVLAN_MODES:
            raise KernelError('Error: argument of "mode" must be "private", "vepa", "bridge", '
                              f'"passthru" or "source", not "{spec.mode}"', "EINVAL")
        msg["attrs"] += [("IFLA_LINK", index_of(spec.parent)),
                         linkinfo("macvlan", [("IFLA_MACVLAN_MODE", spec.mode)])]
    elif isinstance(spec, api.Vlan):
        msg["attrs"] += [("IFLA_LINK", index_of(spec.parent)), linkinfo("vlan", [("IFLA_VLAN_ID", spec.vid)])]
    elif isinstance(spec, api.Dummy):
        msg["attrs"].append(linkinfo("dummy"))
    else:
        raise KernelError(f'Error: Unknown device type "{type(spec).__name__.lower()}".', "EOPNOTSUPP")
    return msg


def route_msg(r: api.Route, delete: bool, index_of: Callable[[str], int]) -> rtmsg:
    """The rtmsg iproute2 sends for `ip route add|del` (defaults as iproute_modify sets them)."""
    try:
        net = IPv4Network("0.0.0.0/0" if r.dst == "default" else r.dst, strict=False)
    except ValueError:
        raise KernelError(f'Error: any valid prefix is expected rather than "{r.dst}".', "EINVAL") from None
    rtype = TYPE_IDS.get(r.type, 1)
    table = TABLE_IDS.get(r.table) or (int(r.table) if r.table.isdigit() else 0)
    if not table:
        raise KernelError(f'Error: argument "{r.table}" is wrong: "table" value is invalid', "EINVAL")
    msg = rtmsg()
    msg["family"], msg["dst_len"], msg["src_len"], msg["tos"] = socket.AF_INET, net.prefixlen, 0, 0
    msg["table"], msg["flags"] = table if table < 256 else 252, 0
    msg["type"] = 0 if delete and r.type == "unicast" else rtype
    proto = r.proto if r.proto is not None else (None if delete else "boot")
    msg["proto"] = 0 if proto is None else (int(proto) if str(proto).isdigit() else PROTO_IDS.get(proto, 3))
    if r.scope is not None:
        msg["scope"] = SCOPE_IDS.get(r.scope, 0)
    elif rtype in (2, 10):
        msg["scope"] = 254
    elif rtype in (3, 4, 5):
        msg["scope"] = 253
    else:  # a delete matches any scope (RT_SCOPE_NOWHERE); an added unicast without via is link
        msg["scope"] = 255 if delete else (253 if rtype == 1 and not r.via else 0)
    attrs: list[tuple[str, object]] = [("RTA_TABLE", table)]
    if net.prefixlen:
        attrs.append(("RTA_DST", r.dst.split("/")[0]))
    if r.via:
        attrs.append(("RTA_GATEWAY", r.via))
    if r.dev:
        attrs.append(("RTA_OIF", index_of(r.dev)))
    if r.src:
        attrs.append(("RTA_PREFSRC", r.src))
    if r.metric is not None:
        attrs.append(("RTA_PRIORITY", r.metric))
    if r.mtu is not None:
        attrs.append(("RTA_METRICS", {"attrs": [("RTAX_MTU", r.mtu)]}))
    msg["attrs"] = attrs
    return msg


def lladdr(mac: str) -> str:
    """A MAC as `ip` accepts it (else its `"zz" is invalid lladdr.`)."""
    parts = mac.split(":")
    if len(parts) != 6 or not all(1 <= len(p) <= 2 and all(c in "0123456789abcdefABCDEF" for c in p) for p in parts):
        raise KernelError(f'"{mac}" is invalid lladdr.', "EINVAL")
    return ":".join(f"{int(p, 16):02x}" for p in parts)


def replace(rec: api.LinkInfo, **changes: object) -> api.LinkInfo:
    return dataclasses.replace(rec, **changes)  # type: ignore[arg-type]


# ---------------------------------------------------------------- decoding


def _info(m: ifinfmsg) -> tuple[str | None, dict, str | None, dict]:
    """(kind, kind data, slave kind, slave data) from IFLA_LINKINFO."""
    li = m.get_attr("IFLA_LINKINFO")
    if li is None:
        return None, {}, None, {}
    data = li.get_attr("IFLA_INFO_DATA")
    sdata = li.get_attr("IFLA_INFO_SLAVE_DATA")
    return (li.get_attr("IFLA_INFO_KIND"), dict(data["attrs"]) if data else {},
            li.get_attr("IFLA_INFO_SLAVE_KIND"), dict(sdata["attrs"]) if sdata else {})


def kind_of(m: ifinfmsg) -> str:
    kind = _info(m)[0]
    return kind or ("loopback" if m["flags"] & IFF_LOOPBACK else "ether")


def details(m: ifinfmsg, ports: list[str]) -> dict[str, object]:
    """What the sim's devices put in LinkInfo.details (vni, mode, bridge and port state ...)."""
    kind, data, skind, sdata = _info(m)
    out: dict[str, object] = {}
    if kind == "bridge":
        bid = data.get("IFLA_BR_BRIDGE_ID") or {}
        out["ageing_time"] = data.get("IFLA_BR_AGEING_TIME", 30000) / 100
        out["ports"] = ports
        out["bridge_id"] = bid.get("addr", "00:00:00:00:00:00")
        out["vlan_filtering"] = bool(data.get("IFLA_BR_VLAN_FILTERING", 0))
        for t in BR_TIMERS:  # running timers only (0.00 is what the tools print otherwise)
            if v := data.get(f"IFLA_BR_{t.upper()}", 0):
                out[t] = v / 100
    elif kind == "vxlan":
        out.update(id=data.get("IFLA_VXLAN_ID"), local=data.get("IFLA_VXLAN_LOCAL"), dev=None,
                   dstport=data.get("IFLA_VXLAN_PORT", 0), learning=bool(data.get("IFLA_VXLAN_LEARNING")),
                   proxy=bool(data.get("IFLA_VXLAN_PROXY")), l2miss=bool(data.get("IFLA_VXLAN_L2MISS")),
                   l3miss=bool(data.get("IFLA_VXLAN_L3MISS")), ageing=data.get("IFLA_VXLAN_AGEING", 300))
        out["lower_index"] = data.get("IFLA_VXLAN_LINK")  # named by the caller (maybe in another netns)
    elif kind == "macvlan":
        out["mode"] = data.get("IFLA_MACVLAN_MODE", "bridge")
    elif kind == "vlan":
        proto = data.get("IFLA_VLAN_PROTOCOL", 0x8100)
        out.update(protocol="802.1ad" if proto in (0x88A8, "802.1ad") else "802.1Q", id=data.get("IFLA_VLAN_ID"))
    if skind == "bridge":
        out.update(hairpin=bool(sdata.get("IFLA_BRPORT_MODE", 0)), port_no=sdata.get("IFLA_BRPORT_NO", 1),
                   cost=sdata.get("IFLA_BRPORT_COST", 100))
        if not sdata.get("IFLA_BRPORT_LEARNING", 1):
            out["learning"] = False
    return out


def link_record(m: ifinfmsg, names: dict[int, str], ports: list[str], **extra: object) -> api.LinkInfo:
    """One LinkInfo; `extra` overrides the fields only the caller can know (peer names ...)."""
    flags = m["flags"]
    stats = m.get_attr("IFLA_STATS64") or {}
    idx = m["index"]
    link = m.get_attr("IFLA_LINK")
    nsid = m.get_attr("IFLA_LINK_NETNSID")
    link_ifindex = link if link is not None and (link != idx or nsid is not None) else None
    kind = kind_of(m)
    fields: dict[str, object] = dict(
        ifindex=idx, name=m.get_attr("IFLA_IFNAME"), kind=kind,
        mac=m.get_attr("IFLA_ADDRESS") or "00:00:00:00:00:00", mtu=m.get_attr("IFLA_MTU"),
        up=bool(flags & IFF_UP), lower_up=bool(flags & IFF_LOWER_UP),
        master=names.get(m.get_attr("IFLA_MASTER")) if m.get_attr("IFLA_MASTER") else None,
        link=names.get(link_ifindex) if link_ifindex is not None and nsid is None else None,
        link_ifindex=link_ifindex, link_netns=nsid is not None,
        flags=tuple(n for bit, n in EXTRA_FLAGS if flags & bit), details=details(m, ports),
        rx_packets=stats.get("rx_packets", 0), rx_bytes=stats.get("rx_bytes", 0),
        tx_packets=stats.get("tx_packets", 0), tx_bytes=stats.get("tx_bytes", 0),
        rx_dropped=stats.get("rx_dropped", 0), tx_dropped=stats.get("tx_dropped", 0),
        operstate=m.get_attr("IFLA_OPERSTATE"), qdisc=m.get_attr("IFLA_QDISC"),
        link_netnsid=nsid, promiscuity=m.get_attr("IFLA_PROMISCUITY"))
    fields.update(extra)
    return api.LinkInfo(**fields)  # type: ignore[arg-type]


def addr_record(m: Any, names: dict[int, str]) -> api.AddrInfo:
    ip = m.get_attr("IFA_LOCAL") or m.get_attr("IFA_ADDRESS")
    return api.AddrInfo(dev=names.get(m["index"], f"if{m['index']}"),
                        address=f"{ip}/{m['prefixlen']}", scope=SCOPES.get(m["scope"], str(m["scope"])),
                        broadcast=m.get_attr("IFA_BROADCAST"),
                        secondary=bool(m["flags"] & 0x01))


def route_record(m: Any, names: dict[int, str]) -> api.Route:
    g = m.get_attr
    plen = m["dst_len"]
    dst = g("RTA_DST") or "0.0.0.0"
    metrics = dict(g("RTA_METRICS")["attrs"]) if g("RTA_METRICS") else {}
    table = g("RTA_TABLE") or m["table"]
    return api.Route(dst="default" if plen == 0 else (dst if plen == 32 else f"{dst}/{plen}"),
                     via=g("RTA_GATEWAY"), dev=names.get(g("RTA_OIF")) if g("RTA_OIF") else None,
                     src=g("RTA_PREFSRC"), scope=SCOPES.get(m["scope"], str(m["scope"])),
                     proto=PROTOS.get(m["proto"], str(m["proto"])), metric=g("RTA_PRIORITY"),
                     table=TABLES.get(table, str(table)), type=TYPES.get(m["type"], str(m["type"])),
                     mtu=metrics.get("RTAX_MTU"))


def neigh_record(m: Any, names: dict[int, str]) -> api.Neigh:
    state = m["state"]
    return api.Neigh(ip=m.get_attr("NDA_DST"), dev=names.get(m["ifindex"], ""),
                     lladdr=m.get_attr("NDA_LLADDR"),
                     state=NUD.get(state & -state, "NONE") if state else "NONE",
                     router=bool(m["flags"] & NTF_ROUTER), proxy=bool(m["flags"] & NTF_PROXY))


def fdb_record(m: Any, names: dict[int, str], hz: int = 100) -> api.Fdb:
    g = m.get_attr
    state, flags = m["state"], m["flags"]
    st = "permanent" if state & 0x80 else ("static" if state & 0x40 else "")
    ci = g("NDA_CACHEINFO")
    age = ci["ndm_updated"] / hz if ci is not None and not st else None
    return api.Fdb(mac=g("NDA_LLADDR"), dev=names.get(m["ifindex"], ""),
                   master=names.get(g("NDA_MASTER")) if g("NDA_MASTER") else None, dst=g("NDA_DST"),
                   vlan=g("NDA_VLAN"), state=st, self_=bool(flags & NTF_SELF), vni=g("NDA_VNI"), age=age)
