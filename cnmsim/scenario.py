"""Scenarios: a lab described as data (hosts, segments, routers) plus a transcript with expectations.

    name: two-namespaces-bridge
    seed: 0
    hosts:
      - {name: host-A, address: 192.168.0.2/24, docker: false}
    steps:
      - host-A $ ip netns add ns1
      - wait 2s
      - run: host-A $ ping -c 1 10.0.0.3
        expect: {exit: 0, contains: ["1 received"]}

`gossip: {hosts: [host-A, host-B], config: lan}` starts memberlist among those hosts (UDP/TCP
7946), as swarm nodes run it; `serf members` on a host shows its view.
A step is a transcript line `WHERE $ LINE` (or `WHERE # LINE`), `wait DURATION`, or a mapping
with `run:` and `expect:` (exit, contains, not_contains, matches, stderr_contains, trace_stages).
Describe, then build: `Scenario.load(path).build()` realises it on a Lab.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from cnmsim.lab import Lab
from cnmsim.result import Result

LINE = re.compile(r"^\s*(?P<where>[^\s$#]+)\s*(?P<prompt>[$#])\s?(?P<line>.*)$")
WAIT = re.compile(r"^\s*wait\s+(?P<n>\d+(?:\.\d+)?)\s*(?P<unit>ms|s|m)?\s*$")
HOST_KEYS = {"name", "address", "docker", "segment", "gateway", "mtu", "latency", "bandwidth",
             "loss", "daemon"}


class ScenarioError(Exception):
    pass


@dataclass
class Step:
    kind: str  # "run" or "wait"
    where: str = ""
    line: str = ""
    seconds: float = 0.0
    prompt: str = "$"
    expect: dict[str, Any] = field(default_factory=dict)

    @property
    def text(self) -> str:
        return f"wait {self.seconds:g}s" if self.kind == "wait" else f"{self.where} {self.prompt} {self.line}"


@dataclass
class Outcome:
    step: Step
    result: Result | None
    failures: list[str]


def parse_step(raw: Any) -> Step:
    expect: dict[str, Any] = {}
    if isinstance(raw, dict):
        expect = dict(raw.get("expect") or {})
        raw = raw.get("run") or raw.get("step")
        if raw is None:
            raise ScenarioError("a step mapping needs a 'run:' line")
    text = str(raw)
    m = WAIT.match(text)
    if m:
        n = float(m.group("n")) * {"ms": 0.001, "s": 1, "m": 60, None: 1}[m.group("unit")]
        return Step("wait", seconds=n, expect=expect)
    m = LINE.match(text)
    if not m:
        raise ScenarioError(f"not a transcript line (WHERE $ LINE) or wait: {text!r}")
    return Step("run", m.group("where"), m.group("line"), prompt=m.group("prompt"), expect=expect)


def check(step: Step, r: Result) -> list[str]:
    """Compare a result with the step's expectations; the list of what did not hold."""
    e, bad = step.expect, []
    if "exit" in e and r.exit_code != int(e["exit"]):
        bad.append(f"exit code {r.exit_code}, expected {e['exit']}")
    if e.get("ok") is True and not r.ok:
        bad.append(f"exit code {r.exit_code}, expected success")
    out = r.stdout
    for s in _list(e.get("contains")):
        if s not in out:
            bad.append(f"stdout does not contain {s!r}")
    for s in _list(e.get("not_contains")):
        if s in out:
            bad.append(f"stdout contains {s!r}")
    for s in _list(e.get("stderr_contains")):
        if s not in r.stderr:
            bad.append(f"stderr does not contain {s!r}")
    for rx in _list(e.get("matches")):
        if not re.search(rx, out, re.M):
            bad.append(f"stdout does not match /{rx}/")
    stages = set(r.trace.stages())
    for s in _list(e.get("trace_stages")):
        if s not in stages:
            bad.append(f"trace has no {s!r} event")
    return bad


def _list(v: Any) -> list[str]:
    if v is None:
        return []
    return [str(x) for x in v] if isinstance(v, list) else [str(v)]


@dataclass
class Scenario:
    name: str
    description: str = ""
    seed: int = 0
    hosts: list[dict[str, Any]] = field(default_factory=list)
    segments: list[dict[str, Any]] = field(default_factory=list)
    routers: list[dict[str, Any]] = field(default_factory=list)
    internet: dict[str, Any] | bool = False
    gossip: dict[str, Any] | None = None  # {hosts: [...], config: lan}: memberlist among those hosts
    steps: list[Step] = field(default_factory=list)
    path: Path | None = None

    @classmethod
    def load(cls, path: str | Path) -> Scenario:
        p = Path(path)
        try:
            data = yaml.safe_load(p.read_text())
        except OSError as e:
            raise ScenarioError(f"cannot read {path}: {e.strerror}") from None
        except yaml.YAMLError as e:
            raise ScenarioError(f"{path}: not valid YAML: {e}") from None
        return cls.from_dict(data, p)

    @classmethod
    def from_dict(cls, data: dict[str, Any], path: Path | None = None) -> Scenario:
        if not isinstance(data, dict):
            raise ScenarioError("a scenario is a mapping with hosts and steps")
        hosts = data.get("hosts") or []
        for h in hosts:
            unknown = set(h) - HOST_KEYS
            if unknown or "name" not in h:
                raise ScenarioError(f"host entry {h!r}: needs a name; unknown keys {sorted(unknown)}")
        return cls(
            name=str(data.get("name") or (path.stem if path else "scenario")),
            description=str(data.get("description") or ""),
            seed=int(data.get("seed", 0)),
            hosts=hosts,
            segments=data.get("segments") or [],
            routers=data.get("routers") or [],
            internet=data.get("internet") or False,
            gossip=data.get("gossip") or None,
            steps=[parse_step(s) for s in data.get("steps") or []],
            path=path,
        )

    def build(self, seed: int | None = None, **lab_kw: Any) -> Lab:
        """Realise the described topology on a new Lab."""
        lab = Lab(seed=self.seed if seed is None else seed, **lab_kw)
        try:
            self._realise(lab)
        except BaseException:
            lab.close()  # the real backend: nothing of a half-built lab stays behind
            raise
        return lab

    def _realise(self, lab: Lab) -> None:
        if self.gossip and lab.real is not None:
            raise ScenarioError("the gossip control plane runs over the simulated underlay only; "
                                "this scenario cannot run on the real backend")
        if lab.real is not None:
            from cnmsim.kernel.real.requirements import refusal

            why = refusal(s.line for s in self.steps if s.kind != "wait")
            if why:
                raise ScenarioError(f"scenario {self.name} cannot run on the real backend: {why}")
        for s in self.segments:
            lab.segment(s["name"], mtu=int(s.get("mtu", 1500)))
        if self.internet:
            opts = self.internet if isinstance(self.internet, dict) else {}
            lab.add_internet(**opts)
        for r in self.routers:
            lab.add_router(r["name"], r["interfaces"])
        for h in self.hosts:
            kw = {k: v for k, v in h.items() if k != "name"}
            for k in ("latency",):  # written in milliseconds in scenario files
                if k in kw:
                    kw[k] = float(kw[k]) / 1000
            lab.add_host(h["name"], **kw)
        if self.gossip:
            from cnmsim.swarm.gossip.lab import start_lab_gossip

            start_lab_gossip(lab, list(self.gossip["hosts"]), self.gossip.get("config", "lan"))

    def play(self, lab: Lab, on_step: Callable[[Outcome], None] | None = None) -> Iterator[Outcome]:
        """Run every step in order, yielding each outcome (result and failed expectations)."""
        for step in self.steps:
            if step.kind == "wait":
                r = lab.wait(step.seconds)
            else:
                r = lab.run(step.where, step.line)
            out = Outcome(step, r, check(step, r) if step.expect else [])
            if on_step:
                on_step(out)
            yield out
