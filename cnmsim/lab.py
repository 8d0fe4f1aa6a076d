"""The Lab: one simpy environment, one seeded RNG, one trace bus, and the hosts on its underlay.

    lab = Lab(seed=0)
    lab.add_host("host-A", address="192.168.0.2/24")
    r = lab.run("host-A", "ping -c 1 192.168.0.3")
    r.exit_code, r.stdout, r.trace
"""

from __future__ import annotations

import queue
import random
from collections.abc import Callable
from typing import Any

import simpy
import simpy.rt

from cnmsim.host import Host
from cnmsim.kernel.sim.context import SimContext
from cnmsim.kernel.sim.segment import Segment
from cnmsim.place import Place
from cnmsim.result import Result
from cnmsim.shell.parser import ParseError, parse
from cnmsim.shell.runner import Terminal, run_line
from cnmsim.trace.bus import TraceBus
from cnmsim.trace.events import Trace
from cnmsim.trace.sinks import MemorySink, PcapTap


class Job:
    """A line started with a trailing `&`."""

    def __init__(self, number: int, line: str, where: str, term: Terminal) -> None:
        self.number = number
        self.line = line
        self.where = where
        self.term = term
        self.process: simpy.Process | None = None
        self.pid = 0
        self.exit_code: int | None = None

    @property
    def done(self) -> bool:
        return self.exit_code is not None

    @property
    def stdout(self) -> str:
        return "".join(self.term.stdout)

    @property
    def stderr(self) -> str:
        return "".join(self.term.stderr)


class Lab:
    """A simulated lab of hosts. Two labs never share state."""

    def __init__(self, seed: int = 0, backend: str = "sim", trace: bool = True,
                 interrupt_after: float | None = None) -> None:
        if backend not in ("sim", "real"):
            raise ValueError(f"unknown backend {backend!r} (choose 'sim' or 'real')")
        self.seed = seed
        self.backend = backend
        # the real backend runs in wall-clock time: `wait 6s` really waits, real programs run
        self.env = simpy.Environment() if backend == "sim" else simpy.rt.RealtimeEnvironment(strict=False)
        self._posted: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
        self.rng = random.Random(seed)
        self.bus = TraceBus(lambda: self.env.now)
        # two streams from one seed: the lab's (the engine's ids, names and MACs, the NICs' MACs: what
        # a command decides, identical on both backends) and the simulated kernel's and programs'
        # (IP ids, TCP ISNs, neighbour timers, DNS ids: what traffic decides, absent on the real one)
        self.ctx = SimContext(self.env, random.Random(f"{seed}/kernel"), self.bus)
        self.tracing = trace
        # a foreground line still running then gets Ctrl-C (simulated seconds; wall-clock when real)
        self.interrupt_after = interrupt_after if interrupt_after is not None else (
            60.0 if backend == "sim" else 15.0)
        self.hosts: dict[str, Host] = {}
        self.segments: dict[str, Segment] = {}
        self.places: dict[str, Place] = {}
        self.jobs: list[Job] = []
        self._pid = 1000
        self.internet: Any = None  # the outside world, once add_internet() built it
        self.real: Any = None  # the real-kernel backend (prefix, underlay namespace), when real
        if backend == "real":
            from cnmsim.kernel.real.backend import RealBackend

            self.real = RealBackend(self)

    # ------------------------------------------------------------ the real backend's life
    def close(self) -> None:
        """Stop what runs and remove the lab's namespaces (real backend; harmless on the sim)."""
        if self.real is not None:
            for host in self.hosts.values():
                if host.engine is not None:
                    host.engine.shutdown()
            self.real.close()

    def __enter__(self) -> Lab:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def new_kernel(self, hostname: str) -> Any:
        """A host's kernel: simulated, or a set of real namespaces under the lab's prefix."""
        if self.real is not None:
            return self.real.new_kernel(hostname)
        from cnmsim.kernel.sim.kernel import SimKernel

        return SimKernel(self.ctx, hostname)

    def post(self, fn: Callable[[], None]) -> None:
        """Hand work to the lab's thread (thread-safe): real-mode helper threads use it to reach the
        engine, which only ever runs on the thread that calls run() and wait()."""
        self._posted.put(fn)

    def drain(self) -> None:
        """Run what helper threads posted."""
        while True:
            try:
                fn = self._posted.get_nowait()
            except queue.Empty:
                return
            fn()

    # ------------------------------------------------------------ building
    def segment(self, name: str = "lan", mtu: int = 1500) -> Segment:
        """The named underlay segment, created on first use."""
        seg = self.segments.get(name)
        if seg is None:
            seg = self.segments[name] = (Segment(self.ctx, name, mtu) if self.real is None
                                         else self.real.segment(name, mtu))
        return seg

    def add_host(self, name: str, address: str | None = None, docker: bool = True,
                 segment: str = "lan", gateway: str | None = None, mtu: int | None = None,
                 latency: float = 50e-6, bandwidth: float | None = 1e9, loss: float = 0.0,
                 daemon: dict[str, Any] | None = None) -> Host:
        """Add a machine with eth0 on `segment` (a Docker host unless docker=False)."""
        if name in self.places:
            raise ValueError(f"a host or container named {name!r} already exists")
        host = Host(self, name, docker=docker, daemon=daemon)
        self.hosts[name] = host
        self.places[name] = host.place
        if address is not None:
            host.add_nic(self.segment(segment), address, mtu=mtu, latency=latency,
                         bandwidth=bandwidth, loss=loss)
        if gateway:
            host.set_gateway(gateway)
        if self.internet is not None:
            self.internet.adopt(host)  # LAN hosts get the internet's resolver in resolv.conf
        if docker:
            from cnmsim.engine.daemon import Daemon

            host.engine = Daemon(host, daemon)  # dockerd starts at boot: docker0, its iptables rules
        return host

    def add_internet(self, **kw: Any) -> Any:
        """A gateway, a DNS resolver and web servers (example.com ...) beyond the LAN (cnmsim.internet)."""
        from cnmsim.internet import add_internet

        if self.real is not None:
            raise ValueError("the simulated internet (resolver, web servers) is not available on the real "
                             "backend: no traffic may leave the lab's namespaces")

        return add_internet(self, **kw)

    def add_router(self, name: str, interfaces: dict[str, str], **kw: Any) -> Host:
        """A docker=False host with one NIC per segment and ip_forward=1 (cnmsim.underlay)."""
        from cnmsim.underlay import add_router

        return add_router(self, name, interfaces, **kw)

    def register_place(self, place: Place, *aliases: str) -> None:
        """Make a container (or other sandbox) addressable by `run(name, ...)`."""
        for n in (place.name, *aliases):
            self.places[n] = place

    def unregister_place(self, place: Place) -> None:
        for n in [n for n, p in self.places.items() if p is place]:
            del self.places[n]

    def capture(self, path: str, *interfaces: str) -> PcapTap:
        """Record what crosses the given interfaces into one pcap file (close() it when done).

        Interfaces are "host:dev" (root namespace) or "host/netns:dev", e.g. "host-A:eth0".
        """
        devs = []
        for spec in interfaces:
            where, _, dev = spec.rpartition(":")
            hname, _, nsname = where.partition("/")
            if hname not in self.hosts or not dev:
                raise ValueError(f"not an interface of this lab: {spec!r} (use host:dev or host/netns:dev)")
            devs.append(self.hosts[hname].kernel.netns(nsname).dev(dev))
        return PcapTap(path, devs, lambda: self.env.now)

    def __getitem__(self, name: str) -> Host:
        return self.hosts[name]

    def next_pid(self) -> int:
        self._pid += 1
        return self._pid

    # ------------------------------------------------------------ running
    @property
    def now(self) -> float:
        return self.env.now

    def wait(self, seconds: float) -> Result:
        """Let simulated time pass (background jobs, timers, gossip go on)."""
        sink = self._record()
        try:
            self.drain()
            if float(seconds) > 0 and self.real is not None:
                until = self.env.now + float(seconds)
                while self.env.now < until:  # wall-clock: let helper threads' news in as time passes
                    self.env.run(until=min(until, self.env.now + 0.05))
                    self.drain()
            elif float(seconds) > 0:
                self.env.run(until=self.env.now + float(seconds))
            else:  # wait 0: what is due now happens, time does not move
                while self.env.peek() <= self.env.now:
                    self.env.step()
        finally:
            self._stop(sink)
        return Result(0, trace=sink.trace if sink else Trace())

    def run(self, where: str, line: str) -> Result:
        """Run one transcript line `where $ line`; returns what the terminal shows."""
        place = self.places.get(where)
        if place is None:
            return Result(1, "", f"cnmsim: no host or container named {where!r}\n")
        try:
            parsed = parse(line)
        except ParseError as e:
            return Result(2, "", f"{e}\n")
        if not parsed.pipelines:
            return Result(0)
        term = Terminal()
        sink = self._record()
        try:
            self.drain()
            if parsed.background:
                job = Job(len(self.jobs) + 1, line, where, term)
                self.jobs.append(job)
                job.pid = self.next_pid()
                job.process = self.env.process(self._job(job, place, parsed))
                if self.real is not None:  # a real program starts now, not at the next line
                    while self.env.peek() <= self.env.now:
                        self.env.step()
                return Result(0, f"[{job.number}] {job.pid}\n", "",
                              sink.trace if sink else Trace())
            proc = self.env.process(run_line(self, place, parsed, term))
            code = self._finish(proc)
            self.drain()
        finally:
            self._stop(sink)
        return Result(code, "".join(term.stdout), "".join(term.stderr), sink.trace if sink else Trace())

    def _job(self, job: Job, place: Place, parsed):  # noqa: ANN001, ANN202
        job.exit_code = yield from run_line(self, place, parsed, job.term)
        return job.exit_code

    def _finish(self, proc: simpy.Process) -> int:
        """Run until the line ends; interrupt it (Ctrl-C) if it would never end on its own."""
        env = self.env
        limit = env.now + self.interrupt_after
        while not proc.triggered and env.peek() <= limit:
            env.step()
        if not proc.triggered:  # nothing left to happen before the limit: it would wait forever
            proc.interrupt("SIGINT")
            env.run(until=proc)
        if not proc.ok:  # a bug in a simulated program: surface it, don't print it as an exit code
            raise proc.value
        return int(proc.value or 0)

    def _record(self) -> MemorySink | None:
        if not self.tracing:
            return None
        sink = MemorySink()
        self.bus.subscribe(sink)
        return sink

    def _stop(self, sink: MemorySink | None) -> None:
        if sink is not None:
            self.bus.unsubscribe(sink)

    def __repr__(self) -> str:
        return f"<Lab seed={self.seed} hosts={list(self.hosts)} t={self.env.now:.3f}s>"
