"""The outside world of a lab: a gateway router, a DNS resolver and a few web sites.

    lab = Lab(); lab.add_internet()               # or add_internet(lab, names=("example.com",))
    lab.add_host("pc", address="192.168.0.2/24", gateway="192.168.0.1")
    lab.run("pc", "curl -s http://example.com/")  # DNS via 198.51.100.53, HTTP through the gateway

                 lan 192.168.0.0/24                        internet 198.51.100.0/24
    pc ----------------------------- gateway ------------- resolver (.53), example.com (.10), ...
                              .1 eth0   eth1 .1
The addresses are TEST-NET-2 (RFC 5737).  The gateway routes without NAT, so the web servers
see the LAN addresses; their default route points back at it.  Every host on the LAN segment,
added before or after, gets `nameserver 198.51.100.53` in /etc/resolv.conf (when it has none).
"""

from __future__ import annotations

from ipaddress import IPv4Network
from typing import TYPE_CHECKING

from cnmsim.apps.dnsd import DnsServer, serve_dns
from cnmsim.apps.httpd import HttpServer, serve_nginx

if TYPE_CHECKING:
    from cnmsim.host import Host
    from cnmsim.lab import Lab

EXAMPLE_PAGE = """<!doctype html>
<html>
<head>
    <title>Example Domain</title>
    <meta charset="utf-8" />
</head>
<body>
<div>
    <h1>Example Domain</h1>
    <p>This domain is for use in illustrative examples in documents. You may use this
    domain in literature without prior coordination or asking for permission.</p>
</div>
</body>
</html>
"""


def page_for(name: str) -> str:
    """The small page a site of the simulated internet serves."""
    if name.startswith("example."):
        return EXAMPLE_PAGE
    return (f"<!doctype html>\n<html>\n<head><title>{name}</title></head>\n"
            f"<body><h1>{name}</h1><p>A web server of the simulated internet.</p></body>\n</html>\n")


class Internet:
    """What add_internet() built: hosts, servers, and the resolv.conf policy for the LAN."""

    def __init__(self, lab: Lab, segment: str, resolver_ip: str) -> None:
        self.lab, self.segment, self.resolver_ip = lab, segment, resolver_ip
        self.gateway: Host | None = None
        self.resolver: Host | None = None
        self.sites: dict[str, Host] = {}
        self.dns: DnsServer | None = None
        self.http: dict[str, HttpServer] = {}

    def adopt(self, host: Host) -> None:
        """Point a LAN host's resolver at the internet's DNS server (unless it has one)."""
        seg = self.lab.segments.get(self.segment)
        on_lan = seg is not None and any(p.nic in host.nics for p in seg.ports)
        conf = host.files.get("/etc/resolv.conf", "")
        if on_lan and host is not self.gateway and "nameserver" not in conf:
            host.files["/etc/resolv.conf"] = conf + f"nameserver {self.resolver_ip}\n"

    @property
    def zone(self) -> dict[str, str]:
        return {name: h.address or "" for name, h in self.sites.items()}


def add_internet(lab: Lab, lan: str = "192.168.0.0/24", names: tuple[str, ...] = ("example.com", "docker.com"),
                 segment: str = "lan", internet: str = "198.51.100.0/24", gateway: str = "gateway",
                 latency: float = 5e-3) -> Internet:
    """Build the gateway, the resolver and one web server per name; return the Internet."""
    if lab.internet is not None:
        raise ValueError("this lab already has an internet")
    from cnmsim.underlay import add_router

    lan_net, wan = IPv4Network(lan), IPv4Network(internet)
    lan_gw, wan_gw = next(lan_net.hosts()), next(wan.hosts())
    resolver_ip = str(wan.network_address + 53)
    net = Internet(lab, segment, resolver_ip)
    lab.segment(segment)
    net.gateway = add_router(lab, gateway, {segment: f"{lan_gw}/{lan_net.prefixlen}",
                                            "internet": f"{wan_gw}/{wan.prefixlen}"})
    wan_port = next(p for p in lab.segment("internet").ports if p.nic in net.gateway.nics)
    wan_port.latency = latency  # the far side of the gateway is a few milliseconds away
    net.resolver = lab.add_host("resolver", address=f"{resolver_ip}/{wan.prefixlen}", docker=False,
                                segment="internet", gateway=str(wan_gw))
    for i, name in enumerate(names):
        ip = str(wan.network_address + 10 + i)
        net.sites[name] = lab.add_host(name, address=f"{ip}/{wan.prefixlen}", docker=False,
                                       segment="internet", gateway=str(wan_gw))
        net.http[name] = serve_nginx(net.sites[name].place, index=page_for(name))
    net.dns = serve_dns(net.resolver.place, net.zone)
    lab.internet = net
    for host in lab.hosts.values():
        net.adopt(host)
    return net
