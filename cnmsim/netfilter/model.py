"""The iptables ruleset as data: tables, chains, rules, matches and targets.

This is the text interface's model: `iptables-restore` text parses into it and
`iptables-save` text prints from it (cnmsim.netfilter.parse / .format), the `iptables` command
edits it, and the simulated kernel compiles it for evaluation (cnmsim.kernel.sim.nf).  Values
are kept as iptables-save prints them (canonical text), so save(restore(x)) == x.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

BUILTIN_CHAINS: dict[str, tuple[str, ...]] = {
    "raw": ("PREROUTING", "OUTPUT"),
    "mangle": ("PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"),
    "nat": ("PREROUTING", "INPUT", "OUTPUT", "POSTROUTING"),
    "filter": ("INPUT", "FORWARD", "OUTPUT"),
}
TABLES = ("raw", "mangle", "nat", "filter")
STANDARD_TARGETS = ("ACCEPT", "DROP", "RETURN", "QUEUE")


@dataclass
class Option:
    """One option of a match or target: `--dport 80`, `! --ctstate NEW`, `--to-destination 10.0.0.2:80`."""

    name: str  # with its dashes: "--dport"
    values: tuple[str, ...] = ()  # canonical text values; () for a flag
    neg: bool = False


@dataclass
class Match:
    """`-m MODULE [options]` (also the implicit `-m tcp` that `-p tcp --dport` implies)."""

    module: str
    options: list[Option] = field(default_factory=list)

    def get(self, name: str) -> Option | None:
        return next((o for o in self.options if o.name == name), None)


@dataclass
class Target:
    """`-j NAME [options]` or `-g CHAIN`."""

    name: str
    options: list[Option] = field(default_factory=list)
    goto: bool = False

    def get(self, name: str) -> Option | None:
        return next((o for o in self.options if o.name == name), None)


@dataclass
class Rule:
    """One rule; the basic matches are fields, extensions are `matches` in their order."""

    src: str | None = None  # canonical "10.0.0.0/24" (a host is "10.0.0.2/32")
    src_neg: bool = False
    dst: str | None = None
    dst_neg: bool = False
    iif: str | None = None  # may end in "+" (prefix wildcard)
    iif_neg: bool = False
    oif: str | None = None
    oif_neg: bool = False
    proto: str | None = None  # "tcp", "udp", "icmp", or a number
    proto_neg: bool = False
    fragment: bool | None = None  # -f / ! -f
    matches: list[Match] = field(default_factory=list)
    target: Target | None = None
    packets: int = 0
    bytes: int = 0

    def match(self, module: str) -> Match | None:
        return next((m for m in self.matches if m.module == module), None)


@dataclass
class Chain:
    name: str
    policy: str | None = None  # "ACCEPT"/"DROP" for built-in chains, None for user chains
    rules: list[Rule] = field(default_factory=list)
    packets: int = 0  # policy counters of a built-in chain
    bytes: int = 0

    @property
    def builtin(self) -> bool:
        return self.policy is not None


@dataclass
class Table:
    name: str
    chains: dict[str, Chain] = field(default_factory=dict)

    @classmethod
    def empty(cls, name: str) -> Table:
        return cls(name, {c: Chain(c, "ACCEPT") for c in BUILTIN_CHAINS[name]})


@dataclass
class Ruleset:
    """All tables of one network namespace; `generation` bumps on every change (cache key).

    `present` names the tables that exist in the kernel: nf_tables creates a table the first
    time a command or a restore touches it, and iptables-save prints only those.
    """

    tables: dict[str, Table] = field(default_factory=lambda: {t: Table.empty(t) for t in TABLES})
    generation: int = 0
    present: set[str] = field(default_factory=set)

    def table(self, name: str) -> Table:
        return self.tables[name]

    def copy(self, tables: set[str] | None = None) -> Ruleset:
        """A copy to change; with `tables`, only those are copied and the others shared
        (iptables-restore text that names one table leaves the others untouched)."""
        if tables is None:
            return copy.deepcopy(self)
        new = copy.copy(self)
        new.tables = {n: copy.deepcopy(t) if n in tables else t for n, t in self.tables.items()}
        new.present = set(self.present)
        return new

    def touch(self) -> None:
        self.generation += 1
