"""The IPVS test topology: a director namespace with a VIP in front of three real servers.

    client 192.168.0.2/.3 --veth-- eth1 192.168.0.1 + VIP 192.168.0.100  [dir]  eth0 10.0.0.1 --br0--
        rs1 10.0.0.2, rs2 10.0.0.3, rs3 10.0.0.4   (default route via 10.0.0.1: NAT replies come back)
Each real server runs nginx whose page names it, and a UDP service on 9000 that answers its name.
Built with the kernel api verbs; the tests drive it with ipvsadm, curl, nc and sockets.
"""

from __future__ import annotations

import re
from collections.abc import Generator
from typing import Any

from cnmsim import Lab
from cnmsim.apps.httpd import serve_nginx
from cnmsim.kernel import api
from cnmsim.kernel.sim.ipv4 import OutputError

VIP = "192.168.0.100"
RS = ("10.0.0.2", "10.0.0.3", "10.0.0.4")
SVC = api.IpvsService("TCP", VIP, 80, scheduler="rr")


def udp_name_server(lab: Lab, ns: Any, name: str, port: int = 9000, delay: float = 0.0) -> None:
    """Answer every datagram with the server's name (after `delay` seconds)."""
    sock = ns.sockets.udp_socket()
    sock.bind("0.0.0.0", port)

    def serve() -> Generator[Any, Any, None]:
        while True:
            got = yield from sock.recvfrom()
            if isinstance(got, tuple):
                if delay:
                    yield lab.env.timeout(delay)
                sock.sendto(f"{name}\n".encode(), got[1])

    lab.env.process(serve())


def director_lab(seed: int = 0) -> Lab:
    lab = Lab(seed=seed)
    h = lab.add_host("h", docker=False)
    k, root = h.kernel, h.root
    root.link_add(api.Bridge("br0"))
    root.link_set("br0", up=True)
    d, c = k.netns_add("dir"), k.netns_add("client")
    d.link_add(api.Veth("eth1", peer="eth0", peer_netns="client"))
    root.link_add(api.Veth("vdir", peer="eth0", peer_netns="dir"))
    root.link_set("vdir", master="br0", up=True)
    for ns, dev, addrs in ((d, "eth1", ("192.168.0.1/24", f"{VIP}/32")), (d, "eth0", ("10.0.0.1/24",)),
                           (c, "eth0", ("192.168.0.2/24", "192.168.0.3/24"))):
        for a in addrs:
            ns.addr_add(dev, a)
        ns.link_set(dev, up=True)
        ns.link_set("lo", up=True)
    c.route_add(api.Route(dst="default", via="192.168.0.1"))
    d.sysctl_set("net.ipv4.ip_forward", "1")
    for i, addr in enumerate(RS, 1):
        ns = k.netns_add(f"rs{i}")
        root.link_add(api.Veth(f"vrs{i}", peer="eth0", peer_netns=f"rs{i}"))
        root.link_set(f"vrs{i}", master="br0", up=True)
        ns.addr_add("eth0", f"{addr}/24")
        ns.link_set("eth0", up=True)
        ns.link_set("lo", up=True)
        ns.route_add(api.Route(dst="default", via="10.0.0.1"))
        serve_nginx(h.place.in_ns(ns), index=f"hello from rs{i}\n")
        udp_name_server(lab, ns, f"rs{i}")
    return lab


def sh(lab: Lab, ns: str, line: str):  # noqa: ANN201
    return lab.run("h", f"ip netns exec {ns} {line}")


def ipvsadm(lab: Lab, args: str, ok: bool = True) -> str:
    r = sh(lab, "dir", f"ipvsadm {args}")
    if ok:
        assert r.exit_code == 0, r.stderr
    return r.stdout


def balanced(lab: Lab, sched: str = "rr", weights: tuple[int, ...] = (1, 1, 1), extra: str = "") -> None:
    ipvsadm(lab, f"-A -t {VIP}:80 -s {sched}{extra}")
    for addr, w in zip(RS, weights, strict=True):
        ipvsadm(lab, f"-a -t {VIP}:80 -r {addr}:80 -m -w {w}")


def who(lab: Lab) -> str:
    """Which real server answers a fresh connection."""
    r = sh(lab, "client", f"curl -s http://{VIP}/")
    m = re.search(r"hello from (rs\d)", r.stdout)
    assert m, (r.stdout, r.stderr)
    return m.group(1)


def connect_from(lab: Lab, src: str) -> str:
    """nc -z from the client address src; the real server its IPVS entry points to."""
    r = sh(lab, "client", f"nc -z -s {src} {VIP} 80")
    assert r.exit_code == 0, r.stderr
    daddr = [c.daddr for c in dir_ns(lab).ipvs_conns() if c.caddr == src and not c.template][-1]
    return f"rs{RS.index(daddr) + 1}"


def dir_ns(lab: Lab) -> Any:
    return lab["h"].kernel.netns("dir")


class Session:
    """One client TCP connection kept open, asking nginx again and again (HTTP keep-alive)."""

    def __init__(self, lab: Lab) -> None:
        self.lab = lab
        self.sock = lab["h"].kernel.netns("client").sockets.tcp.socket()
        lab.env.process(self.sock.connect(VIP, 80, timeout=5))
        lab.wait(0.5)

    def ask(self, timeout: float = 3.0) -> str:
        """The real server's name, or the error (an errno name, or "timeout")."""
        out: dict[str, str] = {}

        def go() -> Generator[Any, Any, None]:
            buf = b""
            try:
                self.sock.send(b"GET / HTTP/1.1\r\nHost: vip\r\n\r\n")
                while not re.search(rb"hello from rs\d\n", buf):
                    chunk = yield from self.sock.recv(65536, timeout=timeout)
                    if not chunk:
                        out["r"] = "timeout" if chunk is None else "EOF"
                        return
                    buf += chunk
            except OutputError as e:
                out["r"] = e.errno_name
                return
            out["r"] = re.search(rb"hello from (rs\d)", buf).group(1).decode()  # type: ignore[union-attr]

        self.lab.env.process(go())
        self.lab.wait(timeout + 1)
        return out.get("r", "pending")


def lb_sandbox(snat: bool) -> tuple[Lab, Any]:
    """Swarm's LB sandbox: a fwmark service from 256, marked in mangle INPUT; with `snat`, NAT
    replies are forced back through the director by `-m ipvs --ipvs ... -j SNAT`."""
    lab = director_lab()
    h = lab["h"]
    d = dir_ns(lab)
    c2 = h.kernel.netns_add("c2")  # a client on the servers' own network, as a container on the overlay
    h.root.link_add(api.Veth("vc2", peer="eth0", peer_netns="c2"))
    h.root.link_set("vc2", master="br0", up=True)
    c2.addr_add("eth0", "10.0.0.9/24")
    c2.link_set("eth0", up=True)
    d.addr_add("eth0", "10.0.0.100/32")
    for key, value in (("conntrack", "1"), ("conn_reuse_mode", "0"), ("expire_nodest_conn", "1"),
                       ("expire_quiescent_template", "1")):
        d.sysctl_set(f"net.ipv4.vs.{key}", value)
    rules = "*mangle\n-A INPUT -d 10.0.0.100/32 -j MARK --set-xmark 0x100/0xffffffff\nCOMMIT\n"
    if snat:
        rules += "*nat\n-A POSTROUTING -d 10.0.0.0/24 -m ipvs --ipvs -j SNAT --to-source 10.0.0.1\nCOMMIT\n"
    d.iptables_restore(rules)
    ipvsadm(lab, "-A -f 256 -s rr")
    for addr in RS:
        ipvsadm(lab, f"-a -f 256 -r {addr}:0 -m")
    return lab, d
