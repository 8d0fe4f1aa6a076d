"""ping, as iputils-ping prints it on a host and as busybox prints it in busybox/alpine containers.

Options: -c COUNT, -i INTERVAL, -W TIMEOUT, -w DEADLINE, -s SIZE, -t TTL, -M do|want|dont,
-I IFACE, -q, -n.  Exit status: 0 when a reply came, 1 when none did, 2 on other errors.
"""

from __future__ import annotations

import math
from collections.abc import Generator
from typing import Any

import simpy
from scapy.layers.inet import ICMP, IP
from scapy.packet import Raw

from cnmsim.apps.resolver import resolve
from cnmsim.kernel.sim.ipv4 import OutputError
from cnmsim.kernel.sim.sockets import SockError
from cnmsim.shell.registry import Proc, command

ERRORS = {
    (3, 0): "Destination Net Unreachable", (3, 1): "Destination Host Unreachable",
    (3, 2): "Destination Protocol Unreachable", (3, 3): "Destination Port Unreachable",
    (3, 13): "Packet filtered", (11, 0): "Time to live exceeded",
}
BUSYBOX_OPTS = "cisWwtI"


def _parse(proc: Proc) -> tuple[dict[str, str], list[str]] | str:
    opts: dict[str, str] = {}
    rest: list[str] = []
    args = list(proc.args)
    takes = set("ciWwstMIp")
    while args:
        a = args.pop(0)
        if a.startswith("-") and len(a) > 1:
            flag = a[1]
            if flag in takes:
                val = a[2:] or (args.pop(0) if args else None)
                if val is None:
                    return f"ping: option requires an argument -- '{flag}'"
                opts[flag] = val
            else:
                for ch in a[1:]:
                    opts[ch] = ""
        else:
            rest.append(a)
    return opts, rest


def _fmt_ms(ms: float) -> str:
    """iputils' precision: 3 decimals under 1 ms, 2 under 10, 1 under 100, none above."""
    if ms >= 99.95:
        return f"{ms:.0f}"
    if ms >= 9.995:
        return f"{ms:.1f}"
    if ms >= 1:
        return f"{ms:.2f}"
    return f"{ms:.3f}"


@command("ping")
def ping(proc: Proc) -> Generator[Any, Any, int]:
    busybox = proc.place.flavour == "busybox"
    parsed = _parse(proc)
    if isinstance(parsed, str):
        return proc.fail(parsed, 2)
    opts, rest = parsed
    if not rest:
        return proc.fail("BusyBox v1.36.1 multi-call binary.\n\nUsage: ping [OPTIONS] HOST" if busybox
                         else "ping: usage error: Destination address required", 1 if busybox else 2)
    target = rest[-1]
    count = int(opts["c"]) if "c" in opts else math.inf
    interval = float(opts.get("i", "1"))
    linger = float(opts.get("W", "10"))
    deadline = float(opts["w"]) if "w" in opts else None
    size = int(opts.get("s", "56"))
    ttl = int(opts.get("t", "64"))
    pmtu = opts.get("M", "want")
    quiet = "q" in opts
    env = proc.env

    dst = yield from resolve(proc, target)
    if dst is None:
        return proc.fail(f"ping: bad address '{target}'" if busybox
                         else f"ping: {target}: Name or service not known", 1 if busybox else 2)
    ns = proc.ns
    try:
        ns.stack.route_output(dst, opts.get("I"))
    except OutputError as e:
        return proc.fail(f"ping: connect: {e}" if not busybox else f"ping: sendto: {e}", 2 if not busybox else 1)
    if busybox:
        proc.out(f"PING {target} ({dst}): {size} data bytes")
    else:
        proc.out(f"PING {target} ({dst}) {size}({size + 28}) bytes of data.")

    sock = ns.sockets.ping_socket()
    sock.pmtudisc = pmtu  # setsockopt(IP_MTU_DISCOVER): the kernel decides DF and fragmentation
    start = env.now
    sent: dict[int, float] = {}
    rtts: list[float] = []
    last_seen: list[float] = []
    errors = 0
    seq0 = 0 if busybox else 1
    seq = seq0
    next_send = env.now
    last_send = env.now
    interrupted = False
    try:
        while True:
            now = env.now
            if seq - seq0 < count and now >= next_send and (deadline is None or now - start < deadline):
                ip = IP(dst=dst, ttl=ttl)
                icmp = ICMP(id=sock.ident, seq=seq & 0xFFFF)
                if size:
                    icmp.add_payload(Raw(b"\x00" * size))
                ip.add_payload(icmp)  # not `/`, which copies both sides
                try:
                    sock.send(ip, opts.get("I"))
                except OutputError as e:
                    if e.errno_name == "EMSGSIZE":
                        proc.err(f"ping: local error: message too long, mtu={e.mtu}")  # iputils: stderr
                    else:
                        proc.err(f"ping: sendmsg: {e}")
                    errors += 1
                sent[seq] = now
                last_send = now
                seq += 1
                next_send = now + interval
            done_sending = seq - seq0 >= count or (deadline is not None and env.now - start >= deadline)
            answered = len(rtts) + errors
            if done_sending and (answered >= len(sent) or env.now >= last_send + linger):
                break
            if deadline is not None and env.now - start >= deadline:
                break
            until = next_send if not done_sending else last_send + linger
            if deadline is not None:
                until = min(until, start + deadline)
            item = yield from sock.recv_item(max(until - env.now, 0.0))
            if item is None:
                continue
            if isinstance(item, SockError):
                q = item.quoted
                qseq = q.payload.seq if q is not None and isinstance(q.payload, ICMP) else None  # ICMPerror too
                errors += 1
                if item.itype == 3 and item.code == 4:
                    text = f"Frag needed and DF set (mtu = {item.mtu})"
                else:
                    text = ERRORS.get((item.itype, item.code), f"Bad ICMP type {item.itype} code {item.code}")
                if not quiet and not busybox:
                    proc.out(f"From {item.offender} icmp_seq={qseq} {text}")
                continue
            reply, t_arrive = item
            last_seen.append(t_arrive)
            icmp = reply[ICMP]
            if icmp.seq not in sent:
                continue
            rtt = (t_arrive - sent[icmp.seq]) * 1000
            rtts.append(rtt)
            if not quiet:
                n = size + 8
                if busybox:
                    proc.out(f"{n} bytes from {reply.src}: seq={icmp.seq} ttl={reply.ttl} time={rtt:.3f} ms")
                else:
                    proc.out(f"{n} bytes from {reply.src}: icmp_seq={icmp.seq} ttl={reply.ttl} time={_fmt_ms(rtt)} ms")
    except simpy.Interrupt:
        interrupted = True
        if not busybox:
            proc.out("^C", end="")
    finally:
        sock.close()
    # iputils reports the time from the first send to the last packet sent or received
    last = max([last_send, *(t for t in last_seen)])
    _stats(proc, target, len(sent), rtts, errors, last - start, busybox, interrupted)
    return 0 if rtts else 1


def _stats(proc: Proc, target: str, sent: int, rtts: list[float], errors: int, elapsed: float,
           busybox: bool, interrupted: bool) -> None:
    recv = len(rtts)
    loss = f"{0 if sent == 0 else (sent - recv) * 100 / sent:g}"  # iputils prints "%g%%"
    proc.out("")
    proc.out(f"--- {target} ping statistics ---")
    if busybox:
        whole = 0 if sent == 0 else (sent - recv) * 100 // sent  # busybox prints "%u%%"
        proc.out(f"{sent} packets transmitted, {recv} packets received, {whole}% packet loss")
        if rtts:
            avg = sum(rtts) / recv
            proc.out(f"round-trip min/avg/max = {min(rtts):.3f}/{avg:.3f}/{max(rtts):.3f} ms")
        return
    err = f", +{errors} errors" if errors else ""
    proc.out(f"{sent} packets transmitted, {recv} received{err}, {loss}% packet loss, time {int(elapsed * 1000)}ms")
    if rtts:
        avg = sum(rtts) / recv
        mdev = math.sqrt(max(sum(r * r for r in rtts) / recv - avg * avg, 0.0))
        proc.out(f"rtt min/avg/max/mdev = {min(rtts):.3f}/{avg:.3f}/{max(rtts):.3f}/{mdev:.3f} ms")
