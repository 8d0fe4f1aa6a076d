"""The extension framework: what a match or target module accepts, and how it prints.

An `Ext` is one libxt_* module as iptables 1.8.9 has it: its long options (with their aliases,
argument count and whether `!` may precede them), a canonicaliser per option that turns the
argument into the text iptables-save prints, a final check (required options, conflicts,
defaults), and the `-L` text.  Parsing a rule collects options per module instance; `finish`
returns them in iptables-save's order, which is the module's option order.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from cnmsim.netfilter.errors import param
from cnmsim.netfilter.model import Option, Rule

Canon = Callable[[list[str], "Ctx"], tuple[str, ...]]
Finish = Callable[[dict[str, Option], "Ctx"], None]
Describe = Callable[[dict[str, Option], bool, Rule], str]


@dataclass
class Ctx:
    """What an extension may look at while parsing: the rule so far and the table."""

    rule: Rule
    table: str = "filter"

    @property
    def proto(self) -> str | None:
        """The rule's protocol name when not negated (`-p tcp`), for services and checks."""
        return None if self.rule.proto_neg else self.rule.proto


@dataclass
class OptSpec:
    name: str  # "--dport"
    nargs: int = 1  # 0: a flag; 2: `--match-set NAME FLAGS`, `--tcp-flags MASK COMP`
    invert: bool = True
    canon: Canon | None = None
    aliases: tuple[str, ...] = ()
    quote: bool = False  # saved with xtables_save_string (comments, log prefixes)
    store: str | None = None  # saved under another name (`--syn` -> `--tcp-flags`)
    once: str | None = None  # the "only once" message when not xtables' default


@dataclass
class Ext:
    name: str
    opts: list[OptSpec]
    finish: Finish | None = None
    describe: Describe | None = None
    old_style_invert: bool = False  # errors for `!` on non-invertible options
    by_name: dict[str, OptSpec] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for o in self.opts:
            self.by_name[o.name] = o
            for a in o.aliases:
                self.by_name[a] = o

    @property
    def order(self) -> list[str]:
        return [o.store or o.name for o in self.opts]

    def add(self, opts: dict[str, Option], spec: OptSpec, values: list[str], neg: bool,
            ctx: Ctx) -> None:
        """Record one option occurrence (canonicalised); duplicates and bad `!` are errors."""
        key = spec.store or spec.name
        if key in opts:
            raise param(spec.once or f'{self.name}: option "{spec.name}" can only be used once.\n')
        if neg and not spec.invert:
            raise param(f'{self.name}: option "{spec.name}" cannot be inverted.\n')
        vals = spec.canon(values, ctx) if spec.canon else tuple(values)
        opts[key] = Option(key, vals, neg)

    def complete(self, opts: dict[str, Option], ctx: Ctx) -> list[Option]:
        """Final checks and defaults, then the options in save order."""
        if self.finish:
            self.finish(opts, ctx)
        rank = {n: i for i, n in enumerate(self.order)}
        return sorted(opts.values(), key=lambda o: rank.get(o.name, len(rank)))


def save_string(value: str) -> str:
    """xtables_save_string: bare when only [A-Za-z0-9_-], else double-quoted with \\ escapes."""
    safe = "_-0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
    if value and all(c in safe for c in value):
        return value
    return '"' + "".join("\\" + c if c in "\"\\'" else c for c in value) + '"'


def save_options(ext: Ext | None, options: list[Option]) -> str:
    """The options as iptables-save prints them: ` [!] --name value...` each."""
    out = []
    for o in options:
        spec = ext.by_name.get(o.name) if ext else None
        vals = [save_string(v) for v in o.values] if spec is not None and spec.quote else list(o.values)
        out.append((" !" if o.neg else "") + " " + " ".join([o.name, *vals]))
    return "".join(out)


def one(values: list[str]) -> str:
    return values[0]


def upper_list(allowed: tuple[str, ...], err: str) -> Canon:
    """A comma list of names (any case) printed upper-case in `allowed` order."""

    def canon(values: list[str], ctx: Ctx) -> tuple[str, ...]:
        seen = set()
        for item in values[0].split(","):
            u = item.upper()
            if u not in allowed:
                raise param(err.format(item))
            seen.add(u)
        return (",".join(n for n in allowed if n in seen),)

    return canon
