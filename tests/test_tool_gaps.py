"""Gaps filled in the simulated tools, each checked against the real program:

- curl 7.88.1 (the binary on the test machine, against a raw-request echo server): -b/--cookie,
  several -d joined with `&`, --data-raw, --data-binary, --data-urlencode, `-d @file`, header order;
- `bridge link show dev|master` (iproute2 6.1 here and in Debian 12: `master` is ignored; the
  filter came in 6.5); compared with the real binary when root;
- busybox wget (outputs taken from busybox 1.35 on this machine and busybox 1.36's wget.c and
  libbb/progress.c);
- the shell's parameter expansion (POSIX sh 2.6.2, 2.6.5, 2.9.1);
- `nslookup NAME SERVER` with SERVER a name (bind 9.18.49 and busybox 1.35 run for real:
  "Server:" shows the name, "Address:" its address; unresolvable: exit 1).
"""

from __future__ import annotations

import re

import pytest

from cnmsim import Lab
from cnmsim.apps import bridge_tools
from cnmsim.apps.dnsd import serve_dns
from cnmsim.apps.httpd import NGINX_INDEX, Request, Response, serve_http
from cnmsim.apps.wget import progress_line, ulltoa5
from cnmsim.place import Place
from tests._realnet import real_netns


# ---------------------------------------------------------------- curl
@pytest.fixture
def web() -> tuple[Lab, list[Request]]:
    """host-A curls host-B, whose server answers with the request's body and records requests."""
    lab = Lab(seed=0)
    lab.add_host("host-A", address="192.168.0.2/24", docker=False)
    b = lab.add_host("host-B", address="192.168.0.3/24", docker=False)
    seen: list[Request] = []

    def handler(req: Request) -> Response:
        seen.append(req)
        return Response(200, req.body)

    serve_http(b.place, 80, handler)
    return lab, seen


def request_lines(stderr: str) -> list[str]:
    return [line[2:] for line in stderr.splitlines() if line.startswith("> ") and line != "> "]


def test_curl_cookie_strings(web: tuple[Lab, list[Request]]) -> None:
    lab, seen = web
    r = lab.run("host-A", "curl -s -b a=b -b c=d http://192.168.0.3/")
    assert r.exit_code == 0 and seen[-1].headers["cookie"] == "a=b;c=d"  # curl joins them with ";"
    r = lab.run("host-A", "curl -v --cookie 'x=1; y=2' http://192.168.0.3/")
    assert request_lines(r.stderr) == ["GET / HTTP/1.1", "Host: 192.168.0.3", "User-Agent: curl/7.88.1",
                                       "Accept: */*", "Cookie: x=1; y=2"]
    # an -H Cookie: replaces the -b string
    lab.run("host-A", "curl -s -b k=v -H 'Cookie: q=1' http://192.168.0.3/")
    assert seen[-1].headers["cookie"] == "q=1"


def test_curl_cookie_file(web: tuple[Lab, list[Request]]) -> None:
    lab, seen = web
    # no '=': a cookie file; missing, nothing is sent (said only with -v)
    r = lab.run("host-A", "curl -s -b nosuch http://192.168.0.3/")
    assert (r.exit_code, r.stderr) == (0, "") and "cookie" not in seen[-1].headers
    r = lab.run("host-A", "curl -v -b nosuch http://192.168.0.3/")
    assert r.stderr.startswith('* WARNING: failed to open cookie file "nosuch"\n*   Trying 192.168.0.3:80...\n')
    assert not any(line.startswith("Cookie") for line in request_lines(r.stderr))
    lab["host-A"].files["jar.txt"] = (
        "# Netscape HTTP Cookie File\n"
        "192.168.0.3\tFALSE\t/\tFALSE\t0\tsess\tabc\n"
        "192.168.0.3\tFALSE\t/other\tFALSE\t0\tp\t1\n"
        ".example.com\tTRUE\t/\tFALSE\t0\tex\t1\n"
        "#HttpOnly_192.168.0.3\tFALSE\t/\tFALSE\t0\thttponly\tyes\n")
    # the real curl sent "Cookie: httponly=yes; sess=abc; z=9" (longer names first, then -b strings)
    lab.run("host-A", "curl -s -b jar.txt -b z=9 http://192.168.0.3/x")
    assert seen[-1].headers["cookie"] == "httponly=yes; sess=abc; z=9"
    lab.run("host-A", "curl -s -b jar.txt http://192.168.0.3/other/page")  # longer paths first
    assert seen[-1].headers["cookie"] == "p=1; httponly=yes; sess=abc"
    lab.run("host-A", "curl -s -b jar.txt http://192.168.0.3/otherx")
    assert seen[-1].headers["cookie"] == "httponly=yes; sess=abc"
    # the file's cookies stay when -H Cookie: is given: two headers, as curl sends them
    r = lab.run("host-A", "curl -v -b jar.txt -H 'Cookie: q=1' http://192.168.0.3/")
    assert request_lines(r.stderr)[4:] == ["Cookie: httponly=yes; sess=abc", "Cookie: q=1"]


def test_curl_data_options(web: tuple[Lab, list[Request]]) -> None:
    lab, seen = web
    r = lab.run("host-A", "curl -v -b a=b -H 'X-A: 1' -d x=1 -d y=2 http://192.168.0.3/")
    assert r.stdout == "x=1&y=2"
    assert request_lines(r.stderr) == [  # the real curl's order
        "POST / HTTP/1.1", "Host: 192.168.0.3", "User-Agent: curl/7.88.1", "Accept: */*",
        "Cookie: a=b", "X-A: 1", "Content-Length: 7", "Content-Type: application/x-www-form-urlencoded"]
    lab["host-A"].files["data.txt"] = "a=1\nb=2\r\n"
    r = lab.run("host-A", "curl -s --data-raw '@x' -d @data.txt --data-urlencode 'msg=hello world&x' "
                          "--data-urlencode 'plain text' --data-urlencode '=a b' --data-urlencode "
                          "'n@data.txt' --data-urlencode 'a=ü~*' -H 'Content-Type: text/plain' "
                          "http://192.168.0.3/")
    assert r.stdout == ("@x&a=1b=2&msg=hello+world%26x&plain+text&a+b&n=a%3D1%0Ab%3D2%0D%0A"
                        "&a=%C3%BC~%2A")
    assert seen[-1].headers["content-type"] == "text/plain"
    assert lab.run("host-A", "curl -s --data-binary @data.txt http://192.168.0.3/").stdout == "a=1\nb=2\r\n"
    assert lab.run("host-A", "curl -s --data-raw '' -d b http://192.168.0.3/").stdout == "&b"
    r = lab.run("host-A", "echo -n 'in put' | curl -s -d @- --data-urlencode @- http://192.168.0.3/")
    assert r.stdout == "in put&"  # stdin is read once
    r = lab.run("host-A", "curl -d @nosuch http://192.168.0.3/")
    assert (r.exit_code, r.stderr) == (
        0, "Warning: Couldn't read data from file \"nosuch\", this makes an empty POST.\n")
    assert seen[-1].method == "POST" and seen[-1].body == b""
    r = lab.run("host-A", "curl -s --data-urlencode x@nosuch http://192.168.0.3/")
    assert (r.exit_code, r.stderr, r.stdout) == (0, "", "")
    r = lab.run("host-A", "curl -v -H 'Host:' -H 'X;' -d a -H 'Content-Type:' http://192.168.0.3/")
    assert request_lines(r.stderr) == ["POST / HTTP/1.1", "User-Agent: curl/7.88.1", "Accept: */*", "X:",
                                       "Content-Length: 1"]


# ---------------------------------------------------------------- bridge link show
PORTS = """ip link add br0 type bridge
ip link add br1 type bridge
ip link add v1 type veth peer name v1p
ip link add v2 type veth peer name v2p
ip link add v3 type veth peer name v3p
ip link set v1 master br0
ip link set v2 master br1
ip link set v3 master br0
ip link set br0 up
ip link set v1 up
ip link set v1p up"""
SHOWS = ["", "master br0", "master br1", "dev v1", "dev br0", "master nosuch", "dev nosuch",
         "master br0 dev v2", "v1", "dev v1 dev v2", "master", "dev", "dev v1p"]


def ports_lab() -> Lab:
    lab = Lab(seed=0)
    lab.add_host("host-A", address="192.168.0.2/24", docker=False)
    for line in PORTS.splitlines():
        assert lab.run("host-A", line).exit_code == 0, line
    return lab


def port_names(out: str) -> list[str]:
    return [line.split(":")[1].strip().split("@")[0] for line in out.splitlines()]


def test_bridge_link_show_filters() -> None:
    lab = ports_lab()

    def show(args: str) -> tuple[int, list[str], str]:
        r = lab.run("host-A", f"bridge link show {args}")
        return r.exit_code, port_names(r.stdout), r.stderr

    every = ["v1", "v2", "v3"]
    assert show("") == (0, every, "")
    assert show("dev v1") == (0, ["v1"], "")
    assert show("dev br0") == (0, [], "")  # a bridge is not its own port
    assert show("dev v1p") == (0, [], "")
    assert show("v1") == (0, every, "")  # a bare word is skipped, not taken as a device
    assert show("master br1") == (0, every, "")  # 6.1 has no master filter
    assert show("master nosuch") == (0, every, "")
    assert show("master br0 dev v2") == (0, ["v2"], "")
    assert show("dev nosuch") == (255, [], 'Cannot find device "nosuch"\n')
    assert show("dev v1 dev v2") == (255, [], 'Error: duplicate "dev": "v2" is the second value.\n')
    assert show("dev") == (255, [], 'Command line is not complete. Try option "help"\n')
    out = lab.run("host-A", "bridge link show dev v1").stdout
    assert re.fullmatch(r"\d+: v1@v1p: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 master br0 state "
                        r"forwarding priority 32 cost 2 \n", out)


def test_bridge_link_show_master_from_iproute2_6_5(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bridge_tools, "IPROUTE2", (6, 5))
    lab = ports_lab()
    assert port_names(lab.run("host-A", "bridge link show master br0").stdout) == ["v1", "v3"]
    assert port_names(lab.run("host-A", "bridge link show master br1").stdout) == ["v2"]
    assert port_names(lab.run("host-A", "bridge link show master br1 dev v1").stdout) == []
    r = lab.run("host-A", "bridge link show master nosuch")
    assert (r.exit_code, r.stderr) == (255, 'Cannot find device "nosuch"\n')
    r = lab.run("host-A", "bridge link show master br0 master br1")
    assert r.stderr == 'Error: duplicate "master": "br1" is the second value.\n'


@pytest.mark.real
def test_bridge_link_show_against_the_real_bridge() -> None:
    with real_netns() as net:
        ns = net.ns("g")
        for line in PORTS.splitlines():
            net.sh(f"ip -n {ns} {line.removeprefix('ip ')}")
        version = net.run(ns, "bridge -V")[1]
        if "6.1" not in version:
            pytest.skip(f"the simulator follows iproute2 6.1, this machine has {version.strip()}")
        lab = ports_lab()
        for args in SHOWS:
            code, out, err = net.run(ns, f"bridge link show {args}")
            r = lab.run("host-A", f"bridge link show {args}")
            strip = re.compile(r"^\d+: ", re.M)  # the sim's host has an eth0: indexes differ by one
            assert (r.exit_code, strip.sub("", r.stdout), r.stderr) == (code, strip.sub("", out), err), args


# ---------------------------------------------------------------- wget
@pytest.fixture
def docker_net() -> Lab:
    """nginx "web" (172.18.0.2) and a busybox "bb" on the user-defined network net1."""
    lab = Lab(seed=0)
    lab.add_host("host-A", address="192.168.0.2/24")
    for line in ("docker network create net1", "docker run -d --name web --network net1 nginx",
                 "docker run -d --name bb --network net1 busybox sleep 1000"):
        assert lab.run("host-A", line).exit_code == 0, line
    return lab


BAR_615 = "-                    100% |********************************|   615  0:00:00 ETA"


def test_wget_to_stdout(docker_net: Lab) -> None:
    r = docker_net.run("bb", "wget -O - http://web/")
    assert (r.exit_code, r.stdout) == (0, NGINX_INDEX)
    assert r.stderr == f"Connecting to web (172.18.0.2:80)\nwriting to stdout\n{BAR_615}\nwritten to stdout\n"
    r = docker_net.run("bb", "wget -O - http://172.18.0.2:80/")
    assert r.stderr.startswith("Connecting to 172.18.0.2:80 (172.18.0.2:80)\n")
    r = docker_net.run("bb", "wget -qO- web")
    assert (r.exit_code, r.stdout, r.stderr) == (0, NGINX_INDEX, "")


def test_wget_to_a_file_and_server_response(docker_net: Lab) -> None:
    lab = docker_net
    r = lab.run("bb", "wget http://web/")
    assert r.stderr == ("Connecting to web (172.18.0.2:80)\nsaving to 'index.html'\n"
                        "index.html           100% |********************************|   615  0:00:00 ETA\n"
                        "'index.html' saved\n")
    assert lab.run("bb", "cat index.html").stdout == NGINX_INDEX
    r = lab.run("bb", "wget http://web/")  # busybox does not overwrite a file it named itself
    assert (r.exit_code, r.stderr) == (1, "Connecting to web (172.18.0.2:80)\n"
                                          "wget: can't open 'index.html': File exists\n")
    r = lab.run("bb", "wget -S -O /tmp/page http://web/")
    lines = r.stderr.splitlines()
    assert lines[:2] == ["Connecting to web (172.18.0.2:80)", "  HTTP/1.1 200 OK"]
    assert "  Content-Length: 615" in lines and "  Connection: close" in lines
    assert lines[-4:] == ["  ", "saving to '/tmp/page'",
                          "page                 100% |********************************|   615  0:00:00 ETA",
                          "'/tmp/page' saved"]
    assert lab.places["bb"].files["/tmp/page"] == NGINX_INDEX


def test_wget_spider_and_errors(docker_net: Lab) -> None:
    lab = docker_net
    r = lab.run("bb", "wget --spider http://web/")
    assert (r.exit_code, r.stderr) == (0, "Connecting to web (172.18.0.2:80)\nremote file exists\n")
    r = lab.run("bb", "wget --spider http://web/missing")
    assert (r.exit_code, r.stderr) == (1, "Connecting to web (172.18.0.2:80)\n"
                                          "wget: server returned error: HTTP/1.1 404 Not Found\n")
    r = lab.run("bb", "wget -S -O - http://web/missing")
    assert r.stderr.endswith("  HTTP/1.1 404 Not Found\nwget: server returned error: HTTP/1.1 404 Not Found\n")
    r = lab.run("bb", "wget -q -O - http://web/missing")
    assert (r.exit_code, r.stdout, r.stderr) == (1, "", "wget: server returned error: HTTP/1.1 404 Not Found\n")
    r = lab.run("bb", "wget -O - http://172.18.0.2:81/")
    assert (r.exit_code, r.stderr) == (1, "Connecting to 172.18.0.2:81 (172.18.0.2:81)\n"
                                          "wget: can't connect to remote host (172.18.0.2): Connection refused\n")
    r = lab.run("bb", "wget -q -O - http://nosuch/")
    assert (r.exit_code, r.stderr) == (1, "wget: bad address 'nosuch'\n")
    r = lab.run("bb", "wget -O - ftp2://x/")
    assert (r.exit_code, r.stderr) == (1, "wget: not an http or ftp url: ftp2://x/\n")
    r = lab.run("bb", "wget")
    assert r.exit_code == 1 and r.stderr.startswith("BusyBox v1.36.1 ") and "\t-T SEC\t\t" in r.stderr


def test_wget_timeout_redirect_and_request() -> None:
    lab = Lab(seed=0)
    a = lab.add_host("host-A", address="192.168.0.2/24", docker=False)
    b = lab.add_host("host-B", address="192.168.0.3/24", docker=False)
    seen: list[Request] = []

    def handler(req: Request) -> Response:
        seen.append(req)
        if req.path == "/old":
            return Response(301, b"", [("Location", "/new/page.html")])
        return Response(200, b"hello\n")

    serve_http(b.place, 80, handler)
    b.root.iptables_restore("*filter\n-A INPUT -p tcp --dport 8080 -j DROP\nCOMMIT\n", noflush=True)
    start = lab.now
    r = lab.run("host-A", "wget -T 3 -O - http://192.168.0.3:8080/")
    assert (r.exit_code, r.stderr) == (1, "Connecting to 192.168.0.3:8080 (192.168.0.3:8080)\n"
                                          "wget: download timed out\n")
    assert 3 <= lab.now - start < 4
    r = lab.run("host-A", "wget -S -O - http://192.168.0.3/old")
    assert r.stdout == "hello\n" and r.stderr.count("Connecting to") == 1  # same server: no new lookup
    assert "  HTTP/1.1 301 Moved Permanently\n" in r.stderr and "  Location: /new/page.html\n" in r.stderr
    assert seen[-1].path == "/new/page.html"
    a.files["body"] = "k=v"
    r = lab.run("host-A", "wget -q -O /dev/null -U Foo --header 'X-A: 1' --post-file body http://192.168.0.3/")
    req = seen[-1]
    assert (r.exit_code, req.method, req.body) == (0, "POST", b"k=v")
    assert req.headers["user-agent"] == "Foo" and req.headers["x-a"] == "1"
    assert req.headers["connection"] == "close"
    assert req.headers["content-type"] == "application/x-www-form-urlencoded"


def test_wget_progress_pieces() -> None:
    assert progress_line("-", 615) == BAR_615
    assert progress_line("a-very-long-file-name.tar.gz", 26_214_400).endswith("| 25.0M  0:00:00 ETA")
    assert [ulltoa5(n) for n in (0, 615, 99999, 100000, 1_048_576 * 300)] == [
        "    0", "  615", "99999", "97.6k", " 300M"]


# ---------------------------------------------------------------- the shell's parameters
@pytest.fixture
def host() -> Lab:
    lab = Lab(seed=0)
    lab.add_host("host-A", address="192.168.0.2/24", docker=False)
    return lab


def out(lab: Lab, line: str, where: str = "host-A") -> str:
    r = lab.run(where, line)
    return r.stdout


def test_status_and_pid(host: Lab) -> None:
    assert out(host, "echo $?") == "0\n"
    assert host.run("host-A", "false").exit_code == 1
    assert out(host, "echo $?") == "1\n"  # the previous line's status
    assert out(host, "false; echo $? $?") == "1 1\n"
    assert out(host, "false || echo $?; true && echo $?") == "1\n0\n"
    assert out(host, "ls-nothing 2>/dev/null; echo $?") == "127\n"
    pid = out(host, "echo $$")
    assert re.fullmatch(r"\d+\n", pid) and out(host, 'echo "$$"') == pid  # the same shell each line


def test_variables_and_quoting(host: Lab) -> None:
    assert out(host, "echo $HOME ${HOSTNAME} \"$PATH\"") == (
        "/root host-A /usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n")
    assert out(host, "echo '$HOME' \\$HOME \"\\$HOME\" \"'$HOME'\"") == "$HOME $HOME $HOME '/root'\n"
    assert host.run("host-A", 'X="a  b"').exit_code == 0  # an assignment alone sets it for later lines
    assert out(host, 'echo [$X] ["$X"] [${X}c]') == "[a b] [a  b] [a bc]\n"
    assert out(host, "echo a $UNSET b x${UNSET}y") == "a b xy\n"  # an empty bare expansion: no word
    assert out(host, "echo a \"$UNSET\" b") == "a  b\n"  # "$UNSET" is an empty word
    assert out(host, "echo ${UNSET:-def} ${X:+yes} ${#X} ${Y:=set} $Y") == "def yes 4 set set\n"
    assert out(host, "echo $(hostname) $ $5 a#b # a comment $X") == "$(hostname) $ a#b\n"
    assert out(host, "A=1 sh -c 'echo $A'; echo [$A]") == "1\n[]\n"  # for that command only
    assert out(host, "export Q=2; echo $Q; unset Q; echo [$Q]") == "2\n[]\n"
    host.run("host-A", "F=/tmp/out; echo hi > $F")
    assert host["host-A"].files["/tmp/out"] == "hi\n"
    assert out(host, "echo x ;") == "x\n"  # a trailing ';' ends the list


def test_container_environment() -> None:
    lab = Lab(seed=0)
    lab.add_host("host-A", address="192.168.0.2/24")
    assert lab.run("host-A", "docker run -d --name c1 -e FOO='a b' busybox sleep 1000").exit_code == 0
    assert out(lab, "echo $FOO $HOME") == "/root\n"  # not on the host
    assert out(lab, 'echo "$FOO" $HOME', "c1") == "a b /root\n"
    assert out(lab, "echo $HOSTNAME", "c1") == lab.places["c1"].hostname + "\n"
    assert out(lab, "docker exec c1 sh -c 'echo $FOO'") == "a b\n"
    assert out(lab, "export", "c1").splitlines()[0] == "export FOO='a b'"


# ---------------------------------------------------------------- nslookup NAME SERVER-NAME
def test_nslookup_server_given_by_name() -> None:
    lab = Lab(seed=0)
    a = lab.add_host("host-A", address="192.168.0.2/24", gateway="192.168.0.1", docker=False)
    lab.add_internet()
    b = lab.add_host("host-B", address="192.168.0.3/24", docker=False)
    serve_dns(b.place, {"web.service.consul": "10.0.0.9"}, port=8600)
    a.files["/etc/hosts"] += "192.168.0.3\tdb\n"
    lab.register_place(Place("bb", a, a.root, a.files, flavour="busybox"))
    r = lab.run("host-A", "nslookup -port=8600 web.service.consul db")
    assert (r.exit_code, r.stderr) == (0, "")
    assert r.stdout == "Server:\t\tdb\nAddress:\t192.168.0.3#8600\n\nName:\tweb.service.consul\nAddress: 10.0.0.9\n\n"
    r = lab.run("bb", "nslookup -port=8600 web.service.consul db")
    assert r.stdout.startswith("Server:\t\tdb\nAddress:\t192.168.0.3:8600\n\nName:\tweb.service.consul\n"
                               "Address: 10.0.0.9\n")
    r = lab.run("host-A", "nslookup -port=8600 web.service.consul nosuch")  # NXDOMAIN from the resolver
    assert (r.exit_code, r.stdout, r.stderr) == (1, "", "nslookup: couldn't get address for 'nosuch': not found\n")
    a.files["/etc/resolv.conf"] = "nameserver 192.168.0.99\n"  # nobody answers: EAI_AGAIN
    r = lab.run("host-A", "nslookup -port=8600 web.service.consul nosuch")
    assert (r.exit_code, r.stderr) == (1, "nslookup: couldn't get address for 'nosuch': failure\n")
    r = lab.run("bb", "nslookup -port=8600 web.service.consul nosuch")
    assert (r.exit_code, r.stdout, r.stderr) == (1, "", "nslookup: bad address 'nosuch'\n")
