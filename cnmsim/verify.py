"""`cnmsim verify`: run one scenario on the simulator and on the real kernel, and compare them.

    report = verify("scenarios/default-bridge.yaml")
    report.ok, report.differences

What is compared, for the same scenario and seed on both backends:
  steps         each transcript step's exit code (expectation results are kept as notes only:
                real programs print iputils/OpenBSD formats where the sim prints busybox's)
  ids           the engine's network and container ids and sandbox keys (drawn from the lab RNG,
                so equal for equal seeds when both backends draw the same numbers)
  containers    each container's state and exit code at the end
  reachability  the matrix of cnmsim.verify_matrix (ICMP and TCP, every source to every target)
  iptables      iptables-save of every namespace, counters and comments normalised away
  routes        the main routing table of every namespace, as sets of api.Route records
  addresses     the IPv4 addresses of every namespace, as sets of api.AddrInfo records
Namespaces are keyed by (host, label): "root", "netns NAME", or "container NAME" for a sandbox,
so that a sandbox is matched by its container even if its key differed.  Likewise a bridge named
after its network id (br-<12 hex>) is renamed br-<network name> before rules, routes and
addresses are compared: the ids are compared once, under "ids", and one divergence of the random
streams then does not reappear as a difference in every rule and route naming the bridge.
`compare()` takes any two labs, so sim-vs-sim runs without root (tests, `--skip-real-check`).
"""

from __future__ import annotations

import dataclasses
import json
import re
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cnmsim import verify_matrix as vm

if TYPE_CHECKING:
    from cnmsim.lab import Lab
    from cnmsim.scenario import Scenario

SECTIONS = ("steps", "ids", "containers", "namespaces", "reachability", "iptables", "routes", "addresses")
COUNTERS = re.compile(r"\[\d+:\d+\]")
BRIDGE = re.compile(r"\bbr-[0-9a-f]{12}\b")


@dataclass
class Difference:
    """One thing that is not the same on both sides."""

    section: str  # one of SECTIONS
    where: str  # "host-A root", "step 7: c2 # ping -c 1 172.17.0.2", "laptop -> 172.18.0.2 icmp"
    what: str  # a short description
    a: Any = None  # the first lab's value (the simulator's, in `cnmsim verify`)
    b: Any = None  # the second lab's value (the real kernel's)


@dataclass
class Report:
    """What `verify` found; `ok` when there is no difference."""

    scenario: str = ""
    seed: int = 0
    labels: tuple[str, str] = ("sim", "real")
    differences: list[Difference] = field(default_factory=list)
    notes: list[Difference] = field(default_factory=list)  # not counted (expectation-only)
    stats: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.differences

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["ok"] = self.ok
        return d

    def to_json(self) -> str:
        return json.dumps(self.as_dict(), default=str, indent=1)

    def to_text(self) -> str:
        a, b = self.labels
        lines = [f"verify {self.scenario} (seed {self.seed}): {a} vs {b}"]
        for sec in SECTIONS:
            diffs = [d for d in self.differences if d.section == sec]
            notes = [d for d in self.notes if d.section == sec]
            count = self.stats.get(f"{sec}_compared")
            head = f"{sec}: " + (f"{len(diffs)} difference(s)" if diffs else "same")
            lines.append(head + (f" ({count} compared)" if count is not None else ""))
            for d in diffs:
                lines.append(f"  {d.where}: {d.what}")
                lines += _values(a, d.a) + _values(b, d.b)
            for d in notes:
                lines.append(f"  note: {d.where}: {d.what}")
                lines += _values(a, d.a) + _values(b, d.b)
        t = ", ".join(f"{k} {v:.1f}s" for k, v in self.stats.items() if k.startswith("time_"))
        lines.append(("OK: no differences" if self.ok else f"{len(self.differences)} difference(s)")
                     + (f" [{t}]" if t else ""))
        return "\n".join(lines) + "\n"


def _values(label: str, v: Any) -> list[str]:
    if v is None or v == [] or v == "":
        return []
    items = v if isinstance(v, list) else [v]
    return [f"    {label}: {x}" for x in items]


# ---------------------------------------------------------------- iptables text
def normalise_iptables(text: str) -> dict[str, list[str]]:
    """iptables-save text -> {table: lines}, without comments or trailing spaces, with every
    counter `[n:m]` set to [0:0] and the embedded DNS ports made symbolic (canonical_dns_ports).
    A table with no rule, no user chain and only ACCEPT policies is dropped: it behaves as an
    absent one, and whether the kernel lists it depends only on which tables something touched
    before (iptables-nft creates a table on first use)."""
    tables: dict[str, list[str]] = {}
    cur: list[str] | None = None
    for raw in text.splitlines():
        line = raw.rstrip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("*"):
            cur = tables.setdefault(line[1:], [])
            continue
        if line == "COMMIT" or cur is None:
            continue
        cur.append(COUNTERS.sub("[0:0]", line))
    if "nat" in tables:
        tables["nat"] = canonical_dns_ports(tables["nat"])
    return {t: lines for t, lines in tables.items() if not _pristine(lines)}


DNS_DNAT = re.compile(r"-p (tcp|udp) .*--to-destination 127\.0\.0\.11:(\d+)$")
DNS_SNAT = re.compile(r"^(-A \S+ -s 127\.0\.0\.11/32 -p (tcp|udp) .*--sport )(\d+)( )")


def canonical_dns_ports(lines: list[str]) -> list[str]:
    """Put <dns-tcp>/<dns-udp> for the embedded DNS server's listening ports in a sandbox's nat rules.

    libnetwork's resolver binds 127.0.0.11:0 and the kernel picks the port, so the real backend's
    ports are the kernel's ephemeral choice and no seed can make them match the simulator's.  The
    rules stay checked for consistency: a SNAT --sport that is not the port its protocol's DNAT
    points to keeps its number and shows up as a difference."""
    ports = {m.group(2): m.group(1) for ln in lines if (m := DNS_DNAT.search(ln))}
    if not ports:
        return lines
    out = []
    for ln in lines:
        if (m := DNS_DNAT.search(ln)) and ports.get(m.group(2)) == m.group(1):
            ln = ln[:m.start(2)] + f"<dns-{m.group(1)}>" + ln[m.end(2):]
        elif (m := DNS_SNAT.search(ln)) and ports.get(m.group(3)) == m.group(2):
            ln = f"{m.group(1)}<dns-{m.group(2)}>{m.group(4)}{ln[m.end():]}"
        out.append(ln)
    return out


def _pristine(lines: list[str]) -> bool:
    return all(ln.startswith(":") and ln.split()[1] == "ACCEPT" for ln in lines)


def chain_orders(lines: list[str]) -> dict[str, list[str]]:
    """The rules of each chain in order (rule order matters to netfilter, line sets do not show it)."""
    out: dict[str, list[str]] = {}
    for ln in lines:
        if ln.startswith("-A "):
            out.setdefault(ln.split()[1], []).append(ln)
    return out


def diff_rules(where: str, a: dict[str, list[str]], b: dict[str, list[str]]) -> list[Difference]:
    """Per table: lines only on one side; with the same lines, chains whose rule order differs."""
    out = []
    for table in sorted(set(a) | set(b)):
        la, lb = a.get(table), b.get(table)
        if la is None or lb is None:
            what = f"table {table} only on the " + ("second" if la is None else "first") + " side"
            out.append(Difference("iptables", where, what, la or [], lb or []))
            continue
        only_a = [x for x in la if x not in set(lb)]
        only_b = [x for x in lb if x not in set(la)]
        if only_a or only_b:
            out.append(Difference("iptables", f"{where} *{table}", "rules differ", only_a, only_b))
            continue
        oa, ob = chain_orders(la), chain_orders(lb)
        for chain in sorted(c for c in oa if oa[c] != ob.get(c)):
            out.append(Difference("iptables", f"{where} *{table}", f"rule order of {chain} differs",
                                  oa[chain], ob.get(chain, [])))
    return out


# ---------------------------------------------------------------- namespace state
@dataclass
class NsState:
    """What is compared of one namespace."""

    rules: dict[str, list[str]]
    routes: set[Any]
    addrs: set[Any]
    errors: list[str] = field(default_factory=list)


def ids(lab: Lab) -> dict[str, str]:
    """"host network NAME" / "host container NAME" -> the engine's ids for it (a container's
    sandbox key only while it has a sandbox: whether it has one is its state, compared apart)."""
    out = {}
    for hname, host in lab.hosts.items():
        if host.engine is None:
            continue
        for net in host.engine.controller.networks.values():
            out[f"{hname} network {net.name}"] = f"id {net.id[:12]}"
        for c in host.engine.containers.values():
            key = f" sandbox {c.sandbox.key or '(host)'}" if c.sandbox is not None else ""
            out[f"{hname} container {c.name}"] = f"id {c.id[:12]}{key}"
    return out


def states(lab: Lab) -> dict[str, str]:
    """"host container NAME" -> "running" / "exited (1)" / "created"."""
    return {f"{h} container {c.name}": c.state + (f" ({c.exit_code})" if c.state == "exited" else "")
            for h, host in lab.hosts.items() if host.engine is not None
            for c in host.engine.containers.values()}


def _diff_maps(section: str, what: str, a: dict[str, str], b: dict[str, str]) -> list[Difference]:
    return [Difference(section, k, what, a.get(k, "absent"), b.get(k, "absent"))
            for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]


def bridge_names(lab: Lab) -> dict[str, dict[str, str]]:
    """host -> {"br-<id12>": "br-<network name>"} for each network of its engine."""
    out: dict[str, dict[str, str]] = {}
    for hname, host in lab.hosts.items():
        nets = host.engine.controller.networks.values() if host.engine is not None else []
        out[hname] = {f"br-{n.id[:12]}": f"br-<{n.name}>" for n in nets}
    return out


def _rename(text: str, names: dict[str, str]) -> str:
    return BRIDGE.sub(lambda m: names.get(m.group(0), m.group(0)), text) if names else text


def _rename_dev(rec: Any, names: dict[str, str]) -> Any:
    dev = getattr(rec, "dev", None)
    return dataclasses.replace(rec, dev=names[dev]) if dev in names else rec


def namespaces(lab: Lab) -> dict[tuple[str, str], Any]:
    """(host, label) -> api.Netns for each host root, named netns and container sandbox."""
    out: dict[tuple[str, str], Any] = {}
    seen: set[int] = set()
    for hname, host in lab.hosts.items():
        out[(hname, "root")] = host.root
        seen.add(id(host.root))
        for n in sorted(host.kernel.netns_list()):
            ns = host.kernel.netns(n)
            out[(hname, f"netns {n}")] = ns
            seen.add(id(ns))
    for hname, c, place in vm._containers(lab):
        if id(place.ns) not in seen:
            seen.add(id(place.ns))
            out[(hname, f"container {c.name}")] = place.ns
    return out


def snapshot(lab: Lab) -> dict[tuple[str, str], NsState]:
    """Rules, routes and addresses of every namespace; a read that fails is kept as an error."""
    out = {}
    renames = bridge_names(lab)
    for key, ns in namespaces(lab).items():
        st = NsState({}, set(), set())
        names = renames.get(key[0], {})
        for what, read in (
                ("iptables-save", lambda ns=ns, n=names: normalise_iptables(_rename(ns.iptables_save(), n))),
                ("routes", lambda ns=ns, n=names: {_rename_dev(r, n) for r in ns.routes()}),
                ("addresses", lambda ns=ns, n=names: {_rename_dev(a, n) for a in ns.addrs()})):
            try:
                value = read()
            except Exception as e:  # a backend gap is a finding, not a crash
                st.errors.append(f"{what}: {type(e).__name__}: {e}")
                continue
            setattr(st, {"iptables-save": "rules", "routes": "routes", "addresses": "addrs"}[what], value)
        out[key] = st
    return out


def diff_state(a: dict[tuple[str, str], NsState], b: dict[tuple[str, str], NsState]) -> list[Difference]:
    """Differences between two labs' namespace snapshots."""
    out: list[Difference] = []
    for key in sorted(set(a) | set(b)):
        where = " ".join(key)
        sa, sb = a.get(key), b.get(key)
        if sa is None or sb is None:
            out.append(Difference("namespaces", where, "namespace only on one side",
                                  "present" if sa else "absent", "present" if sb else "absent"))
            continue
        if sa.errors or sb.errors:
            out.append(Difference("namespaces", where, "could not be read", sa.errors, sb.errors))
        out += diff_rules(where, sa.rules, sb.rules)
        for sec, xa, xb in (("routes", sa.routes, sb.routes), ("addresses", sa.addrs, sb.addrs)):
            if xa != xb:
                out.append(Difference(sec, where, f"{sec} differ",
                                      sorted(map(_fmt, xa - xb)), sorted(map(_fmt, xb - xa))))
    return out


def _fmt(rec: Any) -> str:
    """A record without its default-valued fields, for a readable report."""
    fields = getattr(rec, "__dataclass_fields__", {})
    parts = [f"{k}={getattr(rec, k)!r}" for k, f in fields.items() if getattr(rec, k) != f.default]
    return f"{type(rec).__name__}({', '.join(parts)})"


# ---------------------------------------------------------------- steps
@dataclass
class StepResult:
    index: int
    text: str
    exit_code: int | None
    failures: list[str]


def play(sc: Scenario, lab: Lab) -> list[StepResult]:
    """Run the scenario's steps (as Scenario.play); each one's exit code and failed expectations.
    A step that raises is recorded (exit None) and the transcript goes on, so that one backend gap
    does not hide every later comparison."""
    from cnmsim.scenario import check

    out = []
    for i, step in enumerate(sc.steps, 1):
        try:
            r = lab.wait(step.seconds) if step.kind == "wait" else lab.run(step.where, step.line)
        except Exception as e:
            out.append(StepResult(i, step.text, None, [f"raised {type(e).__name__}: {e}"]))
            continue
        out.append(StepResult(i, step.text, r.exit_code, check(step, r) if step.expect else []))
    return out


def diff_steps(a: list[StepResult], b: list[StepResult]) -> tuple[list[Difference], list[Difference]]:
    """(differences: exit codes differ, notes: only the expectations' outcome differs)."""
    diffs, notes = [], []
    for sa, sb in zip(a, b, strict=False):
        where = f"step {sa.index}: {sa.text}"
        if sa.exit_code != sb.exit_code:
            diffs.append(Difference("steps", where, "exit codes differ",
                                    [f"exit {sa.exit_code}", *sa.failures], [f"exit {sb.exit_code}", *sb.failures]))
        elif bool(sa.failures) != bool(sb.failures):
            notes.append(Difference("steps", where, "expectations met on one side only (same exit code)",
                                    sa.failures or ["expectations met"], sb.failures or ["expectations met"]))
    if len(a) != len(b):
        diffs.append(Difference("steps", "transcript", "not the same number of steps", len(a), len(b)))
    return diffs, notes


# ---------------------------------------------------------------- the comparison
def compare(a: Lab, b: Lab, steps_a: list[StepResult] | None = None,
            steps_b: list[StepResult] | None = None, labels: tuple[str, str] = ("sim", "real"),
            reachability: bool = True) -> Report:
    """Compare two labs built from one scenario (already played: pass their step results)."""
    rep = Report(labels=labels, seed=a.seed)
    if steps_a is not None and steps_b is not None:
        rep.differences, rep.notes = diff_steps(steps_a, steps_b)
        rep.stats["steps_compared"] = len(steps_a)
    for sec, what, read in (("ids", "ids differ", ids), ("containers", "states differ", states)):
        xa, xb = read(a), read(b)
        rep.differences += _diff_maps(sec, what, xa, xb)
        rep.stats[f"{sec}_compared"] = len(set(xa) | set(xb))
    t = time.monotonic()
    sa, sb = snapshot(a), snapshot(b)
    rep.differences += diff_state(sa, sb)
    n = len(set(sa) | set(sb))
    rep.stats.update(namespaces_compared=n, iptables_compared=n, routes_compared=n, addresses_compared=n)
    rep.stats["time_state"] = time.monotonic() - t
    if reachability:
        probes = vm.plan(a, b)
        mats = []
        for lab, label in ((a, labels[0]), (b, labels[1])):
            t = time.monotonic()
            mats.append(vm.probe(lab, probes))
            rep.stats[f"time_probes_{label}"] = time.monotonic() - t
        ma, mb = mats
        rep.stats["reachability_compared"] = len(probes)
        rep.stats["reachable"] = {labels[0]: sum(v is True for v in ma.values()),
                                  labels[1]: sum(v is True for v in mb.values())}
        rep.differences += [Difference("reachability", str(d.probe), "reachable on one side only",
                                       vm.cell(d.a), vm.cell(d.b)) for d in vm.diff(probes, ma, mb)]
    order = {s: i for i, s in enumerate(SECTIONS)}
    rep.differences.sort(key=lambda d: order[d.section])
    return rep


def verify(scenario: str | Path | Scenario, seed: int | None = None, real: bool = True) -> Report:
    """Build and play the scenario on the simulator and on the real kernel (or, real=False, on a
    second simulator) and compare.  Raises ScenarioError/ValueError/PermissionError when the
    scenario cannot be built; both labs are closed whatever happens (Ctrl-C included)."""
    from cnmsim.scenario import Scenario

    sc = scenario if isinstance(scenario, Scenario) else Scenario.load(scenario)
    labels = ("sim", "real") if real else ("sim", "sim2")
    t0 = time.monotonic()
    a = b = None
    try:
        a = sc.build(seed=seed)
        b = sc.build(seed=seed, backend="real") if real else sc.build(seed=seed)
        t = time.monotonic()
        steps_a = play(sc, a)
        ta = time.monotonic()
        steps_b = play(sc, b)
        tb = time.monotonic()
        rep = compare(a, b, steps_a, steps_b, labels)
        rep.stats[f"time_steps_{labels[0]}"] = ta - t
        rep.stats[f"time_steps_{labels[1]}"] = tb - ta
    finally:
        _close(b, a)
    rep.scenario = sc.name
    rep.seed = a.seed
    rep.stats["time_total"] = time.monotonic() - t0
    return rep


def _close(*labs: Lab | None) -> None:
    """Close every lab, even when closing one of them fails or is interrupted."""
    if not labs:
        return
    try:
        if labs[0] is not None:
            labs[0].close()
    finally:
        _close(*labs[1:])
