"""The coreutils a pasted transcript pipes into: echo, cat, grep, head, tail, wc, sleep ..."""

from __future__ import annotations

import re
from collections.abc import Generator
from typing import Any

from cnmsim.shell.registry import Proc, command


def _lines(text: str) -> list[str]:
    return text.splitlines(keepends=True)


def _input(proc: Proc, files: list[str], tool: str) -> tuple[str, int]:
    if not files:
        return proc.stdin, 0
    out, status = [], 0
    for f in files:
        content = proc.place.files.get(f)
        if content is None:
            proc.err(f"{tool}: {f}: No such file or directory")
            status = 2 if tool == "grep" else 1
        else:
            out.append(content)
    return "".join(out), status


@command("echo")
def echo(proc: Proc) -> int:
    args = proc.args
    newline = True
    if args and args[0] == "-n":
        newline, args = False, args[1:]
    proc.out(" ".join(args), end="\n" if newline else "")
    return 0


@command("true", ":")
def true(proc: Proc) -> int:
    return 0


@command("false")
def false(proc: Proc) -> int:
    return 1


@command("sleep")
def sleep(proc: Proc) -> Generator[Any, Any, int]:
    if not proc.args:
        return proc.fail("sleep: missing operand")
    total = 0.0
    for a in proc.args:
        m = re.fullmatch(r"(\d+(?:\.\d*)?)([smhd]?)", a)
        if not m:
            return proc.fail(f"sleep: invalid time interval '{a}'")
        total += float(m.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}[m.group(2)]
    yield proc.sleep(total)
    return 0


@command("cat")
def cat(proc: Proc) -> int:
    text, status = _input(proc, [a for a in proc.args if a != "-"], "cat")
    proc.out(text, end="")
    return status


@command("hostname")
def hostname(proc: Proc) -> int:
    proc.out(proc.place.hostname)
    return 0


@command("grep", "egrep")
def grep(proc: Proc) -> int:
    opts: set[str] = set()
    patterns: list[str] = []
    rest: list[str] = []
    args = list(proc.args)
    while args:
        a = args.pop(0)
        if a == "-e" and args:
            patterns.append(args.pop(0))
        elif a.startswith("-") and len(a) > 1 and not rest and not a[1].isdigit():
            opts.update(a[1:])
        else:
            rest.append(a)
    if not patterns:
        if not rest:
            return proc.fail("Usage: grep [OPTION]... PATTERNS [FILE]...", 2)
        patterns.append(rest.pop(0))
    flags = re.IGNORECASE if "i" in opts else 0
    exprs = []
    for p in patterns:
        if "F" in opts:
            p = re.escape(p)
        elif "E" not in opts and proc.argv[0] != "egrep":
            p = _bre_to_ere(p)
        if "w" in opts:
            p = rf"\b(?:{p})\b"
        exprs.append(re.compile(p, flags))
    text, status = _input(proc, rest, "grep")
    hits = []
    for n, line in enumerate(_lines(text), 1):
        body = line.rstrip("\n")
        found = any(e.search(body) for e in exprs)
        if found != ("v" in opts):
            hits.append((n, body))
    if "q" in opts:
        return 0 if hits else 1
    if "c" in opts:
        proc.out(str(len(hits)))
    else:
        for n, body in hits:
            if "o" in opts and "v" not in opts:
                for e in exprs:
                    for m in e.finditer(body):
                        proc.out(m.group(0))
            else:
                proc.out(f"{n}:{body}" if "n" in opts else body)
    return status or (0 if hits else 1)


def _bre_to_ere(p: str) -> str:
    """Basic regular expressions: `+ ? | ( ) { }` are literals unless backslashed."""
    out, i = [], 0
    while i < len(p):
        c = p[i]
        if c == "\\" and i + 1 < len(p):
            n = p[i + 1]
            out.append(n if n in "+?|(){}" else "\\" + n)
            i += 2
            continue
        out.append("\\" + c if c in "+?|(){}" else c)
        i += 1
    return "".join(out)


def _count_arg(proc: Proc, tool: str) -> tuple[int, list[str], bool]:
    n, files, plus = 10, [], False
    args = list(proc.args)
    while args:
        a = args.pop(0)
        if a in ("-n", "--lines") and args:
            v = args.pop(0)
            plus = v.startswith("+")
            n = int(v.lstrip("+"))
        elif re.fullmatch(r"-n[+]?\d+", a):
            plus = "+" in a
            n = int(a[2:].lstrip("+"))
        elif re.fullmatch(r"-\d+", a):
            n = int(a[1:])
        else:
            files.append(a)
    return n, files, plus


@command("head")
def head(proc: Proc) -> int:
    n, files, _ = _count_arg(proc, "head")
    text, status = _input(proc, files, "head")
    proc.out("".join(_lines(text)[:n]), end="")
    return status


@command("tail")
def tail(proc: Proc) -> int:
    n, files, plus = _count_arg(proc, "tail")
    text, status = _input(proc, files, "tail")
    lines = _lines(text)
    proc.out("".join(lines[n - 1:] if plus else (lines[-n:] if n else [])), end="")
    return status


@command("wc")
def wc(proc: Proc) -> int:
    opts = "".join(a[1:] for a in proc.args if a.startswith("-"))
    files = [a for a in proc.args if not a.startswith("-")]
    text, status = _input(proc, files, "wc")
    counts = {"l": text.count("\n"), "w": len(text.split()), "c": len(text.encode())}
    chosen = [k for k in "lwc" if k in opts] or ["l", "w", "c"]
    if len(chosen) == 1 and not files:
        proc.out(str(counts[chosen[0]]))
    else:
        width = 7 if not files else max(len(str(counts[k])) for k in chosen)
        line = " ".join(f"{counts[k]:>{width}}" for k in chosen)
        proc.out(line + (f" {files[0]}" if files else ""))
    return status


@command("wait")
def wait(proc: Proc) -> Generator[Any, Any, int]:
    """Wait for this place's background jobs; their output appears as the terminal showed it."""
    jobs = [j for j in proc.lab.jobs if j.where == proc.place.name and j.process is not None]
    for j in jobs:
        if not j.done:
            yield j.process
    for j in jobs:
        if not getattr(j, "_shown", False):
            proc.out(j.stdout, end="")
            proc.err(j.stderr, end="")
            j._shown = True  # type: ignore[attr-defined]
    return jobs[-1].exit_code or 0 if jobs else 0


@command("jobs")
def jobs(proc: Proc) -> int:
    for j in proc.lab.jobs:
        if j.where == proc.place.name:
            state = f"Done{'' if not j.exit_code else f'({j.exit_code})'}" if j.done else "Running"
            proc.out(f"[{j.number}]  {state:<24}{j.line.rstrip(' &')} &")
    return 0
