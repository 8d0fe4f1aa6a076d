"""tcpdump 4.99: capture on a device's taps (both directions), print or write a pcap, or read one.

    tcpdump -i eth0 -n -c 4 icmp       prints 4 lines, then the counts on stderr
    tcpdump -i any -w /tmp/cap.pcap    Linux cooked v2 (SLL2) frames, like the real `any` device
    tcpdump -r cap.pcap -e             read a file back (timestamps are simulated seconds)
It blocks in simulated time until -c packets matched, or until Ctrl-C (simpy.Interrupt).
Lines come from cnmsim.trace.summary.Formatter (relative TCP sequence numbers, -e, -n);
`-v` is accepted but prints the same lines as without it.  Files given to -w/-r are real
files, relative to the Python process's working directory.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Generator
from typing import Any

import simpy
from scapy.layers.l2 import CookedLinuxV2, Ether
from scapy.packet import Packet, Raw
from scapy.utils import PcapReader, PcapWriter

from cnmsim.apps.bpf import FilterError, compile_filter
from cnmsim.apps.netutil import clock, parse_opts, reverse_hosts
from cnmsim.apps.resolver import hosts_lookup
from cnmsim.packet.sizes import wire_len
from cnmsim.shell.registry import Proc, command
from cnmsim.trace.summary import Formatter

SNAPLEN = 262144
EN10MB, SLL2 = 1, 276
LINK_NAMES = {EN10MB: "EN10MB (Ethernet)", SLL2: "LINUX_SLL2 (Linux cooked v2)"}
PKTTYPE = {0: "In  ", 1: "B   ", 2: "M   ", 3: "P   ", 4: "Out "}


def _path(p: str) -> str:
    return p if os.path.isabs(p) else os.path.join(os.getcwd(), p)


def _pkttype(dev: Any, eth: Any, direction: str) -> int:
    if direction == "out":
        return 4
    dst = eth.dst
    if dst == "ff:ff:ff:ff:ff:ff":
        return 1
    if int(dst[:2], 16) & 1:
        return 2
    return 0 if dst == dev.mac else 3


def sll2(dev: Any, eth: Ether, pkttype: int) -> bytes:
    """The 20-byte Linux cooked v2 header and the frame without its Ethernet header."""
    mac = bytes.fromhex(eth.src.replace(":", ""))
    head = struct.pack("!HHIHBB8s", eth.type, 0, dev.ifindex, 1, pkttype, 6, mac)
    return head + bytes(eth.payload)


class Capture:
    """The taps of one tcpdump: filter, print or write, count."""

    def __init__(self, proc: Proc, devs: list[Any], opts: dict[str, str], match: Any,
                 fmt: Formatter, writer: PcapWriter | None, count: int | None) -> None:
        self.proc, self.devs, self.opts, self.match = proc, devs, opts, match
        self.fmt, self.writer, self.count = fmt, writer, count
        self.any = opts.get("i") == "any"
        self.queue_dir = opts.get("Q", "inout")
        self.seen = 0
        self.done = proc.env.event()
        for d in devs:
            d.taps.append(self.tap)

    def tap(self, dev: Any, frame: Any, direction: str) -> None:
        if self.done.triggered or (self.queue_dir != "inout" and direction != self.queue_dir):
            return
        pkt = frame.pkt
        if not self.match(pkt):
            return
        self.seen += 1
        now = self.proc.env.now
        sec = int(now)
        usec = int(round((now - sec) * 1e6))
        if self.writer is not None:
            if self.any:
                data = sll2(dev, pkt, _pkttype(dev, pkt, direction))
            else:
                data = bytes(pkt)
            self.writer.write_packet(data, sec=sec, usec=usec)
        else:
            self.proc.out(self.line(dev, pkt, direction, now))
        if self.count is not None and self.seen >= self.count:
            self.done.succeed()

    def line(self, dev: Any, pkt: Packet, direction: str, now: float) -> str:
        ts = "" if "t" in self.opts else clock(now) + " "
        if not self.any:
            return ts + self.fmt.line(pkt)
        pre = f"{dev.name:<5} {PKTTYPE[_pkttype(dev, pkt, direction)]}"
        if self.fmt.link and isinstance(pkt, Ether):
            return ts + pre + f"ifindex {dev.ifindex} {pkt.src} " + self.fmt._ethertype(
                pkt.type, pkt.payload, wire_len(pkt) + 6)
        return ts + pre + self.fmt.line(pkt.payload if isinstance(pkt, Ether) else pkt)

    def close(self) -> None:
        for d in self.devs:
            if self.tap in d.taps:
                d.taps.remove(self.tap)
        if self.writer is not None:
            self.writer.close()


@command("tcpdump")
def tcpdump(proc: Proc) -> Generator[Any, Any, int]:
    opts, rest, err = parse_opts(proc.args, "icwrsQCGWFEMTzZyBV")
    if err:
        return proc.fail(f"tcpdump: {err}", 1)
    files = proc.place.files
    try:
        match = compile_filter(" ".join(rest), lambda name: hosts_lookup(files, name))
    except FilterError as e:
        return proc.fail(f"tcpdump: can't parse filter expression: {e}", 1)
    fmt = Formatter(numeric="n" in opts, link="e" in opts, relative="S" not in opts,
                    hosts=reverse_hosts(files))
    count = int(opts["c"]) if "c" in opts else None
    if "r" in opts:
        return _read(proc, opts, match, fmt, count)
    ns = proc.ns
    name = opts.get("i") or next((d.name for d in sorted(ns.devices.values(), key=lambda d: d.ifindex)
                                  if d.kind != "loopback" and d.admin_up), "lo")
    if name == "any":
        devs = sorted(ns.devices.values(), key=lambda d: d.ifindex)
        link = SLL2
    else:
        dev = ns.devices.get(name)
        if dev is None:
            return proc.fail(f"tcpdump: {name}: No such device exists\n(No such device exists)", 1)
        if not dev.admin_up:
            return proc.fail(f"tcpdump: {name}: That device is not up", 1)
        devs, link = [dev], EN10MB
    writer = None
    if "w" in opts:
        try:
            writer = PcapWriter(_path(opts["w"]), linktype=link, sync=True, snaplen=SNAPLEN)
            writer.write_header(None)
        except OSError as e:
            return proc.fail(f"tcpdump: {opts['w']}: {e.strerror}", 1)
    if link == SLL2:
        proc.err("tcpdump: data link type LINUX_SLL2")
    head = f"listening on {name}, link-type {LINK_NAMES[link]}, snapshot length {SNAPLEN} bytes"
    if writer is not None:
        proc.err("tcpdump: " + head)
    else:
        if "v" not in opts:
            proc.err("tcpdump: verbose output suppressed, use -v[v]... for full protocol decode")
        proc.err(head)
    cap = Capture(proc, devs, opts, match, fmt, writer, count)
    try:
        yield cap.done
    except simpy.Interrupt:
        proc.out("^C")
    finally:
        cap.close()
        n = cap.seen
        proc.err(f"{n} packet{'' if n == 1 else 's'} captured")
        proc.err(f"{n} packet{'' if n == 1 else 's'} received by filter")
        proc.err("0 packets dropped by kernel")
    return 0


def _read(proc: Proc, opts: dict[str, str], match: Any, fmt: Formatter, count: int | None) -> int:
    path = opts["r"]
    try:
        reader = PcapReader(_path(path))
    except FileNotFoundError:
        return proc.fail(f"tcpdump: {path}: No such file or directory", 1)
    except Exception:  # noqa: BLE001  (not a capture file)
        return proc.fail(f"tcpdump: {path}: unknown file format", 1)
    link = reader.linktype
    proc.err(f"reading from file {path}, link-type {LINK_NAMES.get(link, link)}, snapshot length {reader.snaplen}")
    names = {d.ifindex: d.name for d in proc.ns.devices.values()}
    if link == SLL2:
        proc.err("Warning: interface names might be incorrect")
    seen = 0
    with reader:
        for pkt in reader:
            if link == SLL2 and isinstance(pkt, Raw):
                pkt = CookedLinuxV2(pkt.load)
            if not match(pkt):
                continue
            seen += 1
            ts = "" if "t" in opts else clock(float(pkt.time)) + " "
            if isinstance(pkt, CookedLinuxV2):
                pre = f"{names.get(pkt.ifindex, f'#{pkt.ifindex}'):<5} {PKTTYPE.get(pkt.pkttype, '?   ')}"
                proc.out(ts + pre + fmt.line(pkt if fmt.link else pkt.payload))
            else:
                proc.out(ts + fmt.line(pkt))
            if count is not None and seen >= count:
                break
    return 0
