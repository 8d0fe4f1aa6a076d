"""Parse a transcript line the way sh would: quotes, pipes, `;`, `&&`, `||`, a trailing `&`,
redirections (`> f`, `>> f`, `2>&1`, `2>/dev/null`) and `# comments`.

Parameter expansion happens when a command runs (`$?` is the status of the pipeline before it),
so parsing only marks each `$`: one in single quotes or escaped (`\\$`) is literal, one in double
quotes expands without field splitting, a bare one expands and splits on blanks (POSIX 2.6.2,
2.6.5).  `expand()` does the expansion: `$NAME`, `${NAME}`, `${NAME:-word}` (`-`, `:=`, `=`,
`:+`, `+`), `${#NAME}` and the specials `$?`, `$$`, `$!`, `$#`, `$0`, `$1`..`$9`, `$@`, `$*`, `$-`.
A `$` followed by anything else (`$(cmd)`, a lone `$`) stays as written.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable
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
    lex = shlex.shlex(mark_dollars(line), posix=True, punctuation_chars="|&;<>")
    lex.whitespace_split = True
    lex.commenters = ""  # mark_dollars() drops the comment: `#` starts one only where a word does
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
    elif pipelines[-1].commands == [] and len(pipelines) > 1 and pipelines[-1].op != ";":
        raise ParseError("sh: syntax error: unexpected end of file")  # `a &&` (`a ;` is complete)
    pipelines = [p for p in pipelines if p.commands]
    return Line(pipelines, background)


# ---------------------------------------------------------------- parameter expansion
LITERAL, QUOTED, BARE = "\ue000", "\ue001", "\ue002"  # what a `$` became in the parsed words
MARKS = LITERAL + QUOTED + BARE
NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
ASSIGNMENT = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)=")
BRACED = re.compile(r"\{(#?)([A-Za-z_][A-Za-z0-9_]*|[0-9?$#!@*-])(?:(:?[-=+])(.*))?\}", re.S)
SPECIAL = "?$#!@*-0123456789"

Lookup = Callable[[str], "str | None"]  # a parameter's value, None when unset
Assign = Callable[[str, str], None]


def mark_dollars(line: str) -> str:
    """Replace each `$` by the mark of its quoting (the quotes themselves are left to shlex), and
    drop a `# comment` (an unquoted `#` that begins a word; `a#b` is one word)."""
    out: list[str] = []
    quote = ""
    i = 0
    while i < len(line):
        c = line[i]
        if quote == "'":
            out.append(LITERAL if c == "$" else c)
            quote = "" if c == "'" else quote
        elif c == "\\" and i + 1 < len(line):
            nxt = line[i + 1]
            out.append(LITERAL if nxt == "$" else c + nxt)  # `\$` is a literal dollar, quoted or not
            i += 2
            continue
        elif c == "$":
            out.append(QUOTED if quote == '"' else BARE)
        elif c == "#" and not quote and (not out or out[-1][-1] in " \t\n;&|<>()"):
            break
        else:
            if c == '"':
                quote = "" if quote == '"' else '"'
            elif c == "'" and not quote:
                quote = "'"
            out.append(c)
        i += 1
    return "".join(out)


def has_marks(word: str) -> bool:
    return any(m in word for m in MARKS)


def plain(word: str) -> str:
    """A word with its marks turned back into dollars, nothing expanded."""
    return word.translate({ord(m): "$" for m in MARKS})


def _parameter(word: str, i: int, get: Lookup, assign: Assign | None, quoted: bool) -> tuple[str | None, int]:
    """Expand the parameter whose `$` mark is at word[i]: (value, index after it), or (None, i+1)
    when nothing after the `$` names a parameter."""
    rest = word[i + 1:]
    if rest.startswith("{"):
        end = _closing_brace(rest)
        m = BRACED.fullmatch(rest[:end + 1]) if end > 0 else None
        if m is None:
            return None, i + 1
        length, name, op, arg = m.groups()
        value = get(name)
        if length:
            return (None, i + 1) if op else (str(len(value or "")), i + 2 + end)
        if op:
            unset = value is None or (op.startswith(":") and value == "")
            if op[-1] in "-=" and unset:
                value = " ".join(expand(arg, get, assign)) if not quoted else _join(arg, get, assign)
                if op[-1] == "=" and assign is not None and NAME.fullmatch(name):
                    assign(name, value)
            elif op[-1] == "+":
                value = "" if unset else (" ".join(expand(arg, get, assign)) if not quoted
                                          else _join(arg, get, assign))
        return value or "", i + 2 + end
    m = NAME.match(rest)
    if m:
        return get(m.group()) or "", i + 1 + m.end()
    if rest[:1] and rest[0] in SPECIAL:
        return get(rest[0]) or "", i + 2
    if rest[:1] in (QUOTED, BARE):  # `$$`: the second dollar was marked too
        return get("$") or "", i + 2
    return None, i + 1


def _closing_brace(text: str) -> int:
    depth = 0
    for j, c in enumerate(text):
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
            if depth == 0:
                return j
    return -1


def _join(word: str, get: Lookup, assign: Assign | None) -> str:
    return "".join(_pieces_text(word, get, assign))


def _pieces_text(word: str, get: Lookup, assign: Assign | None) -> list[str]:
    return [text for text, _ in _pieces(word, get, assign)]


def _pieces(word: str, get: Lookup, assign: Assign | None) -> list[tuple[str, bool]]:
    """(text, splittable) pieces: literal text, and the values of the expansions in it."""
    out: list[tuple[str, bool]] = []
    lit: list[str] = []
    i = 0
    while i < len(word):
        c = word[i]
        if c in (QUOTED, BARE):
            value, j = _parameter(word, i, get, assign, c == QUOTED)
            if value is not None:
                if lit:
                    out.append(("".join(lit), False))
                    lit = []
                out.append((value, c == BARE))
                i = j
                continue
            lit.append("$")
        elif c == LITERAL:
            lit.append("$")
        else:
            lit.append(c)
        i += 1
    if lit:
        out.append(("".join(lit), False))
    return out


def expand(word: str, get: Lookup, assign: Assign | None = None) -> list[str]:
    """The fields a parsed word becomes: bare expansions are split on blanks, and a word made
    only of bare expansions that are empty disappears (`echo $UNSET x` has one argument)."""
    if not has_marks(word):
        return [word]
    fields: list[str] = []
    cur, open_ = "", False
    for text, split in _pieces(word, get, assign):
        if not split:
            cur, open_ = cur + text, True
            continue
        parts = text.split()
        if not parts:
            if text and open_:  # only blanks: they end the field
                fields.append(cur)
                cur, open_ = "", False
            continue
        if text[0].isspace() and open_:
            fields.append(cur)
            cur = ""
        cur += parts[0]
        for p in parts[1:]:
            fields.append(cur)
            cur = p
        open_ = True
        if text[-1].isspace():
            fields.append(cur)
            cur, open_ = "", False
    if open_:
        fields.append(cur)
    return fields


def expand_one(word: str, get: Lookup, assign: Assign | None = None) -> str:
    """A word expanded without field splitting (an assignment's value, a redirection target)."""
    return _join(word, get, assign) if has_marks(word) else word
