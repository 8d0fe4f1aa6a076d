"""Command-line flags the way the docker CLI parses them (cobra + spf13/pflag).

Long flags `--name web` / `--name=web`, shorthands `-p 80:80`, `-p80:80`, clusters `-itd`,
repeatable flags collected in order (`-p`, `-e`, `--link`), booleans `--rm` / `--rm=false`.
With interspersed=False (docker run, exec) parsing stops at the first operand: the image and
its command follow.  Errors carry pflag's words; the CLI adds "See 'docker X --help'." and
exits 125.
"""

from __future__ import annotations

from dataclasses import dataclass, field


class FlagError(Exception):
    pass


@dataclass(frozen=True)
class Flag:
    name: str
    short: str = ""
    kind: str = "bool"  # bool, str, list
    default: object = None


@dataclass
class Parsed:
    values: dict[str, object] = field(default_factory=dict)
    args: list[str] = field(default_factory=list)

    def get(self, name: str, default: object = None) -> object:
        return self.values.get(name, default)

    def list(self, name: str) -> list[str]:
        v = self.values.get(name)
        return list(v) if isinstance(v, list) else []

    def str(self, name: str, default: str = "") -> str:
        v = self.values.get(name)
        return v if isinstance(v, str) else default

    def bool(self, name: str) -> bool:
        return bool(self.values.get(name, False))


def _bool(flag: str, v: str) -> bool:
    if v in ("1", "t", "T", "true", "TRUE", "True"):
        return True
    if v in ("0", "f", "F", "false", "FALSE", "False"):
        return False
    raise FlagError(f'invalid argument "{v}" for "{flag}" flag: strconv.ParseBool: parsing "{v}": invalid syntax')


def parse(argv: list[str], flags: list[Flag], interspersed: bool = True) -> Parsed:
    by_long = {f.name: f for f in flags}
    by_short = {f.short: f for f in flags if f.short}
    out = Parsed()

    def store(f: Flag, val: str | bool, shown: str) -> None:
        if f.kind == "list":
            out.values.setdefault(f.name, []).append(val)  # type: ignore[union-attr]
        elif f.kind == "bool":
            out.values[f.name] = val if isinstance(val, bool) else _bool(shown, val)
        else:
            out.values[f.name] = val

    args = list(argv)
    while args:
        a = args.pop(0)
        if a == "--":
            out.args += args
            break
        if a.startswith("--") and len(a) > 2:
            name, eq, val = a[2:].partition("=")
            f = by_long.get(name)
            if f is None:
                raise FlagError(f"unknown flag: --{name}")
            if f.kind == "bool":
                store(f, val if eq else True, f"--{name}")
            elif eq:
                store(f, val, name)
            elif args:
                store(f, args.pop(0), name)
            else:
                raise FlagError(f"flag needs an argument: --{name}")
        elif a.startswith("-") and len(a) > 1:
            i = 1
            while i < len(a):
                ch = a[i]
                f = by_short.get(ch)
                if f is None:
                    raise FlagError(f"unknown shorthand flag: '{ch}' in {a}")
                if f.kind == "bool":
                    if a[i + 1:i + 2] == "=":
                        store(f, a[i + 2:], f"-{ch}")
                        break
                    store(f, True, f"-{ch}")
                    i += 1
                    continue
                rest = a[i + 1:]
                if rest.startswith("="):
                    rest = rest[1:]
                if rest:
                    store(f, rest, ch)
                elif args:
                    store(f, args.pop(0), ch)
                else:
                    raise FlagError(f"flag needs an argument: '{ch}' in -{ch}")
                break
        else:
            out.args.append(a)
            if not interspersed:
                out.args += args
                break
    return out
