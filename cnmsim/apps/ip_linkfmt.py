"""How iproute2 6.1 prints a link (ipaddress.c `print_linkinfo`), shared by `ip link`, `ip addr`
and `bridge link`.

Everything is formatted from `api.LinkInfo` records; the few values a record does not carry
(queue counts, TSO limits, MTU bounds) are the Linux defaults of each driver, listed below.
"""

from __future__ import annotations

from cnmsim.kernel.api import LinkInfo

# kernel flag names in the order iproute2 prints them (print_link_flags)
FLAG_ORDER = ("LOOPBACK", "BROADCAST", "POINTOPOINT", "MULTICAST", "NOARP", "ALLMULTI",
              "PROMISC", "MASTER", "SLAVE", "DEBUG", "DYNAMIC", "AUTOMEDIA", "PORTSEL",
              "NOTRAILERS", "UP", "LOWER_UP", "DORMANT", "ECHO")
# (min_mtu, max_mtu) each driver sets; ether_setup() gives 68/65535
MTU_BOUNDS = {"loopback": (0, 0), "dummy": (0, 0), "vlan": (0, 65535)}
GSO_MAX = 65536
TSO_BIG = 524280  # GSO_MAX_SIZE: lo, veth and bridge call netif_set_tso_max_size()
TSO_LEGACY = 65536  # TSO_LEGACY_MAX_SIZE, the default
TSO_BY_KIND = {"loopback": TSO_BIG, "veth": TSO_BIG, "bridge": TSO_BIG}
INHERITS_TSO = ("vxlan", "macvlan", "vlan")  # netif_inherit_tso_max() from the lower device
QLEN = 1000  # DEFAULT_TX_QUEUE_LEN
BR_TIMERS = ("hello_timer", "tcn_timer", "topology_change_timer")
BR_CONST = ("forward_delay 1500 hello_time 200 max_age 2000 ageing_time {ageing} stp_state 0 "
            "priority 32768 vlan_filtering {vf} bridge_id {bid} designated_root {bid} root_port 0 "
            "root_path_cost 0 topology_change 0 topology_change_detected 0 ")
BR_MCAST = ("group_fwd_mask 0 group_address 01:80:c2:00:00:00 mcast_snooping 1 "
            "no_linklocal_learn 0 mcast_vlan_snooping 0 mcast_router 1 mcast_query_use_ifaddr 0 "
            "mcast_querier 0 mcast_hash_elasticity 16 mcast_hash_max 4096 "
            "mcast_last_member_count 2 mcast_startup_query_count 2 "
            "mcast_last_member_interval 100 mcast_membership_interval 26000 "
            "mcast_querier_interval 25500 mcast_query_interval 12500 "
            "mcast_query_response_interval 1000 mcast_startup_query_interval 3124 "
            "mcast_stats_enabled 0 mcast_igmp_version 2 mcast_mld_version 1 nf_call_iptables 0 "
            "nf_call_ip6tables 0 nf_call_arptables 0 ")
PORT_FMT = ("bridge_slave state {state} priority 32 cost {cost} hairpin {hairpin} guard off "
            "root_block off fastleave off learning {learning} flood on port_id 0x{pid:x} "
            "port_no 0x{no:x} designated_port {pid} designated_cost 0 designated_bridge {bid} "
            "designated_root {bid} hold_timer    0.00 message_age_timer    0.00 "
            "forward_delay_timer    0.00 topology_change_ack 0 config_pending 0 proxy_arp off "
            "proxy_arp_wifi off mcast_router 1 mcast_fast_leave off mcast_flood on bcast_flood on "
            "mcast_to_unicast off neigh_suppress off group_fwd_mask 0 group_fwd_mask_str 0x0 "
            "vlan_tunnel off isolated off locked off ")


class Links:
    """The links of one namespace, indexed the way iproute2's ll_map caches them."""

    def __init__(self, links: list[LinkInfo]) -> None:
        self.all = links
        self.by_name = {li.name: li for li in links}
        self.by_index = {li.ifindex: li for li in links}

    def get(self, name: str) -> LinkInfo | None:
        return self.by_name.get(name)


def timer(seconds: float) -> str:
    """print_timer(): `%4i.%.2i`."""
    cs = int(round(float(seconds) * 100))
    return f"{cs // 100:4d}.{cs % 100:02d}"


def bridge_id(mac: str) -> str:
    """`8000.` + ether_ntoa(), which drops leading zeros (8000.2:42:ac:11:0:2)."""
    return "8000." + ":".join(f"{int(b, 16):x}" for b in mac.split(":"))


def operstate(li: LinkInfo, ctx: Links) -> str:
    if li.operstate:
        return li.operstate
    if not li.up:
        return "DOWN"
    if li.kind in ("loopback", "dummy", "vxlan"):
        return "UNKNOWN"
    if li.lower_up:
        return "UP"
    lower = ctx.by_index.get(li.link_ifindex) if li.link_ifindex else None
    return "LOWERLAYERDOWN" if lower is not None and not lower.lower_up else "DOWN"


def display_name(li: LinkInfo, ctx: Links) -> str:
    """`eth0@if5` (peer in another namespace), `eth0.10@eth0`, or the bare name."""
    if li.link_ifindex is None and li.link is None:
        return li.name
    if li.link_ifindex == 0:
        return f"{li.name}@NONE"
    if li.link_netns or li.link_netnsid is not None:
        return f"{li.name}@if{li.link_ifindex}"
    lower = ctx.by_index.get(li.link_ifindex) if li.link_ifindex else ctx.get(li.link or "")
    return f"{li.name}@{lower.name if lower else li.link}"


def mdown(li: LinkInfo, ctx: Links) -> bool:
    """M-DOWN: the same-namespace device after '@' is administratively down."""
    if li.link_netns or li.link_netnsid is not None or (li.link_ifindex is None and li.link is None):
        return False
    lower = ctx.by_index.get(li.link_ifindex) if li.link_ifindex else ctx.get(li.link or "")
    return lower is not None and not lower.up


def flag_names(li: LinkInfo) -> list[str]:
    if li.kind == "loopback":
        names = {"LOOPBACK"}
    elif li.kind == "dummy" or "NOARP" in li.flags:
        names = {"BROADCAST", "NOARP"}
    else:
        names = {"BROADCAST", "MULTICAST"}
    names |= {f for f in li.flags if f != "NOARP" or li.kind != "loopback"}
    if li.up:
        names.add("UP")
        if li.lower_up:
            names.add("LOWER_UP")
    return [f for f in FLAG_ORDER if f in names]


def flags(li: LinkInfo, ctx: Links) -> str:
    """The `<...>` part: NO-CARRIER first, the kernel flags, M-DOWN last."""
    out = flag_names(li)
    if li.up and operstate(li, ctx) not in ("UP", "UNKNOWN"):
        out.insert(0, "NO-CARRIER")
    if mdown(li, ctx):
        out.append("M-DOWN")
    return "<" + ",".join(out) + ">"


def qdisc(li: LinkInfo) -> str:
    if li.qdisc:
        return li.qdisc
    return ("pfifo_fast" if li.kind == "ether" else "noqueue") if li.up else "noop"


def netns_suffix(li: LinkInfo) -> str:
    if li.link_netns_name is not None:
        return f" link-netns {li.link_netns_name}"
    if li.link_netnsid is not None:
        return f" link-netnsid {li.link_netnsid}"
    return ""


def header(li: LinkInfo, ctx: Links, mode: bool = True) -> str:
    """`2: eth0@if5: <...> mtu 1500 qdisc noqueue state UP mode DEFAULT group default qlen 1000`."""
    master = f" master {li.master}" if li.master else ""
    return (f"{li.ifindex}: {display_name(li, ctx)}: {flags(li, ctx)} mtu {li.mtu} qdisc {qdisc(li)}"
            f"{master} state {operstate(li, ctx)}{' mode DEFAULT' if mode else ''} group default"
            f" qlen {QLEN}")


def link_line(li: LinkInfo) -> str:
    kind = "loopback" if li.kind == "loopback" else "ether"
    brd = "00:00:00:00:00:00" if kind == "loopback" else "ff:ff:ff:ff:ff:ff"
    return f"    link/{kind} {li.mac} brd {brd}{netns_suffix(li)}"


def _d(li: LinkInfo, *keys: str, default: object = None) -> object:
    for k in keys:
        if k in li.details:
            return li.details[k]
    return default


def _onoff(v: object) -> str:
    return "on" if v else "off"


def kind_details(li: LinkInfo, ctx: Links) -> str:
    """The `    KIND ...` line of `ip -d link` (empty for lo and physical NICs)."""
    k = li.kind
    if k == "veth":
        return "veth "
    if k == "dummy":
        return "dummy "
    if k == "bridge":
        ageing = int(round(float(_d(li, "ageing_time", default=300.0)) * 100))  # type: ignore[arg-type]
        bid = bridge_id(str(_d(li, "bridge_id", default=li.mac)))
        timers = "".join(f"{t} {timer(_d(li, t, default=0.0))} " for t in BR_TIMERS)  # type: ignore[arg-type]
        gc = timer(_d(li, "gc_timer", default=0.0))  # type: ignore[arg-type]
        vf = int(bool(_d(li, "vlan_filtering", default=False)))
        return ("bridge " + BR_CONST.format(ageing=ageing, vf=vf, bid=bid) + timers
                + f"gc_timer {gc} " + BR_MCAST)
    if k == "vxlan":
        s = f"vxlan id {_d(li, 'vni', 'id')} "
        for key in ("local", "dev"):
            v = _d(li, key)
            if v:
                s += f"{key} {v} "
        s += f"srcport 0 0 dstport {_d(li, 'dstport', 'port', default=4789)} "
        if not _d(li, "learning", default=True):
            s += "nolearning "
        for flag in ("proxy", "l2miss", "l3miss"):
            if _d(li, flag, default=False):
                s += f"{flag} "
        ageing = int(float(_d(li, "ageing", "ageing_time", default=300)))  # type: ignore[arg-type]
        return s + f"ttl auto ageing {ageing} udpcsum noudp6zerocsumtx noudp6zerocsumrx "
    if k == "macvlan":
        return f"macvlan mode {_d(li, 'mode', default='bridge')} bcqueuelen 1000 usedbcqueuelen 1000 "
    if k == "vlan":
        return f"vlan protocol 802.1Q id {_d(li, 'vid', 'id', 'vlan_id')} <REORDER_HDR> "
    return ""


def port_details(li: LinkInfo, ctx: Links) -> str:
    """The `    bridge_slave ...` line of a bridge port."""
    br = ctx.get(li.master or "")
    no = int(_d(li, "port_no", default=1))  # type: ignore[arg-type]
    bid = bridge_id(str(br.details.get("bridge_id", br.mac))) if br else bridge_id(li.mac)
    return PORT_FMT.format(state=port_state(li, ctx), cost=_d(li, "cost", default=100),
                           hairpin=_onoff(_d(li, "hairpin")), learning=_onoff(_d(li, "learning", default=True)),
                           pid=0x8000 + no, no=no, bid=bid)


def port_state(li: LinkInfo, ctx: Links) -> str:
    """With STP off a port forwards while it and its bridge are up and it has carrier."""
    br = ctx.get(li.master or "")
    running = li.up and operstate(li, ctx) in ("UP", "UNKNOWN")
    return "forwarding" if running and br is not None and br.up else "disabled"


def tso_max(li: LinkInfo, ctx: Links) -> int:
    if li.kind in INHERITS_TSO:
        lower = ctx.get(str(_d(li, "dev", default=li.link if not li.link_netns else "") or ""))
        return tso_max(lower, ctx) if lower is not None and lower is not li else TSO_LEGACY
    return TSO_BY_KIND.get(li.kind, TSO_LEGACY)


def details(li: LinkInfo, ctx: Links) -> str:
    """What `-d` appends to the link/ether line (and the lines after it)."""
    promisc = li.promiscuity if li.promiscuity is not None else (
        int("PROMISC" in li.flags) + int(li.master is not None))
    allmulti = int(li.master is not None)
    lo, hi = MTU_BOUNDS.get(li.kind, (68, 65535))
    s = f" promiscuity {promisc}  allmulti {allmulti} minmtu {lo} maxmtu {hi} "
    kd = kind_details(li, ctx)
    if kd:
        s += "\n    " + kd
    if li.master is not None:
        s += "\n    " + port_details(li, ctx)
    return s + (f"addrgenmode eui64 numtxqueues 1 numrxqueues 1 gso_max_size {GSO_MAX} "
                f"gso_max_segs 65535 tso_max_size {tso_max(li, ctx)} tso_max_segs 65535 "
                f"gro_max_size {GSO_MAX} ")


def _cols(cols: list[int], *values: int) -> None:
    for i, v in enumerate(values):
        cols[i] = max(cols[i], len(str(v)))


def stats(li: LinkInfo, level: int) -> list[str]:
    """`-s` counters (print_link_stats64), with iproute2's self-sizing columns."""
    rx = [li.rx_bytes, li.rx_packets, 0, li.rx_dropped, 0, 0]
    tx = [li.tx_bytes, li.tx_packets, 0, li.tx_dropped, 0, 0]
    cols = [10, 7, 6, 7, 7, 7, 10, 9]
    _cols(cols, *rx)
    _cols(cols, *tx)
    if level > 1:
        _cols(cols, 0, 0, 0, 0, 0, 0)

    def row(vals: list[int]) -> str:
        return "    " + "".join(f"{v:>{cols[i]}} " for i, v in enumerate(vals))

    out = ["    RX: " + " ".join(f"{h:>{w}}" for h, w in zip(
        ("bytes", "packets", "errors", "dropped", "missed", "mcast", ""),
        (cols[0] - 4, *cols[1:7]), strict=True)), row(rx)]
    if level > 1:
        out += ["    RX errors: " + " ".join(f"{h:>{cols[i + 1]}}" for i, h in enumerate(
            ("length", "crc", "frame", "fifo", "overrun"))),
                "    " + " " * cols[0] + " " + "".join(f"{0:>{cols[i + 1]}} " for i in range(5))]
    out += ["    TX: " + " ".join(f"{h:>{w}}" for h, w in zip(
        ("bytes", "packets", "errors", "dropped", "carrier", "collsns", ""),
        (cols[0] - 4, *cols[1:7]), strict=True)), row(tx)]
    if level > 1:
        out += ["    TX errors: " + " ".join(f"{h:>{cols[i + 1]}}" for i, h in enumerate(
            ("aborted", "fifo", "window", "heartbt", "transns"))),
                "    " + " " * cols[0] + " " + "".join(f"{0:>{cols[i + 1]}} " for i in range(5))]
    return out


def link_block(li: LinkInfo, ctx: Links, detail: int = 0, stat: int = 0, mode: bool = True,
               link: bool = True) -> list[str]:
    """The lines of one link; `ip -o` joins them with a backslash."""
    first = header(li, ctx, mode)
    lines = [first]
    if link:
        lines.append(link_line(li) + (details(li, ctx) if detail else ""))
    else:
        lines[0] += netns_suffix(li)
    if stat:
        lines += stats(li, stat)
    return lines


def brief(li: LinkInfo, ctx: Links) -> str:
    """`ip -br link`: name, state, MAC, flags."""
    return f"{display_name(li, ctx):<16} {operstate(li, ctx):<14} {li.mac} {flags(li, ctx)} "
