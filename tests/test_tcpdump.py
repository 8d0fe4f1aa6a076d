"""tcpdump: live capture through device taps, tcpdump's line format, pcap files, filters."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from scapy.utils import rdpcap

from cnmsim.apps.bpf import FilterError, compile_filter
from cnmsim.lab import Lab

TS = r"\d\d:\d\d:\d\d\.\d{6}"
HEADER = ("tcpdump: verbose output suppressed, use -v[v]... for full protocol decode\n"
          "listening on eth0, link-type EN10MB (Ethernet), snapshot length 262144 bytes\n")


def two_hosts(seed: int = 0) -> Lab:
    lab = Lab(seed=seed)
    lab.add_host("A", address="10.0.0.2/24", docker=False)
    lab.add_host("B", address="10.0.0.3/24", docker=False)
    return lab


def test_capture_count_and_format() -> None:
    lab = two_hosts()
    assert lab.run("A", "ping -c 100 10.0.0.3 &").exit_code == 0
    lab.wait(0.5)
    r = lab.run("A", "tcpdump -c 4 -i eth0")
    assert r.exit_code == 0
    lines = r.stdout.splitlines()
    assert len(lines) == 4
    for line in lines:
        assert re.fullmatch(rf"{TS} IP 10\.0\.0\.[23] > 10\.0\.0\.[23]: ICMP echo (request|reply), id \d+, seq \d+, length 64", line), line
    assert r.stderr == HEADER + "4 packets captured\n4 packets received by filter\n0 packets dropped by kernel\n"
    # requests every second, replies right after: the clock is the simulated one
    t = [float(x[6:]) + 60 * int(x[3:5]) for x in (line.split()[0] for line in lines)]
    assert t == sorted(t) and 1.0 <= t[-1] - t[0] <= 2.0
    assert "echo request" in lines[0] and "echo reply" in lines[1]


def test_link_level_and_any_device() -> None:
    lab = two_hosts()
    lab.run("A", "ping -c 100 10.0.0.3 &")
    lab.wait(0.5)
    mac_a, mac_b = lab["A"].nics[0].mac, lab["B"].nics[0].mac
    r = lab.run("A", "tcpdump -e -n -c 1 -i eth0 icmp")
    assert re.fullmatch(rf"{TS} {mac_a} > {mac_b}, ethertype IPv4 \(0x0800\), length 98: 10\.0\.0\.2 > 10\.0\.0\.3: "
                        r"ICMP echo request, id \d+, seq \d+, length 64\n", r.stdout)
    r = lab.run("A", "tcpdump -n -c 2 -i any icmp")
    assert re.fullmatch(rf"{TS} eth0  In  IP 10\.0\.0\.3 > 10\.0\.0\.2: ICMP echo reply, .*\n"
                        rf"{TS} eth0  Out IP 10\.0\.0\.2 > 10\.0\.0\.3: ICMP echo request, .*\n", r.stdout)
    assert r.stderr.startswith("tcpdump: data link type LINUX_SLL2\n")
    assert "listening on any, link-type LINUX_SLL2 (Linux cooked v2), snapshot length 262144 bytes" in r.stderr


def test_filters_select_packets() -> None:
    lab = two_hosts()
    lab.run("B", "nc -l -k 80 &")
    lab.run("A", "ping -c 100 10.0.0.3 &")
    lab.wait(0.5)
    r = lab.run("A", "tcpdump -n -c 2 -i eth0 icmp and src host 10.0.0.3")
    assert all("IP 10.0.0.3 > 10.0.0.2: ICMP echo reply" in x for x in r.stdout.splitlines())
    lab.run("A", "tcpdump -n -c 3 -i eth0 'tcp port 80 and (tcp or udp)' &")
    assert lab.run("A", "nc -z 10.0.0.3 80").exit_code == 0
    lab.wait(1)
    job = lab.jobs[-1]
    assert job.done and job.exit_code == 0
    lines = job.stdout.splitlines()
    assert re.search(r"IP 10\.0\.0\.2\.\d+ > 10\.0\.0\.3\.80: Flags \[S\], seq \d+, win 64240, "
                     r"options \[mss 1460,sackOK,TS val \d+ ecr 0,nop,wscale 7\], length 0", lines[0])
    assert re.search(r"IP 10\.0\.0\.3\.80 > 10\.0\.0\.2\.\d+: Flags \[S\.\], seq \d+, ack \d+, win 65160", lines[1])
    # relative sequence numbers from the first ACK-bearing packet on, as tcpdump prints them
    assert re.search(r"Flags \[\.\], ack 1, win 502, options \[nop,nop,TS val \d+ ecr \d+\], length 0$", lines[2])
    r = lab.run("A", "tcpdump -i eth0 hst 1")
    assert (r.exit_code, r.stderr) == (1, "tcpdump: can't parse filter expression: syntax error\n")


def test_unknown_interface() -> None:
    lab = two_hosts()
    r = lab.run("A", "tcpdump -i eth9")
    assert (r.exit_code, r.stdout, r.stderr) == (1, "", "tcpdump: eth9: No such device exists\n(No such device exists)\n")


def test_ctrl_c_prints_the_counts() -> None:
    lab = two_hosts()
    lab.interrupt_after = 5.0
    r = lab.run("A", "tcpdump -n -i eth0 udp")  # nothing matches: it waits until Ctrl-C
    assert r.exit_code == 0  # tcpdump's SIGINT handler exits cleanly
    assert r.stdout == "^C\n"
    assert r.stderr.endswith("0 packets captured\n0 packets received by filter\n0 packets dropped by kernel\n")


def test_write_pcap_and_read_it_back(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    lab = two_hosts()
    lab.run("A", "ping -c 100 10.0.0.3 &")
    lab.wait(0.5)
    r = lab.run("A", "tcpdump -c 6 -w cap.pcap -i eth0")
    assert r.stdout == ""
    assert r.stderr.startswith("tcpdump: listening on eth0, link-type EN10MB (Ethernet), snapshot length 262144 bytes\n")
    pkts = rdpcap(str(tmp_path / "cap.pcap"))
    assert len(pkts) == 6
    assert float(pkts[-1].time) - float(pkts[0].time) < 3.5  # simulated seconds, not wall time
    r = lab.run("A", "tcpdump -n -r cap.pcap icmp")
    assert r.stderr == "reading from file cap.pcap, link-type EN10MB (Ethernet), snapshot length 262144\n"
    assert len(r.stdout.splitlines()) == 6 and "ICMP echo request" in r.stdout
    assert lab.run("A", "tcpdump -r nosuch.pcap").stderr == "tcpdump: nosuch.pcap: No such file or directory\n"
    if shutil.which("tshark") is None:
        pytest.skip("tshark is not installed")
    out = subprocess.run(["tshark", "-r", str(tmp_path / "cap.pcap")], capture_output=True, text=True)
    assert out.returncode == 0
    assert out.stdout.count("Echo (ping) request") == 3 and out.stdout.count("Echo (ping) reply") == 3


def test_any_pcap_is_linux_cooked_v2(tmp_path: Path) -> None:
    lab = two_hosts()
    lab.run("A", "ping -c 100 10.0.0.3 &")
    lab.wait(0.5)
    path = tmp_path / "any.pcap"
    assert lab.run("A", f"tcpdump -c 2 -i any -w {path} icmp").exit_code == 0
    r = lab.run("A", f"tcpdump -n -r {path}")
    assert r.stderr.startswith(f"reading from file {path}, link-type LINUX_SLL2 (Linux cooked v2)")
    assert re.search(r"eth0  (In |Out) IP 10\.0\.0\.[23] > 10\.0\.0\.[23]: ICMP echo", r.stdout)
    if shutil.which("tshark") is None:
        pytest.skip("tshark is not installed")
    out = subprocess.run(["tshark", "-r", str(path)], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.count("Echo (ping)") == 2


@pytest.mark.parametrize("expr, hits", [
    ("icmp", [0, 1]), ("arp", [2]), ("tcp", [3]), ("udp", [4]), ("ip", [0, 1, 3, 4]),
    ("host 10.0.0.3", [0, 1, 2, 3]), ("src host 10.0.0.3", [1]), ("dst 10.0.0.3", [0, 2, 3]),
    ("net 10.0.0.0/24", [0, 1, 2, 3]), ("net 192.168", [4]), ("port 80", [3]), ("dst port 53", [4]),
    ("not icmp", [2, 3, 4, 5]), ("! arp && (tcp || udp)", [3, 4]), ("host 10.0.0.2 or 192.168.0.1", [0, 1, 2, 3, 4]),
    ("tcp port 53", []), ("udp port domain", [4]), ("vlan", [5]), ("vlan 10 and icmp", [5]), ("icmp and not vlan", [0, 1]),
])
def test_filter_expressions(expr: str, hits: list[int]) -> None:
    from scapy.layers.dns import DNS, DNSQR
    from scapy.layers.inet import ICMP, IP, TCP, UDP
    from scapy.layers.l2 import ARP, Dot1Q, Ether

    e = Ether(src="02:00:00:00:00:02", dst="02:00:00:00:00:03")
    pkts = [e / IP(src="10.0.0.2", dst="10.0.0.3") / ICMP(),
            e / IP(src="10.0.0.3", dst="10.0.0.2") / ICMP(type=0),
            e / ARP(psrc="10.0.0.2", pdst="10.0.0.3"),
            e / IP(src="10.0.0.2", dst="10.0.0.3") / TCP(sport=40000, dport=80),
            e / IP(src="192.168.0.2", dst="192.168.0.1") / UDP(sport=40000, dport=53) / DNS(qd=DNSQR(qname="a.b")),
            e / Dot1Q(vlan=10) / IP(src="10.1.0.2", dst="10.1.0.3") / ICMP()]
    match = compile_filter(expr)
    assert [i for i, p in enumerate(pkts) if match(p)] == hits


def test_filter_errors() -> None:
    for bad, msg in [("hst 1", "syntax error"), ("(icmp", "syntax error"), ("port nosuch", "unknown port 'nosuch'"),
                     ("host nosuch", "unknown host 'nosuch'")]:
        with pytest.raises(FilterError) as e:
            compile_filter(bad)
        assert str(e.value) == msg
