"""`sh`, `bash`, `ash`: run a script with the lab's shell (`sh -c 'a && b; c'`), or the lines
given on stdin; a shell with neither reads end-of-file at once and exits 0 (no terminal here)."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

from cnmsim.shell.registry import Proc, command


@command("sh", "bash", "ash", "zsh")
def sh(proc: Proc) -> Generator[Any, Any, int]:
    from cnmsim.shell.parser import ParseError, parse
    from cnmsim.shell.runner import Terminal, run_line

    args = proc.args
    name = proc.argv[0].rsplit("/", 1)[-1]
    if args and args[0] == "-c":
        if len(args) < 2:
            proc.err(f"{name}: -c: option requires an argument")
            return 2
        script = args[1]
    elif args and not args[0].startswith("-"):
        proc.err(f"{name}: can't open '{args[0]}': No such file or directory")
        return 2
    else:
        script = proc.stdin
    status = 0
    for text in script.replace(";\n", "\n").splitlines() or [""]:
        if not text.strip() or text.lstrip().startswith("#"):
            continue
        try:
            line = parse(text)
        except ParseError as e:
            proc.err(f"{name}: {e}")
            return 2
        term = Terminal()
        status = yield from run_line(proc.lab, proc.place, line, term)
        proc.stdout += term.stdout
        proc.stderr += term.stderr
    return status


@command("exit")
def exit_(proc: Proc) -> int:
    """The `exit [N]` builtin: the status of the script's last line (a script ends there)."""
    try:
        return int(proc.args[0]) & 0xFF if proc.args else 0
    except ValueError:
        proc.err(f"sh: exit: Illegal number: {proc.args[0]}")
        return 2
