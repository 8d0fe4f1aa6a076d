"""The iptables command line, parsed as iptables 1.8.9 (nf_tables) parses it (xshared.c).

`parse_command(argv)` reads a whole `iptables` argv (the command, the table, the rule spec, the
list flags) into a `Command`; `parse_rule(spec)` reads just a rule spec (what follows
`-A CHAIN`) into a canonical `Rule`.  Options are taken in order, getopt-style: `!` negates the
next option, long options may be abbreviated, an unknown option first tries the match named by
`-p` (so `-p tcp --dport 80` grows an implicit `-m tcp` at that point), and the most recently
loaded extension wins a name both know.  Errors are `IptError`s with iptables' own words.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from cnmsim.netfilter import values as V
from cnmsim.netfilter.errors import IptError, bad_argument, param
from cnmsim.netfilter.ext import Ctx, Ext
from cnmsim.netfilter.matches import MATCHES, PROTO_MATCHES
from cnmsim.netfilter.model import STANDARD_TARGETS, Match, Option, Rule, Target
from cnmsim.netfilter.targets import TARGETS

# command letter -> (long name, how many required args, optional args)
COMMANDS = {"A": ("append", 1, 0), "C": ("check", 1, 0), "D": ("delete", 1, 1),
            "I": ("insert", 1, 1), "R": ("replace", 2, 0), "L": ("list", 0, 2),
            "S": ("list-rules", 0, 2), "F": ("flush", 0, 1), "Z": ("zero", 0, 2),
            "N": ("new-chain", 1, 0), "X": ("delete-chain", 0, 1), "P": ("policy", 2, 0),
            "E": ("rename-chain", 2, 0), "h": ("help", 0, 0), "V": ("version", 0, 0)}
# option letter -> long name, for the options that are not commands
OPTIONS = {"p": "protocol", "s": "source", "d": "destination", "j": "jump", "g": "goto",
           "i": "in-interface", "o": "out-interface", "f": "fragment", "m": "match",
           "n": "numeric", "t": "table", "v": "verbose", "x": "exact", "c": "set-counters",
           "w": "wait", "W": "wait-interval", "4": "ipv4", "6": "ipv6"}
LONG = {v[0]: k for k, v in COMMANDS.items()} | {v: k for k, v in OPTIONS.items()} | {
    "src": "s", "dst": "d", "line-numbers": "line", "modprobe": "modprobe"}
TAKES_ARG = set("psdjgiomtc")


@dataclass
class Command:
    """One parsed iptables invocation."""

    op: str | None = None  # "A", "D", "L", ... (None: no command given)
    table: str = "filter"
    chain: str | None = None
    rulenum: int | None = None
    args: list[str] = field(default_factory=list)  # -P POLICY, -E NEWNAME
    rule: Rule | None = None
    numeric: bool = False
    verbose: int = 0
    exact: bool = False
    line_numbers: bool = False
    zero: bool = False  # `-L -Z`: list, then zero the counters
    used: set[str] = field(default_factory=set)  # option letters given

    @property
    def jump_chain(self) -> str | None:
        """The user chain the rule jumps/goes to (must exist), if any."""
        t = self.rule.target if self.rule else None
        if t is None or t.name in TARGETS or (t.name in STANDARD_TARGETS and not t.goto):
            return None
        return t.name


class _Builder:
    """Rule-spec state while argv is read: basic fields, loaded matches, the target."""

    def __init__(self, table: str) -> None:
        self.rule = Rule()
        self.ctx = Ctx(self.rule, table)
        self.loaded: list[tuple[Ext, dict[str, Option], Match | Target]] = []
        self.proto_used = False
        self.given: set[str] = set()  # basic options seen (each may appear once)
        self.counters: tuple[int, int] | None = None

    def basic(self, letter: str, value: str, neg: bool) -> None:
        r = self.rule
        if letter in self.given:
            raise param(f"multiple -{letter} flags not allowed")
        self.given.add(letter)
        if letter in "sd":
            addr, mask = V.parse_net(value)
            text = V.net_to_text(addr, mask) if mask or neg else None  # /0 matches all: dropped
            if letter == "s":
                r.src, r.src_neg = text, neg
            else:
                r.dst, r.dst_neg = text, neg
        elif letter in "io":
            if len(value) >= 16:
                raise param(f"interface name `{value}' must be shorter than IFNAMSIZ (15)")
            if letter == "i":
                r.iif, r.iif_neg = value, neg
            else:
                r.oif, r.oif_neg = value, neg
        elif letter == "p":
            n = V.proto_number(value)
            if n is None:
                raise param(f'unknown protocol "{value}" specified')
            r.proto, r.proto_neg = (V.proto_name(n), neg) if n else (None, False)
        elif letter == "f":
            r.fragment = not neg

    def load_match(self, name: str) -> None:
        ext = MATCHES.get(name)
        if ext is None:
            raise param(f"Couldn't load match `{name}':No such file or directory\n")
        m = Match(name)
        self.rule.matches.append(m)
        self.loaded.append((ext, {}, m))

    def set_target(self, name: str, goto: bool) -> None:
        if self.rule.target is not None:
            raise param(f"multiple -{'g' if goto else 'j'} flags not allowed")
        t = Target(name, [], goto)
        self.rule.target = t
        ext = None if goto else TARGETS.get(name)
        if ext is not None:
            self.loaded.append((ext, {}, t))

    def ext_option(self, name: str, argv: list[str], i: int, neg: bool) -> int | None:
        """Give `--name` to the newest extension that knows it; the args consumed, or None."""
        for ext, opts, _ in reversed(self.loaded):
            spec = _lookup(ext, name)
            if spec is None:
                continue
            vals = argv[i + 1:i + 1 + spec.nargs]
            if len(vals) < spec.nargs:
                raise param(f'option "{name}" requires an argument')
            ext.add(opts, spec, vals, neg, self.ctx)
            return spec.nargs
        return None

    def finish(self) -> Rule:
        for ext, opts, obj in self.loaded:
            obj.options = ext.complete(opts, self.ctx)
        merged: list[Match] = []
        for m in self.rule.matches:  # nft shows consecutive tcp/udp payload matches as one
            prev = merged[-1] if merged else None
            if (prev and m.module == prev.module and m.module in ("tcp", "udp")
                    and not {o.name for o in m.options} & {o.name for o in prev.options}):
                order = MATCHES[m.module].order
                prev.options = sorted(prev.options + m.options, key=lambda o: order.index(o.name))
            else:
                merged.append(m)
        self.rule.matches = merged
        if self.counters:
            self.rule.packets, self.rule.bytes = self.counters
        return self.rule


def _lookup(ext: Ext, name: str):  # noqa: ANN202 - OptSpec | None
    if name in ext.by_name:
        return ext.by_name[name]
    hits = {s.name for n, s in ext.by_name.items() if n.startswith(name)}
    return ext.by_name[hits.pop()] if len(hits) == 1 else None


def _long(name: str) -> str | None:
    """A global long option (unique prefix allowed, as getopt_long) -> its letter."""
    if name in LONG:
        return LONG[name]
    hits = {v for k, v in LONG.items() if k.startswith(name)}
    return hits.pop() if len(hits) == 1 else None


def _optional(argv: list[str], i: int, n: int) -> list[str]:
    """Up to n optional args after a command: those that do not look like options."""
    out = []
    while len(out) < n and i < len(argv) and argv[i][:1] not in ("-", "!"):
        out.append(argv[i])
        i += 1
    return out


def parse_command(argv: list[str], table: str = "filter") -> Command:
    """Parse an iptables argv (without the program name)."""
    cmd = Command(table=table)
    b = _Builder(table)
    neg, i = False, 0
    while i < len(argv):
        a = argv[i]
        if a == "!":
            if neg:
                raise param("multiple consecutive ! not allowed")
            neg, i = True, i + 1
            continue
        if a.startswith("--") and len(a) > 2:
            name, eq, inline = a.partition("=")
            letter = _long(name[2:])
            if letter is None or _ext_shadows(b, name):
                seq = [name, inline] + argv[i + 1:] if eq else argv[i:]
                used = b.ext_option(name, seq, 0, neg)
                if used is None and b.rule.proto and not b.proto_used and PROTO_MATCHES.get(b.rule.proto):
                    b.proto_used = True
                    b.load_match(PROTO_MATCHES[b.rule.proto])
                    used = b.ext_option(name, seq, 0, neg)
                if used is None:
                    raise param(f'unknown option "{name}"')
                i += 1 + used - (1 if eq and used else 0)
                neg = False
                continue
            letters, rest = [letter], ([inline] if eq else [])
        elif a.startswith("-") and len(a) > 1:
            letters, rest = list(a[1:]), []
        else:
            raise bad_argument(a)
        i += 1
        for k, letter in enumerate(letters):
            tail = "".join(letters[k + 1:])
            if letter in TAKES_ARG and tail and not rest and len(a) > 1 and not a.startswith("--"):
                rest, stop = [tail], True  # `-jACCEPT`
            else:
                stop = False
            i = _apply(cmd, b, letter, argv, i, rest, neg)
            neg, rest = False, []
            if stop:
                break
    cmd.rule = b.finish() if cmd.op in ("A", "C", "D", "I", "R") else None
    drop = (cmd.rule is not None and cmd.rule.target is not None and cmd.rule.target.name == "DROP"
            or cmd.op == "P" and cmd.args[:1] == ["DROP"])
    if cmd.table == "nat" and drop:
        raise param('\nThe "nat" table is not intended for filtering, the use of DROP is therefore '
                    "inhibited.\n\n")
    if cmd.op == "D" and cmd.rulenum is not None and (b.rule.matches or b.rule.target):
        raise param("Illegal option with -D and a rule number")
    return cmd


def _ext_shadows(b: _Builder, name: str) -> bool:
    """An exact extension option beats a global prefix (`--to` is not `--table`)."""
    return name[2:] not in LONG and any(name in e.by_name for e, _, _ in b.loaded)


def _arg(argv: list[str], i: int, rest: list[str], flag: str) -> tuple[str, int]:
    if rest:
        return rest[0], i
    if i >= len(argv):
        raise param(f'option "{flag}" requires an argument')
    return argv[i], i + 1


def _apply(cmd: Command, b: _Builder, letter: str, argv: list[str], i: int, rest: list[str],
           neg: bool) -> int:
    """Apply one option letter; returns the index of the next argv element."""
    if letter in COMMANDS:
        if {cmd.op, letter} == {"L", "Z"}:  # the one pair iptables takes together
            extra = _optional(argv, i, 2)
            if cmd.chain is None and (rest or extra):
                _command_args(cmd, "L", [*rest, *extra])
            cmd.op, cmd.zero = "L", True
            return i + len(extra)
        if cmd.op is not None:
            raise param(f"Cannot use -{letter} with -{cmd.op}")
        cmd.op = letter
        _, need, opt = COMMANDS[letter]
        got = list(rest)
        while len(got) < need:
            if i >= len(argv):
                raise param(f'option "-{letter}" requires an argument')
            got.append(argv[i])
            i += 1
        extra = _optional(argv, i, opt)
        i += len(extra)
        got += extra
        _command_args(cmd, letter, got)
        return i
    if letter in "psdiojgmtc":
        value, i = _arg(argv, i, rest, f"-{letter}")
    cmd.used.add(letter)
    if letter in "psdio":
        b.basic(letter, value, neg)
    elif letter == "f":
        b.basic("f", "", neg)
    elif letter == "m":
        b.load_match(value)
    elif letter in "jg":
        b.set_target(value, letter == "g")
    elif letter == "t":
        cmd.table = b.ctx.table = value
    elif letter == "c":
        if i >= len(argv):
            raise param('option "-c" requires an argument')
        p, by = V.strtoui(value, 0, 2**64 - 1), V.strtoui(argv[i], 0, 2**64 - 1)
        if p is None:
            raise param("-c packet counter not numeric")
        if by is None:
            raise param("-c byte counter not numeric")
        b.counters, i = (p, by), i + 1
    elif letter == "n":
        cmd.numeric = True
    elif letter == "v":
        cmd.verbose += 1
    elif letter == "x":
        cmd.exact = True
    elif letter == "line":
        cmd.line_numbers = True
    elif letter in "w":
        i += len(_optional(argv, i, 1))
    elif letter in ("W", "modprobe"):
        i += 1
    elif letter not in "46":
        raise param(f'unknown option "-{letter}"')
    return i


def _rulenum(text: str) -> int:
    n = V.strtoui(text, 1, 2**31 - 1) if text.isdigit() else None
    if n is None:
        raise param(f"Invalid rule number `{text}'")
    return n


def _command_args(cmd: Command, letter: str, got: list[str]) -> None:
    cmd.chain = got[0] if got else None
    if letter in "DIRLSZ" and len(got) > 1:
        cmd.rulenum = _rulenum(got[1])
    elif letter in "PE":
        cmd.args = got[1:]


def check_options(cmd: Command) -> None:
    """Options that make no sense with the command (`Illegal option `-s' with this command`)."""
    if cmd.op in ("L", "S", "F", "Z", "N", "X", "P", "E"):
        for letter in "psdiojgfmc":
            if letter in cmd.used and not (letter == "c" and cmd.op == "P"):
                raise param(f"Illegal option `-{letter}' with this command")


def parse_rule(spec: list[str] | str, table: str = "filter") -> Rule:
    """A rule spec (`-s 10.0.0.0/24 -p tcp --dport 80 -j ACCEPT`) as a canonical Rule."""
    argv = split_line(spec) if isinstance(spec, str) else list(spec)
    return parse_command(["-A", "X", *argv], table).rule or Rule()


def split_line(line: str) -> list[str]:
    """iptables-restore's add_param_to_argv: spaces split, "..." quotes with \\ escapes."""
    out: list[str] = []
    buf, quoted, in_quote, escaped = [], False, False, False
    for ch in line:
        if in_quote:
            if escaped:
                buf.append(ch)
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_quote = False
            else:
                buf.append(ch)
            continue
        if ch == '"':
            in_quote = quoted = True
        elif ch in " \t\n":
            if buf or quoted:
                out.append("".join(buf))
            buf, quoted = [], False
        else:
            buf.append(ch)
    if in_quote:
        raise IptError("Unterminated quote", 2)
    if buf or quoted:
        out.append("".join(buf))
    return out
