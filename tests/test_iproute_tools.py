"""ip link/addr/route/neigh, bridge, brctl and sysctl in the simulator: behaviour and the exact
text iproute2 6.1, bridge-utils 1.7.1 and procps-ng 4.0 print (checked against the real tools,
see test_iproute_real.py).  MACs are set explicitly so the expected strings can be literal."""

from __future__ import annotations

import pytest

from cnmsim import Lab
from cnmsim.apps import ip_linkfmt as fmt
from cnmsim.kernel import api

LO = ("1: lo: <LOOPBACK,UP,LOWER_UP> mtu 65536 qdisc noqueue state UNKNOWN mode DEFAULT group "
      "default qlen 1000\n    link/loopback 00:00:00:00:00:00 brd 00:00:00:00:00:00\n")
TAIL = ("addrgenmode eui64 numtxqueues 1 numrxqueues 1 gso_max_size 65536 gso_max_segs 65535 "
        "tso_max_size {tso} tso_max_segs 65535 gro_max_size 65536 ")
LFT = "       valid_lft forever preferred_lft forever\n"


class Sh:
    """Run transcript lines on host-A; `sh(line)` asserts success and returns stdout."""

    def __init__(self, lab: Lab) -> None:
        self.lab = lab

    def run(self, line: str, where: str = "host-A"):  # noqa: ANN201
        return self.lab.run(where, line)

    def __call__(self, line: str, where: str = "host-A") -> str:
        r = self.run(line, where)
        assert r.exit_code == 0, (line, r.stderr)
        return r.stdout

    def err(self, line: str) -> tuple[int, str, str]:
        r = self.run(line)
        return r.exit_code, r.stdout, r.stderr


@pytest.fixture
def sh() -> Sh:
    """A host whose root namespace has br0 with a veth port to netns c1 (172.31.0.0/16), and a
    second veth to an unlisted sandbox `sb` (what a Docker container's namespace is)."""
    lab = Lab(seed=0)
    h = lab.add_host("host-A", docker=False)
    h.kernel.netns_add("sb", listed=False)
    s = Sh(lab)
    for line in """ip netns add c1
        ip link add br0 type bridge
        ip link add veth1 type veth peer name eth0 netns c1
        ip link add veth2 type veth peer name eth0 netns sb
        ip link set veth1 address 02:00:00:00:01:01
        ip link set veth2 address 02:00:00:00:01:02
        ip -n c1 link set eth0 address 02:00:00:00:02:01
        ip netns exec sb ip link set eth0 address 02:00:00:00:03:01
        ip link set veth1 master br0
        ip link set br0 up
        ip link set veth1 up
        ip addr add 172.31.0.1/16 brd + dev br0
        ip -n c1 link set lo up
        ip -n c1 addr add 172.31.0.2/16 dev eth0
        ip -n c1 link set eth0 up
        ip -n c1 route add default via 172.31.0.1""".splitlines():
        s(line.strip())
    return s


# ---------------------------------------------------------------- ip link
def test_link_show_across_namespaces(sh: Sh) -> None:
    assert sh("ip link") == LO + (
        "2: br0: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc noqueue state UP mode DEFAULT "
        "group default qlen 1000\n    link/ether 02:00:00:00:01:01 brd ff:ff:ff:ff:ff:ff\n"
        "3: veth1@if2: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc noqueue master br0 state UP "
        "mode DEFAULT group default qlen 1000\n"
        "    link/ether 02:00:00:00:01:01 brd ff:ff:ff:ff:ff:ff link-netns c1\n"
        "4: veth2@if2: <BROADCAST,MULTICAST> mtu 1500 qdisc noop state DOWN mode DEFAULT group "
        "default qlen 1000\n    link/ether 02:00:00:00:01:02 brd ff:ff:ff:ff:ff:ff link-netnsid 1\n")
    # seen from a container, the root namespace has no name: its id is printed
    assert sh("ip netns exec c1 ip link show eth0") == (
        "2: eth0@if3: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc noqueue state UP mode DEFAULT "
        "group default qlen 1000\n"
        "    link/ether 02:00:00:00:02:01 brd ff:ff:ff:ff:ff:ff link-netnsid 0\n")


def test_link_states_and_flags(sh: Sh) -> None:
    sh("ip link set veth2 up")  # its peer in sb is down: no carrier
    assert sh("ip -br link show veth2") == (
        "veth2@if2        DOWN           02:00:00:00:01:02 <NO-CARRIER,BROADCAST,MULTICAST,UP> \n")
    sh("ip link add va type veth peer name vb")  # both ends here: '@vb', M-DOWN while vb is down
    sh("ip link set va up")
    assert sh("ip -br link show va").split()[:2] == ["va@vb", "LOWERLAYERDOWN"]
    assert "<NO-CARRIER,BROADCAST,MULTICAST,UP,M-DOWN>" in sh("ip link show va")
    sh("ip link set vb up")
    sh("ip link set vb down")  # qdisc stays noqueue once attached; only a netns move resets it
    assert "qdisc noqueue state DOWN" in sh("ip link show vb")
    sh("ip link set br0 down")
    assert sh("bridge link") == (
        "3: veth1@br0: <BROADCAST,MULTICAST,UP,LOWER_UP,M-DOWN> mtu 1500 master br0 state disabled "
        "priority 32 cost 2 \n")


def test_link_brief_oneline_and_filters(sh: Sh) -> None:
    assert sh("ip -br link show type bridge") == (
        "br0              UP             02:00:00:00:01:01 <BROADCAST,MULTICAST,UP,LOWER_UP> \n")
    assert sh("ip -o link show master br0") == (
        "3: veth1@if2: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc noqueue master br0 state UP "
        "mode DEFAULT group default qlen 1000\\    link/ether 02:00:00:00:01:01 brd "
        "ff:ff:ff:ff:ff:ff link-netns c1\n")
    assert [ln.split(":")[1] for ln in sh("ip link show up").splitlines()[::2]] == [
        " lo", " br0", " veth1@if2"]


def test_link_details(sh: Sh) -> None:
    out = sh("ip -d link show veth1").splitlines()
    assert out[1] == ("    link/ether 02:00:00:00:01:01 brd ff:ff:ff:ff:ff:ff link-netns c1 "
                      "promiscuity 1  allmulti 1 minmtu 68 maxmtu 65535 ")
    assert out[2] == "    veth "
    assert out[3].startswith("    bridge_slave state forwarding priority 32 cost 2 hairpin off "
                             "guard off root_block off fastleave off learning on flood on "
                             "port_id 0x8001 port_no 0x1 designated_port 32769 designated_cost 0 "
                             "designated_bridge 8000.2:0:0:0:1:1 designated_root 8000.2:0:0:0:1:1 ")
    assert out[3].endswith("isolated off locked off " + TAIL.format(tso=524280))
    br = sh("ip -d link show br0").splitlines()[2]
    assert br.startswith("    bridge forward_delay 1500 hello_time 200 max_age 2000 ageing_time "
                         "30000 stp_state 0 priority 32768 vlan_filtering 0 bridge_id "
                         "8000.2:0:0:0:1:1 designated_root 8000.2:0:0:0:1:1 root_port 0 ")
    assert "nf_call_arptables 0 " + TAIL.format(tso=524280) in br
    sh("ip link set veth1 type bridge_slave hairpin on")
    assert "hairpin on" in sh("ip -d link show veth1")
    assert sh("ip -d link show lo").splitlines()[1] == (
        "    link/loopback 00:00:00:00:00:00 brd 00:00:00:00:00:00 promiscuity 0  allmulti 0 minmtu 0 "
        "maxmtu 0 " + TAIL.format(tso=524280))


def test_link_add_kinds_parse_into_specs(sh: Sh) -> None:
    sh("ip link add d0 type dummy")
    sh("ip link add vx0 type vxlan id 42 local 172.31.0.1 dev br0 dstport 4789 nolearning proxy")
    sh("ip link add mv0 link veth2 type macvlan mode bridge")
    sh("ip link add link veth2 name veth2.10 type vlan id 10")
    kinds = {li.name: li for li in sh.lab["host-A"].root.links()}
    assert kinds["d0"].kind == "dummy" and kinds["vx0"].kind == "vxlan"
    assert (kinds["mv0"].kind, kinds["mv0"].link) == ("macvlan", "veth2")
    assert (kinds["veth2.10"].kind, kinds["veth2.10"].link) == ("vlan", "veth2")
    d = sh("ip -d link").splitlines()
    assert "    dummy " + TAIL.format(tso=65536) in d
    assert ("    vxlan id 42 local 172.31.0.1 dev br0 srcport 0 0 dstport 4789 nolearning proxy ttl "
            "auto ageing 300 udpcsum noudp6zerocsumtx noudp6zerocsumrx " + TAIL.format(tso=524280)) in d
    assert "    macvlan mode bridge bcqueuelen 1000 usedbcqueuelen 1000 " + TAIL.format(tso=524280) in d
    assert "    vlan protocol 802.1Q id 10 <REORDER_HDR> " + TAIL.format(tso=524280) in d
    assert "<BROADCAST,NOARP> mtu 1500 qdisc noop" in sh("ip link show d0")
    assert "mtu 1450" in sh("ip link show vx0")  # 50 bytes of VXLAN headroom below br0's 1500


def test_link_add_set_del(sh: Sh) -> None:
    sh("ip link add type veth")  # unnamed: the peer registers first and takes the first free name
    assert [ln.split(":")[1].strip() for ln in sh("ip -o link show type veth").splitlines()] == [
        "veth1@if2", "veth2@if2", "veth0@veth3", "veth3@veth0"]
    sh("ip link set veth3 name vx mtu 1400 promisc on address 02:00:00:00:09:09")
    assert sh("ip link show vx") == (
        "6: vx@veth0: <BROADCAST,MULTICAST,PROMISC,M-DOWN> mtu 1400 qdisc noop state DOWN mode DEFAULT "
        "group default qlen 1000\n    link/ether 02:00:00:00:09:09 brd ff:ff:ff:ff:ff:ff\n")
    sh("ip link set vx netns c1")
    assert sh("ip -n c1 -br link show vx") == (
        "vx@if5           DOWN           02:00:00:00:09:09 <BROADCAST,MULTICAST,PROMISC> \n")
    sh("ip link del veth0")
    assert "vx" not in sh("ip -n c1 link")
    sh("ip link set veth1 nomaster")
    assert "master" not in sh("ip link show veth1")


@pytest.mark.parametrize(("line", "code", "err"), [
    ("ip link show dev nope", 1, 'Device "nope" does not exist.\n'),
    ("ip link set nope up", 1, 'Cannot find device "nope"\n'),
    ("ip link del nope", 1, 'Cannot find device "nope"\n'),
    ("ip link add br0 type bridge", 2, "RTNETLINK answers: File exists\n"),
    ("ip link add x type bogus", 2, "Error: Unknown device type.\n"),
    ("ip link set veth1 mtu 70000", 2, "Error: mtu greater than device maximum.\n"),
    ("ip link set veth1 master nope", 255, 'Error: argument "nope" is wrong: Device does not exist\n\n'),
    ("ip link set veth1 netns nope", 255, 'Error: argument "nope" is wrong: Invalid "netns" value\n\n'),
    ("ip link set veth1 mtu abc", 255, 'Error: argument "abc" is wrong: Invalid "mtu" value\n\n'),
    ("ip link del lo", 2, "RTNETLINK answers: Operation not supported\n"),
    ("ip link set veth1 master lo", 2, "RTNETLINK answers: Operation not supported\n"),
    ("ip link set veth1 address zz", 1, '"zz" is invalid lladdr.\n'),
    ("ip link set veth1 address 01:00:00:00:00:01", 2,
     "RTNETLINK answers: Cannot assign requested address\n"),
    ("ip link set veth1 promisc bogus", 1, 'Error: argument of "promisc" must be "on" or "off", not "bogus"\n'),
    ("ip link set veth1 bogus", 255, 'Error: either "dev" is duplicate, or "bogus" is a garbage.\n'),
    ("ip link set veth1 master", 255, 'Command line is not complete. Try option "help"\n'),
    ("ip link add", 1, 'Not enough information: "type" argument is required\n'),
    ("ip link del", 255, 'Not enough information: "dev" argument is required.\n'),
    ("ip link frob", 255, 'Command "frob" is unknown, try "ip link help".\n'),
    ("ip link add x2 type vxlan id 99999999", 255, 'Error: argument "99999999" is wrong: invalid id\n'),
    ("ip link add x3 type vxlan", 2, "Error: Required attributes not provided to perform the operation.\n"),
    ("ip link add x4 type macvlan mode bridge", 2, "RTNETLINK answers: Invalid argument\n"),
    ("ip link add x5 link veth1 type macvlan mode frob", 1,
     'Error: argument of "mode" must be "private", "vepa", "bridge", "passthru" or "source", not "frob"\n'),
    ("ip link add x6 link nope type macvlan", 1, 'Cannot find device "nope"\n'),
    ("ip link add x7 link veth1 type vlan", 2, "Error: 8021q: VLAN id not specified.\n"),
])
def test_link_errors(sh: Sh, line: str, code: int, err: str) -> None:
    assert sh.err(line) == (code, "", err)


def test_link_stats(sh: Sh) -> None:
    assert sh("ping -c 1 172.31.0.2").count("1 received") == 1
    li = next(x for x in sh.lab["host-A"].root.links() if x.name == "veth1")
    out = sh("ip -s link show veth1").splitlines()
    assert out[2:] == [
        "    RX:  bytes packets errors dropped  missed   mcast           ",
        f"    {li.rx_bytes:>10} {li.rx_packets:>7} {0:>6} {0:>7} {0:>7} {0:>7} ",
        "    TX:  bytes packets errors dropped carrier collsns           ",
        f"    {li.tx_bytes:>10} {li.tx_packets:>7} {0:>6} {0:>7} {0:>7} {0:>7} ",
    ]
    assert li.rx_packets >= 2 and li.tx_packets >= 2  # ARP and ICMP each way
    big = api.LinkInfo(7, "x", "veth", "02:00:00:00:00:07", 1500, True, True,
                       rx_bytes=123456789012, rx_packets=99999999)
    assert fmt.stats(big, 2) == [
        "    RX:    bytes  packets errors dropped  missed   mcast           ",
        "    123456789012 99999999      0       0       0       0 ",
        "    RX errors:   length    crc   frame    fifo overrun",
        "                        0      0       0       0       0 ",
        "    TX:    bytes  packets errors dropped carrier collsns           ",
        "               0        0      0       0       0       0 ",
        "    TX errors:  aborted   fifo  window heartbt transns",
        "                        0      0       0       0       0 ",
    ]


# ---------------------------------------------------------------- ip addr
def test_addr_formats(sh: Sh) -> None:
    c1 = "ip netns exec c1 "
    sh(c1 + "ip addr add 10.10.0.1/24 brd + dev eth0")
    sh(c1 + "ip addr add 172.31.0.3/16 dev eth0")  # same subnet: a secondary, listed after primaries
    sh(c1 + "ip addr add 10.9.9.9 dev eth0")
    head = ("2: eth0@if3: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc noqueue state UP group "
            "default qlen 1000")
    inet = ("    inet 172.31.0.2/16 scope global eth0\n" + LFT
            + "    inet 10.10.0.1/24 brd 10.10.0.255 scope global eth0\n" + LFT
            + "    inet 10.9.9.9/32 scope global eth0\n" + LFT
            + "    inet 172.31.0.3/16 scope global secondary eth0\n" + LFT)
    assert sh(c1 + "ip addr show dev eth0") == (
        head + "\n    link/ether 02:00:00:00:02:01 brd ff:ff:ff:ff:ff:ff link-netnsid 0\n" + inet)
    assert sh(c1 + "ip -4 a") == (
        "1: lo: <LOOPBACK,UP,LOWER_UP> mtu 65536 qdisc noqueue state UNKNOWN group default qlen 1000\n"
        "    inet 127.0.0.1/8 scope host lo\n" + LFT + head + " link-netnsid 0\n" + inet)
    assert sh(c1 + "ip -o addr show eth0").splitlines()[3] == (
        "2: eth0    inet 172.31.0.3/16 scope global secondary eth0\\" + LFT.rstrip("\n"))
    assert sh(c1 + "ip -br addr") == (
        "lo               UNKNOWN        127.0.0.1/8 \n"
        "eth0@if3         UP             172.31.0.2/16 10.10.0.1/24 10.9.9.9/32 172.31.0.3/16 \n")
    assert sh("ip -br addr show veth2") == "veth2@if2        DOWN           \n"
    assert sh("ip -6 addr") == ""  # IPv4 only
    r = sh.run(c1 + "ip addr del 10.9.9.9 dev eth0")
    assert r.exit_code == 0 and r.stderr.startswith(
        "Warning: Executing wildcard deletion to stay compatible with old scripts.\n"
        "         Explicitly specify the prefix length (10.9.9.9/32) to avoid this warning.\n")
    sh(c1 + "ip addr del 172.31.0.2/16 dev eth0")  # the primary takes its secondary along
    assert sh(c1 + "ip -br addr show eth0") == "eth0@if3         UP             10.10.0.1/24 \n"
    sh(c1 + "ip addr flush dev eth0")
    assert sh(c1 + "ip -br -4 addr") == "lo               UNKNOWN        127.0.0.1/8 \n"


@pytest.mark.parametrize(("line", "code", "err"), [
    ("ip addr add 172.31.0.1/16 dev br0", 2, "Error: ipv4: Address already assigned.\n"),
    ("ip addr del 1.2.3.4/24 dev br0", 2, "Error: ipv4: Address not found.\n"),
    ("ip addr add 1.2.3.4/24 dev nope", 1, 'Cannot find device "nope"\n'),
    ("ip addr add bogus dev br0", 1, 'Error: any valid prefix is expected rather than "bogus".\n'),
    ("ip addr add 1.2.3.4/33 dev br0", 1, 'Error: any valid prefix is expected rather than "1.2.3.4/33".\n'),
    ("ip addr add 1.2.3.4/24", 1, 'Not enough information: "dev" argument is required.\n'),
    ("ip addr show nope", 1, 'Device "nope" does not exist.\n'),
    ("ip addr flush", 1, "Flush requires arguments.\n"),
    ("ip addr frob", 255, 'Command "frob" is unknown, try "ip address help".\n'),
])
def test_addr_errors(sh: Sh, line: str, code: int, err: str) -> None:
    assert sh.err(line) == (code, "", err)


# ---------------------------------------------------------------- ip route
def test_route_show_add_del(sh: Sh) -> None:
    c1 = "ip netns exec c1 "
    for r in ("10.1.0.0/16 via 172.31.0.1 metric 100", "10.2.0.0/16 dev eth0 src 172.31.0.2 mtu 1400",
              "blackhole 10.3.0.0/16", "unreachable 10.4.0.0/16", "prohibit 10.7.0.0/16",
              "10.5.0.0/16 via 172.31.0.1 proto static", "10.6.0.5 dev eth0 scope link proto 4",
              "10.0.0.0/8 via 172.31.0.1", "10.0.0.0/24 via 172.31.0.1",
              "10.0.0.0/16 via 172.31.0.1 metric 5", "10.0.0.0/16 via 172.31.0.1"):
        sh(c1 + "ip route add " + r)
    sh(c1 + "ip route del 10.0.0.0/16")  # the first match only: metric 5 stays
    assert sh(c1 + "ip route") == (
        "default via 172.31.0.1 dev eth0 \n"
        "10.0.0.0/24 via 172.31.0.1 dev eth0 \n"
        "10.0.0.0/16 via 172.31.0.1 dev eth0 metric 5 \n"
        "10.0.0.0/8 via 172.31.0.1 dev eth0 \n"
        "10.1.0.0/16 via 172.31.0.1 dev eth0 metric 100 \n"
        "10.2.0.0/16 dev eth0 scope link src 172.31.0.2 mtu 1400 \n"
        "blackhole 10.3.0.0/16 \n"
        "unreachable 10.4.0.0/16 \n"
        "10.5.0.0/16 via 172.31.0.1 dev eth0 proto static \n"
        "10.6.0.5 dev eth0 proto static scope link \n"
        "prohibit 10.7.0.0/16 \n"
        "172.31.0.0/16 dev eth0 proto kernel scope link src 172.31.0.2 \n")
    assert sh(c1 + "ip route show dev eth0 proto kernel") == "172.31.0.0/16 scope link src 172.31.0.2 \n"
    assert sh(c1 + "ip route show 10.0.0.0/16") == "10.0.0.0/16 via 172.31.0.1 dev eth0 metric 5 \n"
    sh(c1 + "ip route replace 10.0.0.0/16 dev eth0 metric 5")
    sh(c1 + "ip route change 10.0.0.0/16 via 172.31.0.1 metric 5")
    sh(c1 + "ip route flush proto static")
    sh(c1 + "ip route flush 10.0.0.0/8")
    assert "proto static" not in sh(c1 + "ip route") and "10.0.0.0/8" not in sh(c1 + "ip route")
    assert sh(c1 + "ip route show table local") == (
        "local 127.0.0.0/8 dev lo proto kernel scope host src 127.0.0.1 \n"
        "local 127.0.0.1 dev lo proto kernel scope host src 127.0.0.1 \n"
        "broadcast 127.255.255.255 dev lo proto kernel scope link src 127.0.0.1 \n"
        "local 172.31.0.2 dev eth0 proto kernel scope host src 172.31.0.2 \n"
        "broadcast 172.31.255.255 dev eth0 proto kernel scope link src 172.31.0.2 \n")
    assert "local 172.31.0.2 dev eth0 table local proto kernel" in sh(c1 + "ip route show table all")


def test_route_get_and_linkdown(sh: Sh) -> None:
    c1 = "ip netns exec c1 "
    sh(c1 + "ip route add 10.2.0.0/16 dev eth0 mtu 1400")
    assert sh(c1 + "ip route get 8.8.8.8") == (
        "8.8.8.8 via 172.31.0.1 dev eth0 src 172.31.0.2 uid 0 \n    cache \n")
    assert sh(c1 + "ip route get 10.2.0.1") == (
        "10.2.0.1 dev eth0 src 172.31.0.2 uid 0 \n    cache mtu 1400 \n")
    assert sh(c1 + "ip route get 172.31.0.2") == (
        "local 172.31.0.2 dev lo src 172.31.0.2 uid 0 \n    cache <local> \n")
    assert sh(c1 + "ip route get 127.0.0.5") == (
        "local 127.0.0.5 dev lo src 127.0.0.1 uid 0 \n    cache <local> \n")
    assert sh(c1 + "ip route get 172.31.255.255") == (
        "broadcast 172.31.255.255 dev eth0 src 172.31.0.2 uid 0 \n    cache <local,brd> \n")
    sh("ip link set veth1 down")  # the container's eth0 stays up without carrier
    assert sh(c1 + "ip route show 172.31.0.0/16") == (
        "172.31.0.0/16 dev eth0 proto kernel scope link src 172.31.0.2 linkdown \n")


@pytest.mark.parametrize(("line", "code", "err"), [
    ("ip route add default via 172.31.0.1", 2, "RTNETLINK answers: File exists\n"),
    ("ip route add 10.8.0.0/16 via 1.2.3.4", 2, "Error: Nexthop has invalid gateway.\n"),
    ("ip route add 10.8.0.0/16 dev nope", 1, 'Cannot find device "nope"\n'),
    ("ip route del 10.9.0.0/16", 2, "RTNETLINK answers: No such process\n"),
    ("ip route add 10.8.0.1/16 dev eth0", 2, "Error: Invalid prefix for given prefix length.\n"),
    ("ip route add bogus dev eth0", 1, 'Error: any valid prefix is expected rather than "bogus".\n'),
    ("ip route get bogus", 1, 'Error: any valid prefix is expected rather than "bogus".\n'),
    ("ip route get 10.3.0.1", 2, "RTNETLINK answers: Invalid argument\n"),
    ("ip route get 10.4.0.1", 2, "RTNETLINK answers: No route to host\n"),
    ("ip route get 10.7.0.1", 2, "RTNETLINK answers: Permission denied\n"),
    ("ip route show table nope", 255, 'Error: argument "nope" is wrong: table id value is invalid\n\n'),
    ("ip route flush", 1, '"ip route flush" requires arguments.\n'),
    ("ip route change 10.0.0.0/12 via 172.31.0.1", 2, "RTNETLINK answers: No such file or directory\n"),
])
def test_route_errors(sh: Sh, line: str, code: int, err: str) -> None:
    for r in ("blackhole 10.3.0.0/16", "unreachable 10.4.0.0/16", "prohibit 10.7.0.0/16"):
        sh("ip netns exec c1 ip route add " + r)
    assert sh.err("ip netns exec c1 " + line) == (code, "", err)


def test_route_get_unreachable_network(sh: Sh) -> None:
    assert sh.err("ip route get 8.8.8.8") == (2, "", "RTNETLINK answers: Network is unreachable\n")


# ---------------------------------------------------------------- ip neigh
def test_neigh(sh: Sh) -> None:
    sh("ip netns exec c1 ping -c 1 172.31.0.1")
    assert sh("ip netns exec c1 ip neigh") == "172.31.0.1 dev eth0 lladdr 02:00:00:00:01:01 REACHABLE \n"
    sh("ip neigh add 172.31.0.50 lladdr 02:00:00:00:00:50 dev br0")
    sh("ip neigh add 172.31.0.51 lladdr 02:00:00:00:00:51 dev br0 nud noarp")
    sh("ip neigh add 172.31.0.53 lladdr 02:00:00:00:00:53 dev br0 nud stale")
    sh("ip neigh replace 172.31.0.50 lladdr 02:00:00:00:00:55 dev br0")
    lines = sh("ip neigh show dev br0").splitlines()
    assert "172.31.0.50 lladdr 02:00:00:00:00:55 PERMANENT " in lines
    assert "172.31.0.53 lladdr 02:00:00:00:00:53 STALE " in lines
    assert not [ln for ln in lines if "172.31.0.51" in ln]  # NOARP entries need `nud all`
    assert "172.31.0.51 dev br0 lladdr 02:00:00:00:00:51 NOARP " in sh("ip neigh show nud all")
    assert sh("ip -br neigh show 172.31.0.53") == (
        "172.31.0.53                             br0              02:00:00:00:00:53\n")
    r = sh.run("ip netns exec c1 ping -c 1 -W 5 172.31.0.9")
    assert r.exit_code == 1
    assert "172.31.0.9 dev eth0 FAILED \n" in sh("ip netns exec c1 ip neigh")
    sh("ip neigh flush dev br0")  # PERMANENT and NOARP entries survive a flush
    assert [ln.split()[0] for ln in sh("ip neigh show nud all").splitlines()] == [
        "172.31.0.50", "172.31.0.51"]
    sh("ip neigh del 172.31.0.50 dev br0")


@pytest.mark.parametrize(("line", "code", "err"), [
    ("ip neigh add 172.31.0.50 lladdr 02:00:00:00:00:50 dev br0", 2, "RTNETLINK answers: File exists\n"),
    ("ip neigh del 172.31.0.99 dev br0", 2, "RTNETLINK answers: No such file or directory\n"),
    ("ip neigh change 172.31.0.99 lladdr 02:00:00:00:00:01 dev br0", 2,
     "RTNETLINK answers: No such file or directory\n"),
    ("ip neigh add 172.31.0.60 lladdr zz dev br0", 1, '"zz" is invalid lladdr.\n'),
    ("ip neigh add 172.31.0.61 dev br0", 2, "Error: No link layer address given.\n"),
    ("ip neigh add 172.31.0.62 lladdr 02:00:00:00:00:01", 255,
     "Device and destination are required arguments.\n"),
    ("ip neigh add 172.31.0.63 lladdr 02:00:00:00:00:63 dev br0 nud bogus", 255,
     'Error: argument "bogus" is wrong: nud state is bad\n'),
    ("ip neigh show dev nope", 1, 'Cannot find device "nope"\n'),
    ("ip neigh flush", 1, "Flush requires arguments.\n"),
])
def test_neigh_errors(sh: Sh, line: str, code: int, err: str) -> None:
    sh("ip neigh add 172.31.0.50 lladdr 02:00:00:00:00:50 dev br0")
    assert sh.err(line) == (code, "", err)


# ---------------------------------------------------------------- bridge and brctl
def test_bridge_fdb(sh: Sh) -> None:
    sh("ip netns exec c1 ping -c 1 172.31.0.1")
    sh("bridge fdb add 02:00:00:00:00:99 dev veth1 master static")
    sh("bridge fdb add 02:00:00:00:00:98 dev veth1 master")
    sh("bridge fdb add 02:00:00:00:00:97 dev veth1")  # no master/self: the port's own list
    assert sh("bridge fdb show") == (
        "33:33:00:00:00:01 dev br0 self permanent\n"
        "01:00:5e:00:00:6a dev br0 self permanent\n"
        "33:33:00:00:00:6a dev br0 self permanent\n"
        "01:00:5e:00:00:01 dev br0 self permanent\n"
        "02:00:00:00:00:98 dev veth1 master br0 permanent\n"
        "02:00:00:00:00:99 dev veth1 master br0 static\n"
        "02:00:00:00:02:01 dev veth1 master br0 \n"
        "02:00:00:00:01:01 dev veth1 master br0 permanent\n"
        "02:00:00:00:00:97 dev veth1 self permanent\n"
        "33:33:00:00:00:01 dev veth1 self permanent\n"
        "01:00:5e:00:00:01 dev veth1 self permanent\n"
        "33:33:00:00:00:01 dev veth2 self permanent\n")
    assert sh("bridge fdb show dev veth1").splitlines()[:2] == [
        "02:00:00:00:00:98 master br0 permanent", "02:00:00:00:00:99 master br0 static"]
    assert "veth2" not in sh("bridge fdb show br br0")
    assert "promiscuity 2 " in sh("ip -d link show veth1")  # bridge port + a unicast list
    sh("bridge fdb del 02:00:00:00:00:98 dev veth1 master")
    sh("bridge fdb del 02:00:00:00:00:97 dev veth1 self")
    assert "00:98" not in sh("bridge fdb show") and "00:97" not in sh("bridge fdb show")
    # a macvlan child's MAC sits on its lower device's unicast list
    sh("ip link add mv0 link veth2 type macvlan mode bridge")
    sh("ip link set mv0 address 02:00:00:00:04:01")
    sh("ip link set mv0 up")
    assert sh("bridge fdb show dev veth2") == "02:00:00:00:04:01 self permanent\n33:33:00:00:00:01 self permanent\n01:00:5e:00:00:01 self permanent\n"


def test_bridge_fdb_vxlan_entries(sh: Sh) -> None:
    sh("ip link add vx0 type vxlan id 42 dstport 4789")
    sh("bridge fdb add 00:00:00:00:00:00 dev vx0 dst 10.0.0.2")
    sh("bridge fdb append 00:00:00:00:00:00 dev vx0 dst 10.0.0.3")
    assert sh("bridge fdb show dev vx0") == (
        "00:00:00:00:00:00 dst 10.0.0.2 self permanent\n00:00:00:00:00:00 dst 10.0.0.3 self permanent\n")


@pytest.mark.parametrize(("line", "err"), [
    ("bridge fdb show dev nope", 'Cannot find device "nope"\n'),
    ("bridge fdb show br nope", 'Cannot find bridge device "nope"\n'),
    ("bridge fdb add 02:00:00:00:01:01 dev veth1 master", "RTNETLINK answers: File exists\n"),
    ("bridge fdb del 02:00:00:00:00:55 dev veth1 master", "RTNETLINK answers: No such file or directory\n"),
    ("bridge fdb add zz dev veth1 master", "Invalid mac address zz\n"),
    ("bridge fdb add 02:00:00:00:00:01", "Device and address are required arguments.\n"),
    ("bridge fdb frob", 'Command "frob" is unknown, try "bridge fdb help".\n'),
    ("bridge link show dev nope", 'Cannot find device "nope"\n'),
    ("bridge frob", 'Object "frob" is unknown, try "bridge help".\n'),
])
def test_bridge_errors_exit_255(sh: Sh, line: str, err: str) -> None:
    assert sh.err(line) == (255, "", err)


def test_bridge_link(sh: Sh) -> None:
    # IFLA_LINK (the peer's index, 2) is resolved in this namespace: br0 has index 2 here
    assert sh("bridge -d link show") == (
        "3: veth1@br0: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 master br0 state forwarding "
        "priority 32 cost 2 \n"
        "    hairpin off guard off root_block off fastleave off learning on flood on mcast_flood on "
        "bcast_flood on mcast_router 1 mcast_to_unicast off neigh_suppress off vlan_tunnel off "
        "isolated off locked off \n")
    sh("bridge link set dev veth1 hairpin on")
    assert "hairpin on" in sh("bridge -d link")


def test_brctl(sh: Sh) -> None:
    sh("brctl addbr br1")
    sh("ip link add va type veth peer name vb")
    sh("brctl addif br0 va")
    assert sh("brctl show") == (
        "bridge name\tbridge id\t\tSTP enabled\tinterfaces\n"
        "br0\t\t8000.020000000101\tno\t\tva\n\t\t\t\t\t\t\tveth1\n"
        "br1\t\t8000.000000000000\tno\t\t\n")
    sh("ip netns exec c1 ping -c 1 172.31.0.1")
    sh.lab.wait(12.5)
    assert sh("brctl showmacs br0").splitlines()[0] == "port no\tmac addr\t\tis local?\tageing timer"
    rows = sh("brctl showmacs br0").splitlines()[1:]
    assert "  1\t02:00:00:00:01:01\tyes\t\t   0.00" in rows
    # c1 answered the DELAY probe (unicast ARP) at t=5 s, which refreshed the entry
    assert any(r.startswith("  1\t02:00:00:00:02:01\tno\t\t   7.5") for r in rows)
    assert [r.split("\t")[1] for r in rows] == sorted(r.split("\t")[1] for r in rows)
    sh("brctl delif br0 va")
    sh("brctl delbr br1")
    assert "br1" not in sh("brctl show")


@pytest.mark.parametrize(("line", "out", "err"), [
    ("brctl show nope", "", "bridge nope does not exist!\n"),
    ("brctl addbr br0", "", "device br0 already exists; can't create bridge with the same name\n"),
    ("brctl delbr nope", "", "bridge nope doesn't exist; can't delete it\n"),
    ("brctl delbr br0", "", "bridge br0 is still up; can't delete it\n"),
    ("brctl addif nope veth2", "", "bridge nope does not exist!\n"),
    ("brctl addif br0 nope", "", "interface nope does not exist!\n"),
    ("brctl addif br0 veth1", "", "device veth1 is already a member of a bridge; can't add it to bridge br0.\n"),
    ("brctl delif br0 veth2", "", "device veth2 is not a port of br0\n"),
    ("brctl showmacs nope", "", "read of forward table failed: No such device\n"),
    ("brctl addbr", "Incorrect number of arguments for command\nUsage: brctl addbr <bridge>\t\tadd bridge\n", ""),
])
def test_brctl_errors(sh: Sh, line: str, out: str, err: str) -> None:
    assert sh.err(line) == (1, out, err)


def test_brctl_usage() -> None:
    lab = Lab(seed=0)
    lab.add_host("host-A", docker=False)
    r = lab.run("host-A", "brctl frob")
    assert (r.exit_code, r.stderr) == (1, "never heard of command [frob]\n")
    assert r.stdout.splitlines()[:3] == [
        "Usage: brctl [commands]", "commands:", "\taddbr     \t<bridge>\t\tadd bridge"]
    assert "\tsetbridgeprio\t<bridge> <prio>\t\tset bridge priority" in r.stdout.splitlines()


# ---------------------------------------------------------------- sysctl
def test_sysctl(sh: Sh) -> None:
    assert sh("sysctl net.ipv4.ip_forward") == "net.ipv4.ip_forward = 0\n"
    assert sh("sysctl -w net.ipv4.ip_forward=1") == "net.ipv4.ip_forward = 1\n"
    assert sh("sysctl -n net/ipv4/ip_forward") == "1\n"
    assert sh("sysctl net.ipv4.conf.veth1.forwarding=0") == "net.ipv4.conf.veth1.forwarding = 0\n"
    assert sh("sysctl -q -w net.ipv4.conf.br0.proxy_arp=1") == ""
    assert sh.lab["host-A"].root.sysctl_get("net.ipv4.conf.br0.proxy_arp") == "1"
    assert sh("sysctl net.ipv4.ip_local_port_range") == "net.ipv4.ip_local_port_range = 32768\t60999\n"
    # a dot in a device name is a '/' in the dotted notation (and the other way round)
    sh("ip link add link veth2 name veth2.10 type vlan id 10")
    assert sh("sysctl -w net.ipv4.conf.veth2/10.proxy_arp=1") == "net.ipv4.conf.veth2/10.proxy_arp = 1\n"
    assert sh("sysctl net/ipv4/conf/veth2.10/proxy_arp") == "net.ipv4.conf.veth2/10.proxy_arp = 1\n"
    assert sh.err("sysctl net.ipv4.conf.veth2.10.proxy_arp") == (
        1, "", "sysctl: cannot stat /proc/sys/net/ipv4/conf/veth2/10/proxy_arp: No such file or directory\n")
    assert "net.ipv4.conf.veth2/10.proxy_arp = 1\n" in sh("sysctl -a | grep proxy_arp")
    tree = sh("sysctl net.ipv4.conf.br0").splitlines()
    assert tree == sorted(tree) and "net.ipv4.conf.br0.proxy_arp = 1" in tree
    assert sh("sysctl -a").splitlines()[0] == "net.bridge.bridge-nf-call-arptables = 0"


@pytest.mark.parametrize(("line", "code", "out", "err"), [
    ("sysctl net.ipv4.foo", 1, "", "sysctl: cannot stat /proc/sys/net/ipv4/foo: No such file or directory\n"),
    ("sysctl -w net.ipv4.foo=1", 1, "", "sysctl: cannot stat /proc/sys/net/ipv4/foo: No such file or directory\n"),
    ("sysctl -e net.ipv4.foo", 0, "", ""),
    ("sysctl -w net.ipv4.ip_forward", 1, "", "sysctl: command line(0): invalid syntax, continuing...\n"),
    ("sysctl -w", 1, "", "sysctl: no variables specified\nTry `sysctl --help' for more information.\n"),
    ("sysctl -w net.ipv4.ip_forward=1 net.ipv4.foo=1", 1, "net.ipv4.ip_forward = 1\n",
     "sysctl: cannot stat /proc/sys/net/ipv4/foo: No such file or directory\n"),
])
def test_sysctl_errors(sh: Sh, line: str, code: int, out: str, err: str) -> None:
    assert sh.err(line) == (code, out, err)


def test_ip_n_runs_in_the_namespace(sh: Sh) -> None:
    assert sh("ip -n c1 -br addr show eth0") == "eth0@if3         UP             172.31.0.2/16 \n"
    assert sh.err("ip -n nope link") == (
        255, "", 'Cannot open network namespace "nope": No such file or directory\n')
