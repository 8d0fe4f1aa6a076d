"""The reachability matrix of `cnmsim verify`: every host and container to every address and port.

Sources are the lab's hosts and running containers; targets are every IPv4 address of those
(ICMP, `ping -c 1 -W 1`), each published port on its host's addresses and each exposed or published
container port on the container's addresses (TCP, `nc -w 1 ... </dev/null`).  A probe is reachable when its
program exits 0.  Both labs are probed with the union of both labs' targets, so a target missing on
one side shows up as unreachable there instead of silently dropping out of the comparison.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cnmsim.lab import Lab
    from cnmsim.place import Place

PING = "ping -c 1 -W 1 {addr}"
# no -z: the busybox nc of busybox-flavoured places may lack it; with stdin at EOF every nc
# exits 0 once connected, 1 when refused or timed out (-w 1)
NC = "nc -w 1 {addr} {port} </dev/null"
BATCH = 48  # real probes started at once (each is an `ip netns exec` process)
DEADLINE = 15.0  # wall seconds one real batch may take; what is still running then counts unreachable


@dataclass(frozen=True, order=True)
class Probe:
    """One cell of the matrix: from `src` to addr[:port] over `proto` ("icmp" or "tcp")."""

    src: str
    proto: str
    addr: str
    port: int = 0
    target: str = ""  # what the address is ("web", "host-A:8000 -> web:5000/tcp")

    @property
    def key(self) -> tuple[str, str, str, int]:
        return (self.src, self.proto, self.addr, self.port)

    @property
    def line(self) -> str:
        return (PING if self.proto == "icmp" else NC).format(addr=self.addr, port=self.port)

    def __str__(self) -> str:
        dst = self.addr if self.proto == "icmp" else f"{self.addr}:{self.port}"
        return f"{self.src} -> {dst} {self.proto} ({self.target})"


# Probe.key -> reachable; None: no such source on that lab; a str: the probe raised (a backend bug)
Matrix = dict[tuple[str, str, str, int], bool | str | None]


def sources(lab: Lab) -> dict[str, Place]:
    """Where probes start: each host's root and each running container, one per namespace."""
    out: dict[str, Place] = {}
    seen: set[int] = set()
    for name, host in lab.hosts.items():
        out[name] = host.place
        seen.add(id(host.place.ns))
    for name, place in lab.places.items():
        c = place.container
        if c is None or not c.running or id(place.ns) in seen or name != c.name:
            continue  # aliases (ids), stopped containers, host-mode or shared sandboxes
        seen.add(id(place.ns))
        out[name] = place
    return out


def _ipv4(place_ns: Any, devs: Iterable[str] | None = None) -> list[str]:
    keep = set(devs) if devs is not None else None
    addrs = []
    for a in place_ns.addrs():
        ip = a.address.split("/")[0]
        if a.dev == "lo" or ip.startswith("127.") or ":" in ip:
            continue
        if keep is None or a.dev in keep:
            addrs.append(ip)
    return addrs


def _host_addrs(lab: Lab) -> dict[str, list[str]]:
    return {name: _ipv4(h.root, h.nic_names) for name, h in lab.hosts.items()}


def _containers(lab: Lab) -> Iterator[tuple[str, Any, Any]]:
    """(host name, container, its place) for each running container with its own sandbox."""
    for hname, host in lab.hosts.items():
        if host.engine is None:
            continue
        for c in host.engine.containers.values():
            if c.running and c.place is not None and c.place.ns is not host.root:
                yield hname, c, c.place


def targets(lab: Lab) -> list[tuple[str, str, int, str]]:
    """(proto, addr, port, description) of everything worth probing in this lab."""
    from cnmsim.docker.container_views import exposed_ports, published

    out: list[tuple[str, str, int, str]] = []
    hosts = _host_addrs(lab)
    for hname, addrs in hosts.items():
        out += [("icmp", a, 0, hname) for a in addrs]
    for hname, c, place in _containers(lab):
        addrs = _ipv4(place.ns)
        out += [("icmp", a, 0, c.name) for a in addrs]
        ports = {int(p.split("/")[0]) for p in exposed_ports(c) if p.endswith("/tcp")}
        for b in published(c):
            if b.proto != "tcp":
                continue
            ports.add(b.container_port)
            for a in (hosts[hname] if b.host_ip in ("0.0.0.0", "", "::") else [b.host_ip]):
                out.append(("tcp", a, int(b.host_port),
                            f"{hname}:{b.host_port} -> {c.name}:{b.container_port}/tcp"))
        out += [("tcp", a, p, f"{c.name}:{p}/tcp") for a in addrs for p in sorted(ports)]
    return out


def plan(*labs: Lab) -> list[Probe]:
    """Every (source, target) probe over the union of the labs' sources and targets."""
    srcs: dict[str, None] = {}
    tgts: dict[tuple[str, str, int], str] = {}
    for lab in labs:
        srcs.update(dict.fromkeys(sources(lab)))
        for proto, addr, port, desc in targets(lab):
            tgts.setdefault((proto, addr, port), desc)
    return sorted(Probe(s, proto, addr, port, desc) for s in srcs for (proto, addr, port), desc in tgts.items())


def probe(lab: Lab, probes: list[Probe], concurrent: bool | None = None) -> Matrix:
    """Run the probes on `lab`: one after the other (sim: simulated time is free), or in batches
    of background jobs (real: an unreachable probe costs a wall-clock second)."""
    if concurrent is None:
        concurrent = lab.backend == "real"
    present = sources(lab)
    out: Matrix = {p.key: None for p in probes if p.src not in present}
    todo = [p for p in probes if p.src in present]
    if not concurrent:
        for p in todo:
            out[p.key] = _run(lab, p.src, p.line)
        return out
    for i in range(0, len(todo), BATCH):
        out.update(_batch(lab, todo[i:i + BATCH]))
    return out


def _run(lab: Lab, src: str, line: str) -> bool | str:
    try:
        return lab.run(src, line).exit_code == 0
    except Exception as e:  # a crash of the backend is a finding, not the end
        return f"error: {type(e).__name__}: {e}"


def _batch(lab: Lab, probes: list[Probe]) -> Matrix:
    """Start every probe as a background job, then let the lab's clock run until all ended."""
    jobs: list[Any] = []
    for p in probes:
        before = len(lab.jobs)
        r = _run(lab, p.src, p.line + " &")
        jobs.append(lab.jobs[-1] if len(lab.jobs) > before and r is True else r)
    deadline = time.monotonic() + DEADLINE
    while any(_running(j) for j in jobs) and time.monotonic() < deadline:
        lab.wait(0.1)
    out: Matrix = {}
    for p, j in zip(probes, jobs, strict=True):
        if isinstance(j, str):
            out[p.key] = j
        elif isinstance(j, bool):
            out[p.key] = f"error: the job did not start ({p.line} &)"
        else:
            out[p.key] = j.exit_code == 0 if j.done else f"error: still running after {DEADLINE:g}s"
    return out


def _running(job: Any) -> bool:
    return not isinstance(job, bool | str) and not job.done


@dataclass
class CellDiff:
    """A probe whose outcome differs between the two labs."""

    probe: Probe
    a: bool | str | None
    b: bool | str | None


def diff(probes: list[Probe], a: Matrix, b: Matrix) -> list[CellDiff]:
    """The probes reachable on one side and not on the other (None: the source is missing there)."""
    return [CellDiff(p, a.get(p.key), b.get(p.key)) for p in probes if a.get(p.key) != b.get(p.key)]


def cell(v: bool | str | None) -> str:
    if isinstance(v, str):
        return v
    return "no such source" if v is None else "reachable" if v else "unreachable"
