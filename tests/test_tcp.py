"""TCP between namespaces: handshake, data, teardown, resets, retransmission, timeouts, sockets."""

from __future__ import annotations

import re

import pytest

from cnmsim.kernel import api
from cnmsim.kernel.sim.ipv4 import OutputError
from cnmsim.lab import Lab


def pair(seed: int = 0, **kw: object) -> Lab:
    """Namespaces a (10.0.0.2) and b (10.0.0.3) on host h, joined by a veth pair."""
    lab = Lab(seed=seed, **kw)  # type: ignore[arg-type]
    k = lab.add_host("h", docker=False).kernel
    a, b = k.netns_add("a"), k.netns_add("b")
    a.link_add(api.Veth("eth0", peer="eth0", peer_netns="b"))
    for ns, ip in ((a, "10.0.0.2/24"), (b, "10.0.0.3/24")):
        ns.addr_add("eth0", ip)
        ns.link_set("eth0", up=True)
        ns.link_set("lo", up=True)
    return lab


def run(lab: Lab, ns: str, line: str):  # noqa: ANN201
    return lab.run("h", f"ip netns exec {ns} {line}")


def states(trace, host_ns: str) -> list[str]:  # noqa: ANN001
    """The `OLD -> NEW` changes of the connections in one namespace."""
    return [re.search(r"(\S+ -> \S+):", e.reason).group(1) for e in trace.filter("tcp:state") if e.ns == host_ns]


def test_handshake_data_and_teardown() -> None:
    lab = pair()
    assert run(lab, "b", "nc -l 5000 &").exit_code == 0
    r = lab.run("h", "echo hello | ip netns exec a nc -N 10.0.0.3 5000")
    assert r.exit_code == 0, r.stderr
    later = lab.wait(1).trace  # the server's last ACK arrives after the client exited
    job = lab.jobs[0]
    assert job.done and job.exit_code == 0
    assert job.stdout == "hello\n"
    sums = [e.summary for e in r.trace.filter("tcp:send")]
    syn = next(s for s in sums if "Flags [S]," in s)
    assert re.search(r"Flags \[S\], seq \d+, win 64240, options \[mss 1460,sackOK,TS val \d+ ecr 0,nop,wscale 7\], length 0", syn)
    synack = next(s for s in sums if "Flags [S.]" in s)
    assert "win 65160" in synack and "mss 1460" in synack
    assert any(re.search(r"Flags \[P\.\], seq \d+:\d+, ack \d+, win 502, options \[nop,nop,TS", s) for s in sums)
    client = states(r.trace, "a")
    assert client[:2] == ["CLOSE -> SYN_SENT", "SYN_SENT -> ESTABLISHED"]
    assert "ESTABLISHED -> FIN_WAIT1" in client and "FIN_WAIT2 -> TIME_WAIT" in client
    server = states(r.trace, "b") + states(later, "b")
    assert server[:2] == ["CLOSE -> SYN_RECV", "SYN_RECV -> ESTABLISHED"]
    assert server[-2:] == ["CLOSE_WAIT -> LAST_ACK", "LAST_ACK -> CLOSE"]
    # the active closer keeps TIME_WAIT for 60 s, then the port pair is free
    conns = lab["h"].kernel.netns("a").sockets.tcp.conns
    assert [c.state for c in conns.values()] == ["TIME_WAIT"]
    lab.wait(61)
    assert not conns


def test_closed_port_is_refused_with_rst() -> None:
    lab = pair()
    r = run(lab, "a", "nc -z -v 10.0.0.3 81")
    assert r.exit_code == 1
    assert r.stderr == "nc: connect to 10.0.0.3 port 81 (tcp) failed: Connection refused\n"
    rst = r.trace.filter("tcp:rcv", "reset")
    assert rst and rst[0].reason == "no socket listens on TCP port 81"
    assert any(re.search(r"Flags \[R\.\], seq 0, ack \d+, win 0, length 0", e.summary) for e in r.trace)
    r = run(lab, "a", "curl http://10.0.0.3:81/")
    assert r.exit_code == 7
    assert r.stderr == "curl: (7) Failed to connect to 10.0.0.3 port 81 after 0 ms: Couldn't connect to server\n"


def test_port_check_succeeds_on_a_listener() -> None:
    lab = pair()
    run(lab, "b", "nc -l -p 80 &")
    r = run(lab, "a", "nc -z -v 10.0.0.3 79-80")
    assert r.exit_code == 0
    assert r.stderr == ("nc: connect to 10.0.0.3 port 79 (tcp) failed: Connection refused\n"
                        "Connection to 10.0.0.3 80 port [tcp/http] succeeded!\n")


def test_bind_collision() -> None:
    lab = pair()
    assert run(lab, "b", "nc -l 5000 &").exit_code == 0
    r = run(lab, "b", "nc -l 5000")
    assert (r.exit_code, r.stderr) == (1, "nc: Address already in use\n")
    tcp = lab["h"].kernel.netns("b").sockets.tcp
    s = tcp.socket()
    with pytest.raises(OutputError) as e:
        s.bind("0.0.0.0", 5000)
    assert e.value.errno_name == "EADDRINUSE"
    with pytest.raises(OutputError) as e:
        tcp.socket().bind("10.9.9.9", 6000)
    assert e.value.errno_name == "EADDRNOTAVAIL"


def test_retransmission_on_a_lossy_cable() -> None:
    lab = Lab(seed=3)
    lab.add_host("A", address="10.0.0.2/24", loss=0.2, docker=False)
    lab.add_host("B", address="10.0.0.3/24", docker=False)
    lab.run("B", "nc -l 5000 > /tmp/got &")
    data = "".join(f"line {i}\n" for i in range(3000))
    lab["A"].files["/tmp/data"] = data
    r = lab.run("A", "cat /tmp/data | nc -N 10.0.0.3 5000")
    assert r.exit_code == 0
    lab.wait(5)
    assert lab["B"].files["/tmp/got"] == data
    assert r.trace.filter("wire:loss")
    rtx = r.trace.filter("tcp:retransmit")
    assert rtx and all("resending" in e.reason or "fast retransmit" in e.reason for e in rtx)


def test_syn_lost_once_is_retransmitted_after_one_second() -> None:
    lab = pair()
    run(lab, "b", "nc -l 5000 &")
    b = lab["h"].kernel.netns("b")
    dropped = []

    def drop_first_syn(dev, frame, direction):  # noqa: ANN001, ANN202
        tcp = frame.pkt.payload.payload
        if direction == "in" and not dropped and getattr(tcp, "flags", 0) == 0x02:
            dropped.append(frame)
            frame.pkt.payload.dst = "10.0.0.99"  # nobody's address: b forwards nothing (ip_forward=0)
    b.devices["eth0"].taps.append(drop_first_syn)
    r = run(lab, "a", "nc -z -v 10.0.0.3 5000")
    assert r.exit_code == 0 and dropped
    rtx = r.trace.filter("tcp:retransmit")
    assert len(rtx) == 1 and rtx[0].t == pytest.approx(1.0, abs=1e-3)
    assert "SYN again (retry 1 of 6)" in rtx[0].reason


def unanswered(lab: Lab) -> None:
    """a routes 10.9.0.0/16 via b, which does not forward: SYNs vanish without an ICMP error."""
    lab["h"].kernel.netns("a").route_add(api.Route(dst="10.9.0.0/16", via="10.0.0.3"))


def test_connect_timeout_after_syn_retries() -> None:
    lab = pair()
    unanswered(lab)
    lab["h"].kernel.netns("a").sysctl_set("net.ipv4.tcp_syn_retries", "2")
    t0 = lab.now
    r = run(lab, "a", "nc -v 10.9.0.1 80")
    assert r.exit_code == 1
    assert r.stderr == "nc: connect to 10.9.0.1 port 80 (tcp) failed: Connection timed out\n"
    assert lab.now - t0 == pytest.approx(7.0, abs=0.01)  # SYN at 0, 1, 3; give up at 7
    syns = [e for e in r.trace.filter("tcp:") if "Flags [S]," in e.summary and e.verdict == "send"]
    assert [round(e.t - t0) for e in syns] == [0, 1, 3]
    r = run(lab, "a", "curl -s -S http://10.9.0.1/")
    assert r.exit_code == 28
    assert r.stderr == "curl: (28) Failed to connect to 10.9.0.1 port 80 after 7000 ms: Couldn't connect to server\n"


def test_default_syn_retries_give_up_after_127_seconds() -> None:
    lab = pair(interrupt_after=300.0)
    unanswered(lab)
    t0 = lab.now
    r = run(lab, "a", "nc 10.9.0.1 80")
    assert r.exit_code == 1
    assert lab.now - t0 == pytest.approx(127.0, abs=0.01)
    assert len(r.trace.filter("tcp:retransmit")) == 6


def test_application_timeouts() -> None:
    lab = pair()
    unanswered(lab)
    r = run(lab, "a", "nc -v -w 2 10.9.0.1 80")
    assert r.stderr == "nc: connect to 10.9.0.1 port 80 (tcp) timed out: Operation now in progress\n"
    r = run(lab, "a", "curl --connect-timeout 2 http://10.9.0.1/")
    assert (r.exit_code, r.stderr) == (28, "curl: (28) Failed to connect to 10.9.0.1 port 80 after 2000 ms: Timeout was reached\n")
    r = run(lab, "a", "curl -m 3 http://10.9.0.1/")
    assert (r.exit_code, r.stderr) == (28, "curl: (28) Connection timed out after 3000 milliseconds\n")


def test_unroutable_and_unreachable() -> None:
    lab = pair()
    r = run(lab, "a", "nc -v 10.99.0.1 80")
    assert r.stderr == "nc: connect to 10.99.0.1 port 80 (tcp) failed: Network is unreachable\n"
    r = run(lab, "a", "curl http://10.99.0.1/")
    assert (r.exit_code, r.stderr) == (7, "curl: (7) Failed to connect to 10.99.0.1 port 80 after 0 ms: Couldn't connect to server\n")
    t0 = lab.now
    r = run(lab, "a", "nc -v 10.0.0.77 80")  # on-link, but nobody answers ARP
    assert r.stderr == "nc: connect to 10.0.0.77 port 80 (tcp) failed: No route to host\n"
    assert 2.5 < lab.now - t0 < 3.5


def socket_pair(lab: Lab):  # noqa: ANN201
    k = lab["h"].kernel
    return k.netns("a").sockets.tcp, k.netns("b").sockets.tcp


def test_flow_control_with_a_slow_reader() -> None:
    """The receiver's window fills up (zero window), the sender waits and probes, nothing is lost."""
    lab = pair()
    ta, tb = socket_pair(lab)
    env = lab.env
    payload = bytes(range(256)) * 800  # 204800 bytes: more than the 65160-byte window
    got = bytearray()
    srv = tb.socket()
    srv.bind("0.0.0.0", 7000)
    srv.listen()

    def server():  # noqa: ANN202
        conn = yield from srv.accept()
        yield env.timeout(2.0)  # the application is busy: nothing is read for 2 s
        while True:
            d = yield from conn.recv(4096)
            if not d:
                break
            got.extend(d)
        conn.close()

    def client():  # noqa: ANN202
        s = ta.socket()
        yield from s.connect("10.0.0.3", 7000)
        s.send(payload)
        s.shutdown()
        yield from s.recv()
        s.close()

    env.process(server())
    env.process(client())
    sink = lab.bus.subscribe(lambda ev: events.append(ev))
    events: list = []
    lab.wait(10)
    lab.bus.unsubscribe(sink)
    assert bytes(got) == payload
    assert any("win 0," in e.summary for e in events if e.stage == "tcp:send")
    assert not [e for e in events if e.stage == "tcp:reset"]


def test_close_with_unread_data_resets() -> None:
    lab = pair()
    ta, tb = socket_pair(lab)
    env = lab.env
    srv = tb.socket()
    srv.bind("10.0.0.3", 7001)
    srv.listen()
    errors: list[str] = []

    def server():  # noqa: ANN202
        conn = yield from srv.accept()
        yield env.timeout(0.1)
        conn.close()  # data is waiting unread: RST instead of FIN

    def client():  # noqa: ANN202
        s = ta.socket()
        yield from s.connect("10.0.0.3", 7001)
        s.send(b"unread")
        try:
            yield from s.recv(timeout=5)
        except OutputError as e:
            errors.append(e.errno_name)

    env.process(server())
    env.process(client())
    lab.wait(1)
    assert errors == ["ECONNRESET"]


def test_ephemeral_ports_come_from_the_local_port_range() -> None:
    lab = pair()
    a = lab["h"].kernel.netns("a")
    a.sysctl_set("net.ipv4.ip_local_port_range", "40000 40003")
    run(lab, "b", "nc -l -k 5000 &")
    ports = set()
    for _ in range(4):
        r = run(lab, "a", "nc -z 10.0.0.3 5000")
        assert r.exit_code == 0
        ports |= {c.local[1] for c in a.sockets.tcp.conns.values()}
    assert ports == {40000, 40001, 40002, 40003}  # all in TIME_WAIT now
    assert a.sockets.tcp.ports_in_use() == ports
