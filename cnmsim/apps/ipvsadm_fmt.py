"""What ipvsadm 1.31 prints: the table (-L, --stats, --rate, --thresholds, --persistent-conn),
ipvsadm-save rules (-S), the connection list (-Lc), the timeouts and the help text.

Services and real servers are sorted as ipvs_cmp_services/ipvs_cmp_dests do, with their C
arithmetic (an unsigned difference read as a signed int); --nosort keeps the kernel's order.
Without -n, addresses are named from /etc/hosts and ports from /etc/services.
"""

from __future__ import annotations

from functools import cmp_to_key
from ipaddress import IPv4Address

from cnmsim.apps.netutil import reverse_hosts
from cnmsim.kernel import api
from cnmsim.packet.services import service_name

VERSION = "1.2.1"
CONN_TAB_SIZE = 4096
FMT_NUMERIC, FMT_RULE, FMT_STATS, FMT_RATE = 0x1, 0x2, 0x4, 0x8
FMT_THRESHOLDS, FMT_PERSISTENTCONN, FMT_NOSORT, FMT_EXACT = 0x10, 0x20, 0x40, 0x80
FWD_NAME = {"Masq": "Masq", "Route": "Route", "Tunnel": "Tunnel"}
FWD_SWITCH = {"Masq": "-m", "Route": "-g", "Tunnel": "-i"}
TITLE = "Prot LocalAddress:Port Scheduler Flags\n  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n"
USAGE = (
    "Usage:\n  {p} -A|E virtual-service [-s scheduler] [-p [timeout]] [-M netmask] [--pe persistence_engine]"
    " [-b sched-flags]\n  {p} -D virtual-service\n  {p} -C\n  {p} -R\n  {p} -S [-n]\n"
    "  {p} -a|e virtual-service -r server-address [options]\n  {p} -d virtual-service -r server-address\n"
    "  {p} -L|l [virtual-service] [options]\n  {p} -Z [virtual-service]\n  {p} --set tcp tcpfin udp\n"
    "  {p} --start-daemon {{master|backup}} [daemon-options]\n  {p} --stop-daemon {{master|backup}}\n"
    "  {p} -h\n\n"
    "Commands:\nEither long or short options are allowed.\n"
    "  --add-service     -A        add virtual service with options\n"
    "  --edit-service    -E        edit virtual service with options\n"
    "  --delete-service  -D        delete virtual service\n"
    "  --clear           -C        clear the whole table\n"
    "  --restore         -R        restore rules from stdin\n"
    "  --save            -S        save rules to stdout\n"
    "  --add-server      -a        add real server with options\n"
    "  --edit-server     -e        edit real server with options\n"
    "  --delete-server   -d        delete real server\n"
    "  --list            -L|-l     list the table\n"
    "  --zero            -Z        zero counters in a service or all services\n"
    "  --set tcp tcpfin udp        set connection timeout values\n"
    "  --start-daemon              start connection sync daemon\n"
    "  --stop-daemon               stop connection sync daemon\n"
    "  --help            -h        display this help message\n\n"
    "virtual-service:\n"
    "  --tcp-service|-t  service-address   service-address is host[:port]\n"
    "  --udp-service|-u  service-address   service-address is host[:port]\n"
    "  --sctp-service    service-address   service-address is host[:port]\n"
    "  --fwmark-service|-f fwmark          fwmark is an integer greater than zero\n\n"
    "Options:\n"
    "  --ipv6         -6                   fwmark entry uses IPv6\n"
    "  --scheduler    -s scheduler         one of rr|wrr|lc|wlc|lblc|lblcr|dh|sh|sed|nq|fo|ovf|mh,\n"
    "                                      the default scheduler is wlc.\n"
    "  --pe            engine              alternate persistence engine may be sip,\n"
    "                                      not set by default.\n"
    "  --persistent   -p [timeout]         persistent service\n"
    "  --netmask      -M netmask           persistent granularity mask\n"
    "  --real-server  -r server-address    server-address is host (and port)\n"
    "  --gatewaying   -g                   gatewaying (direct routing) (default)\n"
    "  --ipip         -i                   ipip encapsulation (tunneling)\n"
    "  --masquerading -m                   masquerading (NAT)\n"
    "  --tun-type      type                one of ipip|gue|gre,\n"
    "                                      the default tunnel type is ipip.\n"
    "  --tun-port      port                tunnel destination port\n"
    "  --tun-nocsum                        tunnel encapsulation without checksum\n"
    "  --tun-csum                          tunnel encapsulation with checksum\n"
    "  --tun-remcsum                       tunnel encapsulation with remote checksum\n"
    "  --weight       -w weight            capacity of real server\n"
    "  --u-threshold  -x uthreshold        upper threshold of connections\n"
    "  --l-threshold  -y lthreshold        lower threshold of connections\n"
    "  --connection   -c                   output of current IPVS connections\n"
    "  --timeout                           output of timeout (tcp tcpfin udp)\n"
    "  --daemon                            output of daemon information\n"
    "  --stats                             output of statistics information\n"
    "  --rate                              output of rate information\n"
    "  --exact                             expand numbers (display exact values)\n"
    "  --thresholds                        output of thresholds information\n"
    "  --persistent-conn                   output of persistent connection info\n"
    "  --tun-info                          output of tunnel information\n"
    "  --nosort                            disable sorting output of service/server entries\n"
    "  --sort                              does nothing, for backwards compatibility\n"
    "  --ops          -o                   one-packet scheduling\n"
    "  --numeric      -n                   numeric output of addresses and ports\n"
    "  --sched-flags  -b flags             scheduler flags (comma-separated)\n\n"
    "Daemon Options:\n"
    "  --syncid sid                        syncid for connection sync (default=255)\n"
    "  --sync-maxlen length                Max sync message length (default=1472)\n"
    "  --mcast-interface interface         multicast interface for connection sync\n"
    "  --mcast-group address               IPv4/IPv6 group (default=224.0.0.81)\n"
    "  --mcast-port port                   UDP port (default=8848)\n"
    "  --mcast-ttl ttl                     Multicast TTL (default=1)\n")


def version_line() -> str:
    return f"ipvsadm v1.31 2019/12/24 (compiled with popt and IPVS v{VERSION})"


def _s32(x: int) -> int:
    """An unsigned C difference read back as an int."""
    x &= 0xFFFFFFFF
    return x - (1 << 32) if x & 0x80000000 else x


def _ip(a: str | None) -> int:
    return int(IPv4Address(a)) if a else 0


def _proto_num(s: api.IpvsService) -> int:
    return {"TCP": 6, "UDP": 17}.get(s.proto, 0)


def cmp_services(a: api.IpvsService, b: api.IpvsService) -> int:
    """ipvs_cmp_services: fwmark, then protocol, address, port."""
    return (_s32(a.fwmark - b.fwmark) or _proto_num(a) - _proto_num(b) or _s32(_ip(a.addr) - _ip(b.addr))
            or a.port - b.port)


def cmp_dests(a: api.IpvsDest, b: api.IpvsDest) -> int:
    return _s32(_ip(a.addr) - _ip(b.addr)) or a.port - b.port


class Namer:
    """addrport_to_anyname: numeric, or a name from /etc/hosts and /etc/services."""

    def __init__(self, files: dict[str, str], numeric: bool) -> None:
        self.numeric = numeric
        self.hosts = {} if numeric else reverse_hosts(files)

    def __call__(self, addr: str, port: int, proto: str) -> str:
        if self.numeric:
            return f"{addr}:{port}"
        name = service_name(port, proto.lower()) if proto in ("TCP", "UDP") else None
        return f"{self.hosts.get(addr, addr)}:{name or port}"


def largenum(i: int, fmt: int) -> str:
    """print_largenum: 9 columns, K/M/G/T beyond, or --exact."""
    if fmt & FMT_EXACT:
        n = len(str(i))
        return f"{i:{9 if n <= 8 else n + 1}d}"
    if i < 100_000_000:
        return f"{i:9d}"
    for div, unit, below in ((1000, "K", 10**9), (10**6, "M", 10**11), (10**9, "G", 10**14)):
        if i < below:
            return f"{i // div:8d}{unit}"
    return f"{i // 10**12:8d}T"


def title(fmt: int) -> str:
    head = "Prot LocalAddress:Port"
    if fmt & FMT_STATS:
        return f"{head:<33} {'Conns':>8} {'InPkts':>8} {'OutPkts':>8} {'InBytes':>8} {'OutBytes':>8}\n  -> RemoteAddress:Port\n"
    if fmt & FMT_RATE:
        return f"{head:<33} {'CPS':>8} {'InPPS':>8} {'OutPPS':>8} {'InBPS':>8} {'OutBPS':>8}\n  -> RemoteAddress:Port\n"
    if fmt & FMT_THRESHOLDS:
        return f"{head:<33} {'Uthreshold':<10} {'Lthreshold':<10} {'ActiveConn':<10} {'InActConn':<10}\n  -> RemoteAddress:Port\n"
    if fmt & FMT_PERSISTENTCONN:
        return f"{head:<33} {'Weight':<9} {'PersistConn':<11} {'ActiveConn':<10} {'InActConn':<10}\n  -> RemoteAddress:Port\n"
    return "" if fmt & FMT_RULE else TITLE


def _stats_cols(st: api.IpvsStats | None, fmt: int) -> str:
    st = st or api.IpvsStats()
    vals = (st.conns, st.inpkts, st.outpkts, st.inbytes, st.outbytes) if fmt & FMT_STATS else (
        st.cps, st.inpps, st.outpps, st.inbps, st.outbps)
    return "".join(largenum(v, fmt) for v in vals)


def service_entry(s: api.IpvsService, dests: list[api.IpvsDest], fmt: int, name: Namer) -> str:
    """print_service_entry: the service line and its real servers."""
    proto = "TCP" if s.proto == "FWM" else s.proto  # a fwmark entry carries no protocol
    if s.fwmark:
        svc = f"-f {s.fwmark}" if fmt & FMT_RULE else f"FWM  {s.fwmark}"
    else:
        vname = name(s.addr or "0.0.0.0", s.port, s.proto)
        svc = f"{'-t' if s.proto == 'TCP' else '-u'} {vname}" if fmt & FMT_RULE else f"{s.proto:<4} {vname}"[:33]
    mask = "" if s.netmask == "255.255.255.255" else s.netmask
    if fmt & FMT_RULE:
        line = f"-A {svc} -s {s.scheduler}"
        if s.persistent is not None:
            line += f" -p {s.persistent}" + (f" -M {mask}" if mask else "")
    elif fmt & (FMT_STATS | FMT_RATE):
        line = f"{svc:<33}" + _stats_cols(s.stats, fmt)
    else:
        line = f"{svc} {s.scheduler}"
        if s.persistent is not None:
            line += f" persistent {s.persistent}" + (f" mask {mask}" if mask else "")
    out = [line + "\n"]
    if not fmt & FMT_NOSORT:
        dests = sorted(dests, key=cmp_to_key(cmp_dests))
    dproto = "" if s.fwmark else proto
    for d in dests:
        dname = name(d.addr, d.port, dproto)
        if fmt & FMT_RULE:
            out.append(f"-a {svc} -r {dname} {FWD_SWITCH[d.forward]} -w {d.weight}\n")
            continue
        dname = dname[:28]
        if fmt & (FMT_STATS | FMT_RATE):
            out.append(f"  -> {dname:<28}" + _stats_cols(d.stats, fmt) + "\n")
        elif fmt & FMT_THRESHOLDS:
            out.append(f"  -> {dname:<28} {d.u_threshold:<10} {d.l_threshold:<10} "
                       f"{d.active_conns:<10} {d.inactive_conns:<10}\n")
        elif fmt & FMT_PERSISTENTCONN:
            out.append(f"  -> {dname:<28} {d.weight:<9} {d.persist_conns:<11} "
                       f"{d.active_conns:<10} {d.inactive_conns:<10}\n")
        else:
            out.append(f"  -> {dname:<28} {FWD_NAME[d.forward]:<7} {d.weight:<6} "
                       f"{d.active_conns:<10} {d.inactive_conns:<10}\n")
    return "".join(out)


def list_all(table: list[tuple[api.IpvsService, list[api.IpvsDest]]], fmt: int, name: Namer) -> str:
    out = "" if fmt & FMT_RULE else f"IP Virtual Server version {VERSION} (size={CONN_TAB_SIZE})\n"
    if not fmt & FMT_NOSORT:
        table = sorted(table, key=cmp_to_key(lambda x, y: cmp_services(x[0], y[0])))
    return out + title(fmt) + "".join(service_entry(s, d, fmt, name) for s, d in table)


def list_conns(conns: list[api.IpvsConn], name: Namer) -> str:
    """list_conn: /proc/net/ip_vs_conn as ipvsadm prints it."""
    out = ["IPVS connection entries\n", f"pro expire {'state':<11} {'source':<18} {'virtual':<18} destination\n"]
    for c in conns:
        expire = f"{c.expires // 60:02d}:{c.expires % 60:02d}"
        out.append(f"{c.proto:<3} {expire:<6} {c.state:<11} {name(c.caddr, c.cport, c.proto):<18} "
                   f"{name(c.vaddr, c.vport, c.proto):<18} {name(c.daddr, c.dport, c.proto)}\n")
    return "".join(out)
