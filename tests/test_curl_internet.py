"""The simulated internet: a LAN host curls web sites through the gateway, with DNS via the resolver."""

from __future__ import annotations

import re

import pytest

from cnmsim.apps.dnsd import serve_dns
from cnmsim.apps.httpd import NGINX_INDEX, Response, serve_http
from cnmsim.internet import EXAMPLE_PAGE
from cnmsim.lab import Lab


@pytest.fixture
def net() -> Lab:
    lab = Lab(seed=0)
    lab.add_host("early", address="192.168.0.2/24", gateway="192.168.0.1", docker=False)
    lab.add_internet()
    lab.add_host("pc", address="192.168.0.3/24", gateway="192.168.0.1", docker=False)
    return lab


def test_shape_and_resolv_conf(net: Lab) -> None:
    inet = net.internet
    assert inet.zone == {"example.com": "198.51.100.10", "docker.com": "198.51.100.11"}
    gw = net["gateway"]
    assert [a.address for a in gw.root.addrs() if a.dev != "lo"] == ["192.168.0.1/24", "198.51.100.1/24"]
    assert gw.root.sysctl_get("net.ipv4.ip_forward") == "1"
    for h in ("early", "pc"):  # added before and after add_internet
        assert net[h].files["/etc/resolv.conf"] == "nameserver 198.51.100.53\n"
    assert net["resolver"].files["/etc/resolv.conf"] == ""
    with pytest.raises(ValueError):
        net.add_internet()


def test_curl_example_com(net: Lab) -> None:
    r = net.run("pc", "curl http://example.com/")
    assert r.exit_code == 0, r.stderr
    assert r.stdout == EXAMPLE_PAGE and r.stderr == ""
    # DNS to the resolver, then HTTP through the gateway
    fwd = r.trace.filter("route:lookup", "forward", host="gateway")
    assert any("198.51.100.53" in e.reason for e in fwd) and any("198.51.100.10" in e.reason for e in fwd)
    sums = [e.summary for e in r.trace]
    assert any(re.search(r"IP 192\.168\.0\.3\.\d+ > 198\.51\.100\.53\.53: \d+\+ A\? example\.com\. \(29\)", s) for s in sums)
    assert any(re.search(r"IP 198\.51\.100\.53\.53 > 192\.168\.0\.3\.\d+: \d+\*? 1/0/0 A 198\.51\.100\.10 \(45\)", s) for s in sums)
    assert any(s.endswith("HTTP: GET / HTTP/1.1") for s in sums)
    assert any(s.endswith("HTTP: HTTP/1.1 200 OK") for s in sums)


def test_unknown_name_is_curl_exit_6(net: Lab) -> None:
    r = net.run("pc", "curl http://nosuch.example/")
    assert (r.exit_code, r.stdout, r.stderr) == (6, "", "curl: (6) Could not resolve host: nosuch.example\n")
    assert any(" NXDomain" in e.summary for e in r.trace)
    assert net.run("pc", "curl -s http://nosuch.example/").stderr == ""
    assert net.run("pc", "curl -sS http://nosuch.example/").exit_code == 6


def test_verbose_head_and_errors(net: Lab) -> None:
    r = net.run("early", "curl -v http://docker.com/")
    assert r.stderr.startswith("*   Trying 198.51.100.11:80...\n* Connected to docker.com (198.51.100.11) port 80 (#0)\n"
                               "> GET / HTTP/1.1\n> Host: docker.com\n> User-Agent: curl/7.88.1\n> Accept: */*\n> \n"
                               "< HTTP/1.1 200 OK\n< Server: nginx/1.27.3\n")
    assert r.stderr.endswith("< \n* Connection #0 to host docker.com left intact\n")
    assert "<title>docker.com</title>" in r.stdout
    r = net.run("pc", "curl -I example.com")
    lines = r.stdout.splitlines()
    assert lines[0] == "HTTP/1.1 200 OK" and "Content-Type: text/html" in lines and lines[-1] == ""
    r = net.run("pc", "curl -s -o /dev/null -w '%{http_code}\\n' http://example.com/missing")
    assert (r.exit_code, r.stdout) == (0, "404\n")
    r = net.run("pc", "curl -f http://example.com/missing")
    assert (r.exit_code, r.stderr) == (22, "curl: (22) The requested URL returned error: 404\n")
    r = net.run("pc", "curl https://example.com/")  # nothing listens on 443
    assert re.fullmatch(r"curl: \(7\) Failed to connect to example.com port 443 after \d+ ms: Couldn't connect to server\n", r.stderr)
    r = net.run("pc", "curl http://example.com:8080/")
    assert r.stderr.startswith("curl: (7) Failed to connect to example.com port 8080 after ")


def test_traceroute_and_ping_through_the_gateway(net: Lab) -> None:
    r = net.run("pc", "traceroute -n example.com")
    lines = r.stdout.splitlines()
    assert lines[0] == "traceroute to example.com (198.51.100.10), 30 hops max, 60 byte packets"
    assert lines[1].startswith(" 1  192.168.0.1  ") and lines[2].startswith(" 2  198.51.100.10  ")
    assert net.run("pc", "ping -c 1 docker.com").exit_code == 0


def test_own_http_and_dns_servers(net: Lab) -> None:
    """serve_http with a handler, serve_dns with a local zone forwarding the rest."""
    early = net["early"]
    serve_http(early.place, 8000, lambda req: Response(200, f"you asked for {req.path}\n".encode()))
    serve_dns(early.place, {"app.lan": "192.168.0.2"}, forwarders=["198.51.100.53"])
    net["pc"].files["/etc/resolv.conf"] = "nameserver 192.168.0.2\n"
    r = net.run("pc", "curl -s http://app.lan:8000/hello")
    assert (r.exit_code, r.stdout) == (0, "you asked for /hello\n")
    assert net.run("pc", "curl -s example.com").stdout == EXAMPLE_PAGE  # forwarded to 198.51.100.53
    assert net.run("pc", "curl www.app.lan").exit_code == 6  # NXDOMAIN inside its zone
    r = net.run("pc", "nc -zv app.lan 8000")
    assert r.stderr == "Connection to app.lan (192.168.0.2) 8000 port [tcp/*] succeeded!\n"


def test_nginx_command_serves_the_welcome_page(net: Lab) -> None:
    assert net.run("early", "nginx").exit_code == 0
    r = net.run("early", "nginx")
    assert r.stderr == "nginx: [emerg] bind() to 0.0.0.0:80 failed (98: Address already in use)\n"
    r = net.run("pc", "curl -s 192.168.0.2")
    assert r.stdout == NGINX_INDEX and "<title>Welcome to nginx!</title>" in r.stdout
    r = net.run("pc", "curl -s 192.168.0.2/nope")
    assert "<center><h1>404 Not Found</h1></center>" in r.stdout
