"""Parse a transcript line the way sh would: quotes, pipes, `;`, `&&`, `||`, a trailing `&`,
redirections (`> f`, `>> f`, `2>&1`, `2>/dev/null`) and `# comments`."""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field


class ParseError(Exception):
    pass


@dataclass
class Command:
    argv: list[str]
    stdout_to: str | None = None
    append: bool = False
    stderr_to: str | None = None  # a path, or "&1"


@dataclass
class Pipeline:
    commands: list[Command] = field(default_factory=list)
    op: str = ";"  # how it chains to the previous pipeline: ";", "&&", "||"


@dataclass
class Line:
    pipelines: list[Pipeline]
    background: bool = False


def parse(line: str) -> Line:
    lex = shlex.shlex(line, posix=True, punctuation_chars="|&;<>")
    lex.whitespace_split = True
    lex.commenters = "#"
    try:
        tokens = list(lex)
    except ValueError as e:  # unbalanced quotes
        raise ParseError(f"sh: syntax error: {e}") from None
    # shlex with punctuation_chars keeps quoted strings as words; join "2" ">" "&1" forms
    pipelines = [Pipeline()]
    cur: list[str] = []
    background = False
    cmd = Command([])

    def end_command() -> None:
        nonlocal cur, cmd
        if not cur and cmd.stdout_to is None:
            raise ParseError("sh: syntax error: unexpected operator")
        cmd.argv = cur
        pipelines[-1].commands.append(cmd)
        cur, cmd = [], Command([])

    i = 0
    while i < len(tokens):
        t = tokens[i]
        if t == "|":
            end_command()
        elif t in (";", "&&", "||"):
            end_command()
            pipelines.append(Pipeline(op=t))
        elif t == "&":
            if i != len(tokens) - 1:
                end_command()
                pipelines.append(Pipeline(op=";"))
                background = True  # `a & b`: only the simple trailing form is meaningful here
            else:
                background = True
        elif t in (">", ">>", ">&"):
            if i + 1 >= len(tokens):
                raise ParseError("sh: syntax error: unexpected newline")
            target = tokens[i + 1]
            if cur and cur[-1] == "2":
                cur.pop()
                cmd.stderr_to = ("&" + target) if t == ">&" else target
            else:
                cmd.stdout_to, cmd.append = target, t == ">>"
            i += 2
            continue
        elif t == "<":
            i += 2  # input redirection is ignored (no terminal input in a lab)
            continue
        else:
            cur.append(t)
        i += 1
    if cur or cmd.stdout_to:
        end_command()
    elif pipelines[-1].commands == [] and len(pipelines) > 1:
        raise ParseError("sh: syntax error: unexpected end of file")
    pipelines = [p for p in pipelines if p.commands]
    return Line(pipelines, background)
