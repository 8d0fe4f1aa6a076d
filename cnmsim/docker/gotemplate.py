"""Go's text/template as the docker CLI runs it for ``--format``.

The lexer, parser and executor follow golang/go src/text/template (parse/lex.go, parse/parse.go,
exec.go, funcs.go) closely enough to give Go's output and Go's error text: a bad template raises
TemplateError (``template: :1: unexpected "}" in operand``), a failing one ExecError
(``template: :1:2: executing "" at <.Foo>: map has no entry for key "Foo"``). The docker CLI adds
its own prefix (``template parsing error: ``) for both.

Functions are Go's builtins plus docker/cli templates/templates.go (json, split, join, title,
lower, upper, pad, truncate); HEADER_FUNCS are docker's identity versions used for table headers.
Python data stands for Go values as described in cnmsim.docker.jsonout (dict = map, GoStruct,
GoMap, GoNil, JSONNumber). Values are printed as fmt.Sprint does (see gofmt helpers below).
"""

from __future__ import annotations

import inspect
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote_plus

from cnmsim.docker.jsonout import (
    NO_VALUE,
    GoMap,
    GoNil,
    GoStruct,
    JSONNumber,
    encoder_json,
    format_float,
    go_type,
)

__all__ = ["TemplateError", "ExecError", "Template", "parse", "render", "strip_table",
           "DOCKER_FUNCS", "HEADER_FUNCS", "is_true", "go_quote", "go_sprint", "go_sprintf",
           "go_sprintln"]


class TemplateError(Exception):
    """A --format that does not parse; ``str()`` is Go's message."""


class ExecError(Exception):
    """A template that failed while executing; ``partial`` is what it wrote before failing."""

    def __init__(self, message: str, partial: str = "") -> None:
        super().__init__(message)
        self.partial = partial


# ---------------------------------------------------------------------------------------------
# lexer (parse/lex.go)

SPACE_CHARS = " \t\r\n"
_KEYWORDS = {"block", "break", "continue", "define", "else", "end", "if", "nil", "range",
             "template", "with"}
_KEYWORD_TYPES = _KEYWORDS | {"."}


@dataclass(slots=True)
class _Item:
    typ: str
    pos: int
    val: str
    line: int

    def __str__(self) -> str:
        if self.typ == "EOF":
            return "EOF"
        if self.typ == "ERROR":
            return self.val
        if self.typ in _KEYWORD_TYPES:
            return f"<{self.val}>"
        if len(self.val.encode()) > 10:
            return go_quote(self.val[:10]) + "..."
        return go_quote(self.val)


def _is_alnum(c: str) -> bool:
    return c == "_" or c.isalpha() or unicodedata.category(c) == "Nd"


def _sharp_u(c: str) -> str:
    """fmt's %#U: U+0029 ')'."""
    return f"U+{ord(c):04X} '{c}'" if c.isprintable() else f"U+{ord(c):04X}"


def _left_trim(s: str, i: int) -> bool:
    return len(s) - i >= 2 and s[i] == "-" and s[i + 1] in SPACE_CHARS


def _right_trim(s: str, i: int) -> bool:
    return 0 <= i and len(s) - i >= 2 and s[i] in SPACE_CHARS and s[i + 1] == "-"


class _Lexer:
    """The state machine of lex.go, run to the end (EOF or the first ERROR item)."""

    def __init__(self, text: str) -> None:
        self.s, self.pos, self.start, self.width, self.depth = text, 0, 0, 0, 0
        self.items: list[_Item] = []

    def run(self) -> list[_Item]:
        state: Callable[[], Any] | None = self.lex_text
        while state is not None:
            state = state()
        if not self.items or self.items[-1].typ not in ("EOF", "ERROR"):
            self.items.append(_Item("EOF", self.pos, "", self._line(self.pos)))
        return self.items

    def _line(self, p: int) -> int:
        return 1 + self.s.count("\n", 0, p)

    def emit(self, typ: str) -> None:
        self.items.append(_Item(typ, self.start, self.s[self.start:self.pos], self._line(self.start)))
        self.start = self.pos

    def error(self, msg: str) -> None:
        self.items.append(_Item("ERROR", self.start, msg, self._line(self.start)))

    def next(self) -> str:
        if self.pos >= len(self.s):
            self.width = 0
            return ""
        self.width = 1
        self.pos += 1
        return self.s[self.pos - 1]

    def backup(self) -> None:
        self.pos -= self.width

    def peek(self) -> str:
        return self.s[self.pos] if self.pos < len(self.s) else ""

    def accept(self, valid: str) -> bool:
        c = self.next()
        if c and c in valid:
            return True
        self.backup()
        return False

    def accept_run(self, valid: str) -> None:
        while self.accept(valid):
            pass

    def at_right_delim(self) -> tuple[bool, bool]:
        if _right_trim(self.s, self.pos) and self.s.startswith("}}", self.pos + 2):
            return True, True
        return self.s.startswith("}}", self.pos), False

    def at_terminator(self) -> bool:
        c = self.peek()
        return c == "" or c in SPACE_CHARS or c in ".,|:)(}"

    def lex_text(self) -> Callable | None:
        x = self.s.find("{{", self.pos)
        if x < 0:
            self.pos = len(self.s)
            if self.pos > self.start:
                self.emit("TEXT")
            self.emit("EOF")
            return None
        trim = 0
        if _left_trim(self.s, x + 2):
            seg = self.s[self.start:x]
            trim = len(seg) - len(seg.rstrip(SPACE_CHARS))
        self.pos = x - trim
        if self.pos > self.start:
            self.emit("TEXT")
        self.pos = self.start = x
        return self.lex_left_delim

    def lex_left_delim(self) -> Callable | None:
        self.pos += 2
        after = 2 if _left_trim(self.s, self.pos) else 0
        if self.s.startswith("/*", self.pos + after):
            self.pos += after
            self.start = self.pos
            return self.lex_comment
        self.emit("LDELIM")
        self.pos += after
        self.start, self.depth = self.pos, 0
        return self.lex_inside

    def lex_comment(self) -> Callable | None:
        self.pos += 2
        i = self.s.find("*/", self.pos)
        if i < 0:
            return self.error("unclosed comment")
        self.pos = i + 2
        delim, trim = self.at_right_delim()
        if not delim:
            return self.error("comment ends before closing delimiter")
        self.pos += 4 if trim else 2
        if trim:
            self.pos = len(self.s) - len(self.s[self.pos:].lstrip(SPACE_CHARS))
        self.start = self.pos
        return self.lex_text

    def lex_right_delim(self) -> Callable | None:
        trim = _right_trim(self.s, self.pos)
        if trim:
            self.pos += 2
            self.start = self.pos
        self.pos += 2
        self.emit("RDELIM")
        if trim:
            self.pos = len(self.s) - len(self.s[self.pos:].lstrip(SPACE_CHARS))
            self.start = self.pos
        return self.lex_text

    def lex_inside(self) -> Callable | None:
        delim, _ = self.at_right_delim()
        if delim:
            return self.lex_right_delim if self.depth == 0 else self.error("unclosed left paren")
        c = self.next()
        if c == "":
            return self.error("unclosed action")
        if c in SPACE_CHARS:
            self.backup()
            return self.lex_space
        simple = {"=": "ASSIGN", "|": "PIPE", "(": "LPAREN"}
        if c in simple:
            self.emit(simple[c])
            self.depth += c == "("
        elif c == ":":
            if self.next() != "=":
                return self.error("expected :=")
            self.emit("DECLARE")
        elif c in "\"`$'":
            return {'"': self.lex_quote, "`": self.lex_raw_quote, "$": self.lex_variable,
                    "'": self.lex_char}[c]
        elif c == "." and self.pos < len(self.s) and not "0" <= self.s[self.pos] <= "9":
            return self.lex_field
        elif c in "+-." or "0" <= c <= "9":
            self.backup()
            return self.lex_number
        elif _is_alnum(c):
            self.backup()
            return self.lex_identifier
        elif c == ")":
            self.depth -= 1
            if self.depth < 0:
                self.start = self.pos
                return self.error(f"unexpected right paren {_sharp_u(c)}")
            self.emit("RPAREN")
        elif c < "\x80" and c.isprintable():
            self.emit("CHAR")
        else:
            return self.error(f"unrecognized character in action: {_sharp_u(c)}")
        return self.lex_inside

    def lex_space(self) -> Callable | None:
        n = 0
        while self.peek() and self.peek() in SPACE_CHARS:
            self.pos += 1
            n += 1
        if _right_trim(self.s, self.pos - 1) and self.s.startswith("}}", self.pos + 1):
            self.pos -= 1
            if n == 1:
                return self.lex_right_delim
        self.emit("SPACE")
        return self.lex_inside

    def lex_identifier(self) -> Callable | None:
        while (c := self.next()) and _is_alnum(c):
            pass
        self.backup()
        word = self.s[self.start:self.pos]
        if not self.at_terminator():
            return self.error(f"bad character {_sharp_u(self.peek())}")
        self.emit(word if word in _KEYWORDS else "BOOL" if word in ("true", "false") else "IDENT")
        return self.lex_inside

    def lex_field(self) -> Callable | None:
        return self.lex_field_or_variable("FIELD")

    def lex_variable(self) -> Callable | None:
        if self.at_terminator():
            self.emit("VARIABLE")
            return self.lex_inside
        return self.lex_field_or_variable("VARIABLE")

    def lex_field_or_variable(self, typ: str) -> Callable | None:
        if self.at_terminator():
            self.emit("VARIABLE" if typ == "VARIABLE" else ".")
            return self.lex_inside
        while (c := self.next()) and _is_alnum(c):
            pass
        self.backup()
        if not self.at_terminator():
            return self.error(f"bad character {_sharp_u(self.peek())}")
        self.emit(typ)
        return self.lex_inside

    def _lex_quoted(self, close: str, typ: str, what: str) -> Callable | None:
        while True:
            c = self.next()
            if c == "\\":
                c = self.next()
                if c and c != "\n":
                    continue
                return self.error(f"unterminated {what}")
            if c in ("", "\n"):
                return self.error(f"unterminated {what}")
            if c == close:
                break
        self.emit(typ)
        return self.lex_inside

    def lex_char(self) -> Callable | None:
        return self._lex_quoted("'", "CHARCONST", "character constant")

    def lex_quote(self) -> Callable | None:
        return self._lex_quoted('"', "STRING", "quoted string")

    def lex_raw_quote(self) -> Callable | None:
        end = self.s.find("`", self.pos)
        if end < 0:
            return self.error("unterminated raw quoted string")
        self.pos = end + 1
        self.emit("RAWSTRING")
        return self.lex_inside

    def lex_number(self) -> Callable | None:
        if not self.scan_number():
            return self.error(f"bad number syntax: {go_quote(self.s[self.start:self.pos])}")
        if self.peek() and self.peek() in "+-":
            if not self.scan_number() or self.s[self.pos - 1] != "i":
                return self.error(f"bad number syntax: {go_quote(self.s[self.start:self.pos])}")
            self.emit("COMPLEX")
        else:
            self.emit("NUMBER")
        return self.lex_inside

    def scan_number(self) -> bool:
        self.accept("+-")
        digits = "0123456789_"
        if self.accept("0"):
            for marks, ds in (("xX", "0123456789abcdefABCDEF_"), ("oO", "01234567_"), ("bB", "01_")):
                if self.accept(marks):
                    digits = ds
                    break
        self.accept_run(digits)
        if self.accept("."):
            self.accept_run(digits)
        if len(digits) == 11 and self.accept("eE") or len(digits) == 23 and self.accept("pP"):
            self.accept("+-")
            self.accept_run("0123456789_")
        self.accept("i")
        if self.peek() and _is_alnum(self.peek()):
            self.next()
            return False
        return True


# ---------------------------------------------------------------------------------------------
# fmt (fmt/print.go, strconv/quote.go): how Go prints the values templates produce

_QUOTE_ESC = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t",
              "\v": "\\v"}


def _quote_with(s: str, q: str) -> str:
    out = [q]
    for c in s:
        o = ord(c)
        if c in (q, "\\"):
            out.append("\\" + c)
        elif 0xDC80 <= o <= 0xDCFF:  # a byte that was not UTF-8 (surrogateescape)
            out.append(f"\\x{o - 0xDC00:02x}")
        elif c.isprintable():
            out.append(c)
        elif c in _QUOTE_ESC:
            out.append(_QUOTE_ESC[c])
        elif o < 0x20 or o == 0x7F:
            out.append(f"\\x{o:02x}")
        elif 0xD800 <= o <= 0xDFFF:
            out.append("\\ufffd")
        else:
            out.append(f"\\u{o:04x}" if o < 0x10000 else f"\\U{o:08x}")
    out.append(q)
    return "".join(out)


def go_quote(s: str) -> str:
    """strconv.Quote: double-quoted with Go escapes; printable Unicode stays as it is."""
    return _quote_with(s, '"')


def _sorted_keys(d: Mapping) -> list:
    """fmtsort's order for map keys: numbers by value, strings bytewise."""
    return sorted(d, key=lambda k: (isinstance(k, str), k))


def _fmt_composite(v: Any, leaf: Callable[[Any], str], plus: bool) -> str:
    if isinstance(v, GoNil):
        return {"slice": "[]", "map": "map[]", "ptr": "<nil>"}[v.kind]
    if isinstance(v, GoStruct):
        return "{" + " ".join((f"{k}:" if plus else "") + leaf(x)
                              for k, x in v.items() if not callable(x)) + "}"
    if isinstance(v, dict):
        return "map[" + " ".join(f"{leaf(k)}:{leaf(v[k])}" for k in _sorted_keys(v)) + "]"
    return "[" + " ".join(leaf(x) for x in v) + "]"


def _fmt_v(v: Any, plus: bool = False) -> str:
    """%v (or %+v) of one value, as fmt prints an interface{} holding it."""
    if v is None or v is NO_VALUE:
        return "<nil>"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return _fmt_float(v, "v", "", None) or ""
    if isinstance(v, complex):
        im = _fmt_float(v.imag, "v", "+", None)
        return f"({_fmt_float(v.real, 'v', '', None)}{im}i)"
    if isinstance(v, str):
        return str.__str__(v)
    if isinstance(v, GoNil | dict | list | tuple):
        return _fmt_composite(v, lambda x: _fmt_v(x, plus), plus)
    return str(v)


def go_sprint(*args: Any) -> str:
    """fmt.Sprint: operands printed with %v, a space between two that are not strings."""
    out: list[str] = []
    for i, a in enumerate(args):
        if i and not isinstance(a, str) and not isinstance(args[i - 1], str):
            out.append(" ")
        out.append(_fmt_v(a))
    return "".join(out)


def go_sprintln(*args: Any) -> str:
    """fmt.Sprintln: operands with %v, always space-separated, newline-terminated."""
    return " ".join(_fmt_v(a) for a in args) + "\n"


def _pad(s: str, flags: str, width: int | None, numeric: bool = False) -> str:
    if width is None or len(s) >= width:
        return s
    fill = width - len(s)
    if "-" in flags:
        return s + " " * fill
    if "0" in flags and numeric:
        sign = s[0] if s and s[0] in "+- " else ""
        return sign + "0" * fill + s[len(sign):]
    return " " * fill + s


def _sign(negative: bool, flags: str) -> str:
    return "-" if negative else "+" if "+" in flags else " " if " " in flags else ""


def _fmt_int(a: int, verb: str, flags: str, prec: int | None) -> str | None:
    if verb == "c":
        return chr(a) if 0 <= a <= 0x10FFFF else "\ufffd"
    if verb == "q":
        return _quote_with(chr(a), "'") if 0 <= a <= 0x10FFFF else "'\ufffd'"
    if verb == "U":
        return f"U+{a:04X}" + (f" '{chr(a)}'" if "#" in flags and chr(a).isprintable() else "")
    spec = {"v": "d", "d": "d", "b": "b", "o": "o", "O": "o", "x": "x", "X": "X"}.get(verb)
    if spec is None:
        return None
    body = format(abs(a), spec)
    if prec is not None:
        body = body.zfill(prec)
    prefix = {"O": "0o"}.get(verb, "")
    if "#" in flags:
        prefix = {"o": "0", "x": "0x", "X": "0X", "b": "0b"}.get(verb, prefix)
    return _sign(a < 0, flags) + prefix + body


def _fmt_float(a: float, verb: str, flags: str, prec: int | None) -> str | None:
    if a != a:
        return "NaN"
    neg = a < 0 or (a == 0 and str(a).startswith("-"))
    if a in (float("inf"), float("-inf")):
        return "-Inf" if neg else "+Inf"
    if verb in "vgG" and prec is None:
        body = format_float(abs(a), False)
        body = body.upper() if verb == "G" else body
    elif verb in "vgG":
        body = format(abs(a), f".{prec}{'G' if verb == 'G' else 'g'}")
    elif verb in "fFeE":
        body = format(abs(a), f".{6 if prec is None else prec}{verb}")
    else:
        return None
    return _sign(neg, flags) + body


def _fmt_arg(a: Any, verb: str, flags: str, width: int | None, prec: int | None) -> str:
    if verb == "T":
        return _pad("<nil>" if a is None else go_type(a), flags, width)
    if a is None or a is NO_VALUE:
        return _pad("<nil>", flags, width) if verb == "v" else f"%!{verb}(<nil>)"
    if isinstance(a, GoNil | dict | list | tuple):
        return _fmt_composite(a, lambda x: _fmt_arg(x, verb, flags, width, prec),
                              verb == "v" and "+" in flags)
    numeric = isinstance(a, int | float) and not isinstance(a, bool)
    if isinstance(a, bool):
        s = ("true" if a else "false") if verb in "tv" else None
    elif isinstance(a, int):
        s = _fmt_int(a, verb, flags, prec)
    elif isinstance(a, float):
        s = _fmt_float(a, verb, flags, prec)
    elif isinstance(a, str):
        text = str.__str__(a) if prec is None else a[:prec]
        s = {"v": text, "s": text, "q": go_quote(text), "x": text.encode().hex(),
             "X": text.encode().hex().upper()}.get(verb)
    else:
        s = _fmt_v(a) if verb in "vs" else None
    if s is None:
        return f"%!{verb}({go_type(a)}={_fmt_v(a)})"
    return _pad(s, flags, width, numeric)


def _fmt_number(f: str, i: int, args: tuple, argi: int) -> tuple[int | None, int, int]:
    if i < len(f) and f[i] == "*":
        ok = argi < len(args) and isinstance(args[argi], int) and not isinstance(args[argi], bool)
        return (args[argi] if ok else None), i + 1, argi + 1
    j = i
    while j < len(f) and f[j].isdigit():
        j += 1
    return (int(f[i:j]) if j > i else None), j, argi


def go_sprintf(format: str, *args: Any) -> str:
    """fmt.Sprintf with Go's verbs, flags, width and precision, and its %!verb(...) complaints."""
    out: list[str] = []
    i, n, argi = 0, len(format), 0
    while i < n:
        j = format.find("%", i)
        if j < 0:
            out.append(format[i:])
            break
        out.append(format[i:j])
        i, flags = j + 1, ""
        while i < n and format[i] in "+-# 0":
            flags += format[i]
            i += 1
        width, i, argi = _fmt_number(format, i, args, argi)
        prec = None
        if i < n and format[i] == ".":
            prec, i, argi = _fmt_number(format, i + 1, args, argi)
            prec = prec or 0
        if i >= n:
            out.append("%!(NOVERB)")
            break
        verb = format[i]
        i += 1
        if verb == "%":
            out.append("%")
        elif argi >= len(args):
            out.append(f"%!{verb}(MISSING)")
        else:
            out.append(_fmt_arg(args[argi], verb, flags, width, prec))
            argi += 1
    if argi < len(args):
        extra = ("<nil>" if a is None else f"{go_type(a)}={_fmt_v(a)}" for a in args[argi:])
        out.append("%!(EXTRA " + ", ".join(extra) + ")")
    return "".join(out)


# ---------------------------------------------------------------------------------------------
# parse tree (parse/node.go); str() is each node's String(), used in error messages

@dataclass(slots=True)
class _Text:
    pos: int
    text: str

    def __str__(self) -> str:
        return self.text


@dataclass(slots=True)
class _Field:
    pos: int
    ident: list[str]

    def __str__(self) -> str:
        return "".join("." + i for i in self.ident)


@dataclass(slots=True)
class _Var:
    pos: int
    ident: list[str]

    def __str__(self) -> str:
        return ".".join(self.ident)


@dataclass(slots=True)
class _Ident:
    pos: int
    name: str

    def __str__(self) -> str:
        return self.name


@dataclass(slots=True)
class _Literal:
    """Dot, nil, a bool or a string: ``text`` is how it was written."""

    pos: int
    kind: str  # "dot", "nil", "bool", "string"
    text: str
    value: Any = None

    def __str__(self) -> str:
        return self.text


@dataclass(slots=True)
class _Number:
    pos: int
    text: str
    int_val: int | None = None  # set when the constant is an integer that fits int64
    uint_ok: bool = False
    float_val: float | None = None
    complex_val: complex | None = None

    def __str__(self) -> str:
        return self.text


@dataclass(slots=True)
class _Chain:
    pos: int
    node: Any
    fields: list[str]

    def __str__(self) -> str:
        head = f"({self.node})" if isinstance(self.node, _Pipe) else str(self.node)
        return head + "".join("." + f for f in self.fields)


@dataclass(slots=True)
class _Command:
    pos: int
    args: list[Any] = field(default_factory=list)

    def __str__(self) -> str:
        return " ".join(f"({a})" if isinstance(a, _Pipe) else str(a) for a in self.args)


@dataclass(slots=True)
class _Pipe:
    pos: int
    line: int
    decl: list[_Var] = field(default_factory=list)
    is_assign: bool = False
    cmds: list[_Command] = field(default_factory=list)

    def __str__(self) -> str:
        head = ""
        if self.decl:
            head = ", ".join(map(str, self.decl)) + (" = " if self.is_assign else " := ")
        return head + " | ".join(map(str, self.cmds))


@dataclass(slots=True)
class _Action:
    pos: int
    line: int
    pipe: _Pipe

    def __str__(self) -> str:
        return "{{" + str(self.pipe) + "}}"


@dataclass(slots=True)
class _List:
    pos: int
    nodes: list[Any] = field(default_factory=list)

    def __str__(self) -> str:
        return "".join(map(str, self.nodes))


@dataclass(slots=True)
class _Branch:
    """An if, range or with block."""

    kind: str
    pos: int
    line: int
    pipe: _Pipe
    list: _List
    else_list: _List | None

    def __str__(self) -> str:
        tail = "{{else}}" + str(self.else_list) if self.else_list is not None else ""
        return f"{{{{{self.kind} {self.pipe}}}}}{self.list}{tail}{{{{end}}}}"


@dataclass(slots=True)
class _TemplateCall:
    pos: int
    line: int
    name: str
    pipe: _Pipe | None

    def __str__(self) -> str:
        tail = f" {self.pipe}" if self.pipe is not None else ""
        return f"{{{{template {go_quote(self.name)}{tail}}}}}"


@dataclass(slots=True)
class _Control:
    """break, continue, and the end/else markers the parser hands back to its caller."""

    kind: str
    pos: int
    line: int = 0

    def __str__(self) -> str:
        return "{{" + self.kind + "}}"


_OPERAND_START = {"BOOL", "CHARCONST", "COMPLEX", ".", "FIELD", "IDENT", "NUMBER", "nil",
                  "RAWSTRING", "STRING", "VARIABLE", "LPAREN"}
_UNQUOTE_ESC = {"a": 7, "b": 8, "f": 12, "n": 10, "r": 13, "t": 9, "v": 11, "\\": 92}


def _unquote(text: str) -> str:
    """strconv.Unquote of a Go string literal; ValueError("invalid syntax") when malformed."""
    if len(text) >= 2 and text[0] == text[-1] == "`":
        return text[1:-1].replace("\r", "")
    q = text[:1]
    if len(text) < 2 or text[-1] != q or q not in "\"'":
        raise ValueError("invalid syntax")
    body, out, i = text[1:-1], bytearray(), 0
    while i < len(body):
        c = body[i]
        if c == q or c == "\n":
            raise ValueError("invalid syntax")
        if c != "\\":
            out += c.encode("utf-8", "surrogateescape")
            i += 1
            continue
        e = body[i + 1:i + 2]
        if e in _UNQUOTE_ESC:
            out.append(_UNQUOTE_ESC[e])
            i += 2
        elif e in ("'", '"'):
            if e != q:
                raise ValueError("invalid syntax")
            out += e.encode()
            i += 2
        elif e and e in "xuU":
            n = {"x": 2, "u": 4, "U": 8}[e]
            digits = body[i + 2:i + 2 + n]
            if len(digits) != n or any(d not in "0123456789abcdefABCDEF" for d in digits):
                raise ValueError("invalid syntax")
            v = int(digits, 16)
            if e == "x":
                out.append(v)
            elif v > 0x10FFFF or 0xD800 <= v <= 0xDFFF:
                raise ValueError("invalid syntax")
            else:
                out += chr(v).encode()
            i += 2 + n
        elif e and e in "01234567":
            digits = body[i + 1:i + 4]
            if len(digits) != 3 or any(d not in "01234567" for d in digits) or int(digits, 8) > 255:
                raise ValueError("invalid syntax")
            out.append(int(digits, 8))
            i += 4
        else:
            raise ValueError("invalid syntax")
    return out.decode("utf-8", "surrogateescape")


def _parse_number(tok: _Item) -> _Number:
    """parse.newNumber: which of int, uint, float (and complex) the constant can be."""
    text = tok.val
    n = _Number(tok.pos, text)
    if tok.typ == "CHARCONST":
        r = _unquote(text)
        if len(r) != 1:
            raise ValueError(f"malformed character constant: {text}")
        n.int_val, n.uint_ok, n.float_val = ord(r), True, float(ord(r))
        return n
    if tok.typ == "COMPLEX" or text.endswith("i"):
        try:
            n.complex_val = complex(text.replace("_", "").replace("i", "j"))
            return n
        except ValueError:
            if tok.typ == "COMPLEX":
                raise ValueError(f"illegal number syntax: {go_quote(text)}") from None
    body, neg = text.lstrip("+-"), text.startswith("-")
    try:
        if len(body) > 1 and body[0] == "0" and body[1] in "01234567_":
            iv = int(body.replace("_", ""), 8)
        else:
            iv = int(body, 0)
        iv = -iv if neg else iv
    except ValueError:
        iv = None
    if iv is not None and -(1 << 63) <= iv < (1 << 63):
        n.int_val, n.float_val = iv, float(iv)
    if iv is not None and 0 <= iv < (1 << 64):
        n.uint_ok, n.float_val = True, float(iv)
    if iv is None:
        try:
            low = body.lower()
            f = float.fromhex(body) if low.startswith("0x") else float(body)
            n.float_val = -f if neg else f
        except ValueError:
            raise ValueError(f"illegal number syntax: {go_quote(text)}") from None
        if not any(c in text for c in ".eEpP"):
            raise ValueError(f"integer overflow: {go_quote(text)}")
        if n.float_val == int(n.float_val) and abs(n.float_val) < 2 ** 63:
            n.int_val = int(n.float_val)
    elif n.int_val is None and not n.uint_ok:
        raise ValueError(f"illegal number syntax: {go_quote(text)}")
    return n


class _Parser:
    """parse.go's recursive descent, with its three-token lookahead and error wording."""

    def __init__(self, text: str, funcs: set[str]) -> None:
        self.items = _Lexer(text).run()
        self.i = 0
        self.token: list[_Item] = [self.items[0]] * 3
        self.peek_count = 0
        self.funcs = funcs
        self.vars = ["$"]
        self.range_depth = 0
        self.action_line = 0
        self.defs: dict[str, _List] = {}

    # token stream
    def _lex(self) -> _Item:
        if self.i < len(self.items):
            self.i += 1
            return self.items[self.i - 1]
        last = self.items[-1]  # after EOF or an error the lexer only says EOF
        return _Item("EOF", last.pos, "", last.line)

    def next(self) -> _Item:
        if self.peek_count > 0:
            self.peek_count -= 1
        else:
            self.token[0] = self._lex()
        return self.token[self.peek_count]

    def backup(self) -> None:
        self.peek_count += 1

    def backup2(self, t1: _Item) -> None:
        self.token[1] = t1
        self.peek_count = 2

    def backup3(self, t2: _Item, t1: _Item) -> None:
        self.token[1], self.token[2] = t1, t2
        self.peek_count = 3

    def peek(self) -> _Item:
        if self.peek_count > 0:
            return self.token[self.peek_count - 1]
        self.peek_count = 1
        self.token[0] = self._lex()
        return self.token[0]

    def next_non_space(self) -> _Item:
        while (tok := self.next()).typ == "SPACE":
            pass
        return tok

    def peek_non_space(self) -> _Item:
        tok = self.next_non_space()
        self.backup()
        return tok

    # errors
    def errorf(self, msg: str) -> None:
        raise TemplateError(f"template: :{self.token[0].line}: {msg}")

    def unexpected(self, tok: _Item, context: str) -> None:
        if tok.typ == "ERROR":
            extra = ""
            if self.action_line and self.action_line != tok.line:
                extra = f" in action started at :{self.action_line}"
                if tok.val.endswith(" action"):
                    extra = extra[len(" in action"):]
            self.errorf(f"{tok}{extra}")
        self.errorf(f"unexpected {tok} in {context}")

    def expect(self, typ: str, context: str) -> _Item:
        tok = self.next_non_space()
        if tok.typ != typ:
            self.unexpected(tok, context)
        return tok

    # grammar
    def parse(self) -> _List:
        root = _List(self.peek().pos)
        while self.peek().typ != "EOF":
            if self.peek().typ == "LDELIM":
                delim = self.next()
                if self.next_non_space().typ == "define":
                    self.parse_definition()
                    continue
                self.backup2(delim)
            n = self.text_or_action()
            if isinstance(n, _Control) and n.kind in ("end", "else"):
                self.errorf(f"unexpected {n}")
            root.nodes.append(n)
        return root

    def _sub_list(self, context: str) -> _List:
        saved = self.vars, self.range_depth
        self.vars, self.range_depth = ["$"], 0
        body, end = self.item_list()
        if not (isinstance(end, _Control) and end.kind == "end"):
            self.errorf(f"unexpected {end} in {context}")
        self.vars, self.range_depth = saved
        return body

    def parse_definition(self) -> None:
        tok = self.next_non_space()
        if tok.typ not in ("STRING", "RAWSTRING"):
            self.unexpected(tok, "define clause")
        name = self._string(tok)
        self.expect("RDELIM", "define clause")
        body = self._sub_list("define clause")
        if self.defs.get(name) and str(body).strip(SPACE_CHARS):
            self.errorf(f"template: multiple definition of template {go_quote(name)}")
        self.defs[name] = body

    def item_list(self) -> tuple[_List, Any]:
        lst = _List(self.peek_non_space().pos)
        while self.peek_non_space().typ != "EOF":
            n = self.text_or_action()
            if isinstance(n, _Control) and n.kind in ("end", "else"):
                return lst, n
            lst.nodes.append(n)
        self.errorf("unexpected EOF")
        raise AssertionError

    def text_or_action(self) -> Any:
        tok = self.next_non_space()
        if tok.typ == "TEXT":
            return _Text(tok.pos, tok.val)
        if tok.typ == "LDELIM":
            self.action_line = tok.line
            try:
                return self.action()
            finally:
                self.action_line = 0
        self.unexpected(tok, "input")

    def action(self) -> Any:
        tok = self.next_non_space()
        if tok.typ in ("if", "range", "with"):
            return self.branch(tok.typ)
        if tok.typ in ("break", "continue"):
            nxt = self.next_non_space()
            if nxt.typ != "RDELIM":
                self.unexpected(nxt, "{{" + tok.typ + "}}")
            if self.range_depth == 0:
                self.errorf(f"{{{{{tok.typ}}}}} outside {{{{range}}}}")
            return _Control(tok.typ, tok.pos, tok.line)
        if tok.typ == "else":
            peek = self.peek_non_space()
            if peek.typ in ("if", "with"):
                return _Control("else", peek.pos, peek.line)
            tok = self.expect("RDELIM", "else")
            return _Control("else", tok.pos, tok.line)
        if tok.typ == "end":
            return _Control("end", self.expect("RDELIM", "end").pos)
        if tok.typ in ("template", "block"):
            return self.template_call(tok.typ)
        self.backup()
        tok = self.peek()
        return _Action(tok.pos, tok.line, self.pipeline("command", "RDELIM"))

    def branch(self, context: str) -> _Branch:
        nvars = len(self.vars)
        try:
            pipe = self.pipeline(context, "RDELIM")
            self.range_depth += context == "range"
            body, nxt = self.item_list()
            self.range_depth -= context == "range"
            else_list = None
            if nxt.kind == "else":
                if context in ("if", "with") and self.peek().typ == context:
                    self.next()
                    else_list = _List(nxt.pos, [self.branch(context)])
                else:
                    else_list, nxt = self.item_list()
                    if nxt.kind != "end":
                        self.errorf(f"expected end; found {nxt}")
            return _Branch(context, pipe.pos, pipe.line, pipe, body, else_list)
        finally:
            del self.vars[nvars:]

    def template_call(self, keyword: str) -> _TemplateCall:
        context = f"{keyword} clause"
        tok = self.next_non_space()
        if tok.typ not in ("STRING", "RAWSTRING"):
            self.unexpected(tok, context)
        name = self._string(tok)
        pipe = None
        if keyword == "block":
            pipe = self.pipeline(context, "RDELIM")
            self.defs[name] = self._sub_list(context)
        elif self.next_non_space().typ != "RDELIM":
            self.backup()
            pipe = self.pipeline(context, "RDELIM")
        return _TemplateCall(tok.pos, tok.line, name, pipe)

    def pipeline(self, context: str, end: str) -> _Pipe:
        tok = self.peek_non_space()
        pipe = _Pipe(tok.pos, tok.line)
        while (v := self.peek_non_space()).typ == "VARIABLE":
            self.next()
            after = self.peek()
            nxt = self.peek_non_space()
            if nxt.typ in ("ASSIGN", "DECLARE"):
                pipe.is_assign = nxt.typ == "ASSIGN"
                self.next_non_space()
                pipe.decl.append(_Var(v.pos, v.val.split(".")))
                self.vars.append(v.val)
            elif nxt.typ == "CHAR" and nxt.val == ",":
                self.next_non_space()
                pipe.decl.append(_Var(v.pos, v.val.split(".")))
                self.vars.append(v.val)
                if context == "range" and len(pipe.decl) < 2:
                    if self.peek_non_space().typ in ("VARIABLE", "RDELIM", "RPAREN"):
                        continue
                    self.errorf("range can only initialize variables")
                self.errorf(f"too many declarations in {context}")
            elif after.typ == "SPACE":
                self.backup3(v, after)
            else:
                self.backup2(v)
            break
        while True:
            tok = self.next_non_space()
            if tok.typ == end:
                if not pipe.cmds:
                    self.errorf(f"missing value for {context}")
                for i, c in enumerate(pipe.cmds[1:]):
                    if isinstance(c.args[0], _Literal | _Number):
                        self.errorf(f"non executable command in pipeline stage {i + 2}")
                return pipe
            if tok.typ not in _OPERAND_START:
                self.unexpected(tok, context)
            self.backup()
            pipe.cmds.append(self.command())

    def command(self) -> _Command:
        cmd = _Command(self.peek_non_space().pos)
        while True:
            self.peek_non_space()
            operand = self.operand()
            if operand is not None:
                cmd.args.append(operand)
            tok = self.next()
            if tok.typ == "SPACE":
                continue
            if tok.typ in ("RDELIM", "RPAREN"):
                self.backup()
            elif tok.typ != "PIPE":
                self.unexpected(tok, "operand")
            break
        if not cmd.args:
            self.errorf("empty command")
        return cmd

    def operand(self) -> Any:
        node = self.term()
        if node is None or self.peek().typ != "FIELD":
            return node
        pos, fields = self.peek().pos, []
        while self.peek().typ == "FIELD":
            fields.append(self.next().val[1:])
        if isinstance(node, _Field):
            return _Field(pos, node.ident + fields)
        if isinstance(node, _Var):
            return _Var(pos, node.ident + fields)
        if isinstance(node, _Literal | _Number):
            self.errorf(f"unexpected . after term {go_quote(str(node))}")
        return _Chain(pos, node, fields)

    def _string(self, tok: _Item) -> str:
        try:
            return _unquote(tok.val)
        except ValueError as e:
            self.errorf(str(e))
            raise AssertionError from e

    def term(self) -> Any:
        tok = self.next_non_space()
        t = tok.typ
        if t == "IDENT":
            if tok.val not in self.funcs:
                self.errorf(f"function {go_quote(tok.val)} not defined")
            return _Ident(tok.pos, tok.val)
        if t == ".":
            return _Literal(tok.pos, "dot", ".")
        if t == "nil":
            return _Literal(tok.pos, "nil", "nil")
        if t == "VARIABLE":
            var = _Var(tok.pos, tok.val.split("."))
            if var.ident[0] not in self.vars:
                self.errorf(f"undefined variable {go_quote(var.ident[0])}")
            return var
        if t == "FIELD":
            return _Field(tok.pos, tok.val[1:].split("."))
        if t == "BOOL":
            return _Literal(tok.pos, "bool", tok.val, tok.val == "true")
        if t in ("CHARCONST", "COMPLEX", "NUMBER"):
            try:
                return _parse_number(tok)
            except ValueError as e:
                self.errorf(str(e))
        if t == "LPAREN":
            return self.pipeline("parenthesized pipeline", "RPAREN")
        if t in ("STRING", "RAWSTRING"):
            return _Literal(tok.pos, "string", tok.val, self._string(tok))
        self.backup()
        return None


# ---------------------------------------------------------------------------------------------
# functions (funcs.go and docker/cli templates/templates.go)

class _CallError(Exception):
    """A function's own error; exec reports it as ``error calling NAME: ...``."""


_NO_FINAL = object()  # exec.go's missingVal: no value piped in from a previous command

# Parameter types: "value" is reflect.Value (an absent value stays absent), "any" is
# interface{} (an absent value becomes nil), else a Go type the argument must match.
_TYPE_NAMES = {"value": "reflect.Value", "any": "interface {}"}


@dataclass(frozen=True, slots=True)
class _Func:
    impl: Callable[..., Any] | None
    params: tuple[str, ...] = ()
    variadic: str | None = None


def _as_func(fn: Any) -> _Func:
    """A Python callable used as a template function or GoStruct method: untyped parameters."""
    if isinstance(fn, _Func):
        return fn
    try:
        ps = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        return _Func(fn, (), "any")
    fixed = tuple("any" for p in ps if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD))
    variadic = "any" if any(p.kind == p.VAR_POSITIONAL for p in ps) else None
    return _Func(fn, fixed, variadic)


def _plain(v: Any) -> Any:
    """indirectInterface: a nil interface is no value at all."""
    return NO_VALUE if v is None else v


def is_true(v: Any) -> tuple[bool, bool]:
    """exec.go isTrue: (truth, ok). Empty strings/lists/maps, zero numbers and nils are false."""
    if v is None or v is NO_VALUE or isinstance(v, GoNil):
        return False, True
    if isinstance(v, GoStruct):
        return True, True
    if isinstance(v, bool | int | float | complex):
        return v != 0, True
    if isinstance(v, str | list | tuple | dict):
        return len(v) > 0, True
    return True, True


def _truth(v: Any) -> bool:
    return is_true(v)[0]


def _fn_len(item: Any) -> int:
    if item is None or isinstance(item, GoNil) and item.kind == "ptr":
        raise _CallError("len of nil pointer")
    if item is NO_VALUE:
        raise _CallError("reflect: call of reflect.Value.Type on zero Value")
    if isinstance(item, GoNil):
        return 0
    if isinstance(item, str):
        return len(item.encode("utf-8", "surrogateescape"))
    if isinstance(item, list | tuple | dict) and not isinstance(item, GoStruct):
        return len(item)
    raise _CallError(f"len of type {go_type(item)}")


def _index_arg(idx: Any, cap: int) -> int:
    idx = _plain(idx)
    if idx is NO_VALUE:
        raise _CallError("cannot index slice/array with nil")
    if not isinstance(idx, int) or isinstance(idx, bool):
        raise _CallError(f"cannot index slice/array with type {go_type(idx)}")
    if idx < 0 or idx > cap:
        raise _CallError(f"index out of range: {idx}")
    return idx


def _fn_index(item: Any, *indexes: Any) -> Any:
    item = _plain(item)
    if item is NO_VALUE:
        raise _CallError("index of untyped nil")
    for idx in indexes:
        if item is None or isinstance(item, GoNil) and item.kind == "ptr":
            raise _CallError("index of nil pointer")
        if isinstance(item, GoNil):
            zero = "" if item.go_type.endswith("]string") else None
            item = [] if item.kind == "slice" else GoMap({}, item.go_type, zero)
        if isinstance(item, str | list | tuple):
            x = _index_arg(idx, len(item))
            if x == len(item):
                raise _CallError(f"reflect: {'string' if isinstance(item, str) else 'slice'} "
                                 "index out of range")
            item = item.encode()[x] if isinstance(item, str) else item[x]
        elif isinstance(item, dict) and not isinstance(item, GoStruct):
            key = _plain(idx)
            if key is NO_VALUE:
                raise _CallError("value is nil; should be of type string")
            if not isinstance(key, str) or isinstance(key, JSONNumber):
                raise _CallError(f"value has type {go_type(key)}; should be string")
            item = item[key] if key in item else (item.zero if isinstance(item, GoMap) else None)
        else:
            raise _CallError(f"can't index item of type {go_type(item)}")
    return item


def _fn_slice(item: Any, *indexes: Any) -> Any:
    item = _plain(item)
    if item is NO_VALUE:
        raise _CallError("slice of untyped nil")
    if len(indexes) > 3:
        raise _CallError(f"too many slice indexes: {len(indexes)}")
    if not isinstance(item, str | list | tuple):
        raise _CallError(f"can't slice item of type {go_type(item)}")
    if isinstance(item, str) and len(indexes) == 3:
        raise _CallError("cannot 3-index slice a string")
    seq = item.encode() if isinstance(item, str) else item
    idx = [0, len(seq)]
    for i, x in enumerate(indexes):
        v = _index_arg(x, len(seq))
        idx[i:i + 1] = [v]
    if idx[0] > idx[1]:
        raise _CallError(f"invalid slice index: {idx[0]} > {idx[1]}")
    out = seq[idx[0]:idx[1]]
    return out.decode("utf-8", "surrogateescape") if isinstance(out, bytes) else list(out)


def _kind(v: Any) -> str:
    if v is NO_VALUE:
        return "invalid"
    if isinstance(v, bool):
        return "bool"
    for t, name in ((int, "int"), (float, "float"), (complex, "complex"), (str, "string")):
        if isinstance(v, t):
            return name
    return "invalid"


def _is_nil(v: Any) -> bool:
    return v is NO_VALUE or v is None or isinstance(v, GoNil)


def _fn_eq(arg1: Any, *arg2: Any) -> bool:
    a = _plain(arg1)
    if not arg2:
        raise _CallError("missing argument for comparison")
    k1 = _kind(a)
    for b in map(_plain, arg2):
        k2 = _kind(b)
        if k1 != k2:
            if a is not NO_VALUE and b is not NO_VALUE:
                raise _CallError(f"incompatible types for comparison: {go_type(a)} and {go_type(b)}")
            continue
        if k1 != "invalid":
            if str.__eq__(a, b) if k1 == "string" else a == b:
                return True
            continue
        same_shape = type(a) is type(b) or a is NO_VALUE or b is NO_VALUE
        if not same_shape and not (_is_nil(a) or _is_nil(b)):
            raise _CallError(f"non-comparable types {_fmt_v(a)}: {go_type(a)}, "
                             f"{go_type(b)}: {_fmt_v(b)}")
        if _is_nil(a) or _is_nil(b):
            if _is_nil(a) == _is_nil(b):
                return True
        elif isinstance(b, list | tuple | dict) and not isinstance(b, GoStruct):
            raise _CallError(f"non-comparable type {_fmt_v(b)}: {go_type(b)}")
        elif a == b:
            return True
    return False


def _fn_lt(arg1: Any, arg2: Any) -> bool:
    a, b = _plain(arg1), _plain(arg2)
    k1, k2 = _kind(a), _kind(b)
    if k1 == "invalid" or k2 == "invalid":
        raise _CallError("invalid type for comparison")
    if k1 != k2:
        raise _CallError(f"incompatible types for comparison: {go_type(a)} and {go_type(b)}")
    if k1 in ("bool", "complex"):
        raise _CallError("invalid type for comparison")
    return str.__lt__(a, b) if k1 == "string" else a < b


def _fn_le(a: Any, b: Any) -> bool:
    return _fn_lt(a, b) or _fn_eq(a, b)


def _eval_args(args: tuple) -> str:
    return args[0] if len(args) == 1 and isinstance(args[0], str) else go_sprint(*args)


def _fn_html(*args: Any) -> str:
    table = {"\0": "\ufffd", '"': "&#34;", "'": "&#39;", "&": "&amp;", "<": "&lt;", ">": "&gt;"}
    return "".join(table.get(c, c) for c in _eval_args(args))


def _fn_js(*args: Any) -> str:
    out = []
    for c in _eval_args(args):
        if c in "\\'\"":
            out.append("\\" + c)
        elif c in "<>&=" or c < " " or not c.isprintable():
            out.append(f"\\u{ord(c):04X}")
        else:
            out.append(c)
    return "".join(out)


def _title(s: str) -> str:
    """strings.Title: upper-case the first letter of every word."""
    def separator(c: str) -> bool:
        if c < "\x80":
            return not (c.isalnum() or c == "_")
        return not (c.isalpha() or unicodedata.category(c) == "Nd") and c.isspace()

    out, prev = [], " "
    for c in s:
        t = c.title()
        out.append(t if separator(prev) and len(t) == 1 else c)
        prev = c
    return "".join(out)


def _case(s: str, upper: bool) -> str:
    """strings.ToUpper/ToLower: rune by rune (no 'ß' -> 'SS')."""
    conv = [c.upper() if upper else c.lower() for c in s]
    return "".join(x if len(x) == 1 else c for x, c in zip(conv, s, strict=True))


def _split(s: str, sep: str) -> list[str]:
    return list(s) if sep == "" else s.split(sep)


def _pad_with_space(s: str, prefix: int, suffix: int) -> str:
    return s if s == "" else " " * prefix + s + " " * suffix


def _truncate(s: str, length: int) -> str:
    b = s.encode("utf-8", "surrogateescape")
    if len(b) < length:
        return s
    if length < 0:
        raise _CallError(f"runtime error: slice bounds out of range [:{length}]")
    return b[:length].decode("utf-8", "surrogateescape")


_BUILTINS: dict[str, _Func] = {
    "and": _Func(None, ("value",), "value"),
    "or": _Func(None, ("value",), "value"),
    "not": _Func(lambda a: not _truth(a), ("value",)),
    "len": _Func(_fn_len, ("value",)),
    "index": _Func(_fn_index, ("value",), "value"),
    "slice": _Func(_fn_slice, ("value",), "value"),
    "print": _Func(go_sprint, (), "any"),
    "printf": _Func(go_sprintf, ("string",), "any"),
    "println": _Func(go_sprintln, (), "any"),
    "html": _Func(_fn_html, (), "any"),
    "js": _Func(_fn_js, (), "any"),
    "urlquery": _Func(lambda *a: quote_plus(_eval_args(a), safe=""), (), "any"),
    "eq": _Func(_fn_eq, ("value",), "value"),
    "ne": _Func(lambda a, b: not _fn_eq(a, b), ("value", "value")),
    "lt": _Func(_fn_lt, ("value", "value")),
    "le": _Func(_fn_le, ("value", "value")),
    "gt": _Func(lambda a, b: not _fn_le(a, b), ("value", "value")),
    "ge": _Func(lambda a, b: not _fn_lt(a, b), ("value", "value")),
}

DOCKER_FUNCS: dict[str, _Func] = {
    "json": _Func(encoder_json, ("any",)),
    "split": _Func(_split, ("string", "string")),
    "join": _Func(lambda elems, sep: sep.join(elems), ("[]string", "string")),
    "title": _Func(_title, ("string",)),
    "lower": _Func(lambda s: _case(s, False), ("string",)),
    "upper": _Func(lambda s: _case(s, True), ("string",)),
    "pad": _Func(_pad_with_space, ("string", "int", "int")),
    "truncate": _Func(_truncate, ("string", "int")),
}

# templates.HeaderFunctions: a table header keeps its column names; pad is not replaced.
HEADER_FUNCS: dict[str, _Func] = {
    "json": _Func(lambda v: v, ("string",)),
    "split": _Func(lambda v, _: v, ("string", "string")),
    "join": _Func(lambda v, _: v, ("string", "string")),
    "title": _Func(lambda v: v, ("string",)),
    "lower": _Func(lambda v: v, ("string",)),
    "upper": _Func(lambda v: v, ("string",)),
    "truncate": _Func(lambda v, _: v, ("string", "int")),
}


# ---------------------------------------------------------------------------------------------
# execution (exec.go)

class _BreakSignal(Exception):
    pass


class _ContinueSignal(Exception):
    pass


def _location(text: str, pos: int) -> str:
    """ErrorContext's ":line:col", the column a byte offset within the line."""
    before = text[:pos]
    line_start = before.rfind("\n") + 1
    col = len(before[line_start:].encode("utf-8", "surrogateescape"))
    return f":{1 + before.count(chr(10))}:{col}"


class _State:
    def __init__(self, tmpl: Template, data: Any, missingkey: str, funcs: dict[str, _Func]) -> None:
        self.tmpl, self.missingkey, self.funcs = tmpl, missingkey, funcs
        self.vars: list[tuple[str, Any]] = [("$", data)]
        self.node: Any = None
        self.out: list[str] = []
        self.depth = 0

    def errorf(self, msg: str) -> None:
        if self.node is None:
            raise ExecError(f"template: : {msg}")
        loc = _location(self.tmpl.text, self.node.pos)
        raise ExecError(f'template: {loc}: executing "" at <{self.node}>: {msg}')

    # variables
    def var_value(self, name: str) -> Any:
        for n, v in reversed(self.vars):
            if n == name:
                return v
        self.errorf(f"undefined variable: {name}")

    def set_var(self, name: str, value: Any) -> None:
        for i in range(len(self.vars) - 1, -1, -1):
            if self.vars[i][0] == name:
                self.vars[i] = (name, value)
                return
        self.errorf(f"undefined variable: {name}")

    def set_top_var(self, n: int, value: Any) -> None:
        self.vars[-n] = (self.vars[-n][0], value)

    # walking
    def walk(self, dot: Any, node: Any) -> None:
        self.node = node
        if isinstance(node, _Text):
            self.out.append(node.text)
        elif isinstance(node, _Action):
            val = self.eval_pipeline(dot, node.pipe)
            if not node.pipe.decl:
                self.node = node
                self.out.append("<no value>" if val is NO_VALUE else _fmt_v(val))
        elif isinstance(node, _List):
            for n in node.nodes:
                self.walk(dot, n)
        elif isinstance(node, _Branch):
            (self.walk_range if node.kind == "range" else self.walk_if_or_with)(dot, node)
        elif isinstance(node, _TemplateCall):
            self.walk_template(dot, node)
        elif isinstance(node, _Control):
            raise _BreakSignal if node.kind == "break" else _ContinueSignal

    def walk_if_or_with(self, dot: Any, node: _Branch) -> None:
        mark = len(self.vars)
        try:
            val = self.eval_pipeline(dot, node.pipe)
            truth, ok = is_true(val)
            if not ok:
                self.errorf(f"if/with can't use {_fmt_v(val)}")
            if truth:
                self.walk(val if node.kind == "with" else dot, node.list)
            elif node.else_list is not None:
                self.walk(dot, node.else_list)
        finally:
            del self.vars[mark:]

    def walk_range(self, dot: Any, node: _Branch) -> None:
        mark0 = len(self.vars)
        try:
            val = self.eval_pipeline(dot, node.pipe)
            mark = len(self.vars)
            if isinstance(val, dict) and not isinstance(val, GoStruct):
                items = [(k, val[k]) for k in _sorted_keys(val)]
            elif isinstance(val, list | tuple):
                items = list(enumerate(val))
            elif val is NO_VALUE or isinstance(val, GoNil) and val.kind != "ptr":
                items = []
            else:
                self.errorf(f"range can't iterate over {_fmt_v(val)}")
            if items:
                try:
                    for index, elem in items:
                        self.one_iteration(node, index, elem, mark)
                except _BreakSignal:
                    pass
                return
            if node.else_list is not None:
                self.walk(dot, node.else_list)
        finally:
            del self.vars[mark0:]

    def one_iteration(self, node: _Branch, index: Any, elem: Any, mark: int) -> None:
        decl, assign = node.pipe.decl, node.pipe.is_assign
        try:
            if decl:
                if assign:
                    self.set_var(decl[0].ident[0], index if len(decl) > 1 else elem)
                else:
                    self.set_top_var(1, elem)
            if len(decl) > 1:
                if assign:
                    self.set_var(decl[1].ident[0], elem)
                else:
                    self.set_top_var(2, index)
            try:
                self.walk(elem, node.list)
            except _ContinueSignal:
                pass
        finally:
            del self.vars[mark:]

    def walk_template(self, dot: Any, node: _TemplateCall) -> None:
        body = self.tmpl.defs.get(node.name)
        if body is None:
            self.errorf(f"template {go_quote(node.name)} not defined")
        if self.depth >= 10000:
            self.errorf("exceeded maximum template depth (10000)")
        dot = self.eval_pipeline(dot, node.pipe)
        saved, self.vars = self.vars, [("$", dot)]
        self.depth += 1
        try:
            self.walk(dot, body)
        finally:
            self.vars = saved
            self.depth -= 1

    # evaluation
    def eval_pipeline(self, dot: Any, pipe: _Pipe | None) -> Any:
        if pipe is None:
            return NO_VALUE
        self.node = pipe
        value: Any = _NO_FINAL
        for cmd in pipe.cmds:
            value = self.eval_command(dot, cmd, value)
            if value is None:  # an interface{} holding nil: dig down to no value
                value = NO_VALUE
        for var in pipe.decl:
            if pipe.is_assign:
                self.set_var(var.ident[0], value)
            else:
                self.vars.append((var.ident[0], value))
        return value

    def not_a_function(self, args: list, final: Any) -> None:
        if len(args) > 1 or final is not _NO_FINAL:
            self.errorf(f"can't give argument to non-function {args[0]}")

    def eval_command(self, dot: Any, cmd: _Command, final: Any) -> Any:
        first = cmd.args[0]
        if isinstance(first, _Field):
            self.node = first
            return self.eval_field_chain(dot, dot, first, first.ident, cmd.args, final)
        if isinstance(first, _Chain):
            return self.eval_chain(dot, first, cmd.args, final)
        if isinstance(first, _Ident):
            return self.eval_function(dot, first, cmd, cmd.args, final)
        if isinstance(first, _Pipe):
            self.not_a_function(cmd.args, final)
            return self.eval_pipeline(dot, first)
        if isinstance(first, _Var):
            return self.eval_variable(dot, first, cmd.args, final)
        self.node = first
        self.not_a_function(cmd.args, final)
        if isinstance(first, _Number):
            return self.ideal_constant(first)
        if first.kind == "nil":
            self.errorf("nil is not a command")
        return dot if first.kind == "dot" else first.value

    def ideal_constant(self, n: _Number) -> Any:
        self.node = n
        if n.complex_val is not None:
            return n.complex_val
        hexint = n.text.lstrip("+-")[:2] in ("0x", "0X") and not any(c in n.text for c in "pP")
        looks_float = any(c in n.text for c in ".eEpP") and not hexint and n.text[0] != "'"
        if n.float_val is not None and (looks_float or n.int_val is None and not n.uint_ok):
            return n.float_val
        if n.int_val is not None:
            return n.int_val
        self.errorf(f"{n.text} overflows int")

    def eval_chain(self, dot: Any, chain: _Chain, args: list | None, final: Any) -> Any:
        self.node = chain
        if isinstance(chain.node, _Literal) and chain.node.kind == "nil":
            self.errorf(f"indirection through explicit nil in {chain}")
        receiver = self.eval_arg(dot, None, chain.node)
        return self.eval_field_chain(dot, receiver, chain, chain.fields, args, final)

    def eval_variable(self, dot: Any, var: _Var, args: list | None, final: Any) -> Any:
        self.node = var
        value = self.var_value(var.ident[0])
        if len(var.ident) == 1:
            self.not_a_function(args or [var], final)
            return value
        return self.eval_field_chain(dot, value, var, var.ident[1:], args, final)

    def eval_field_chain(self, dot: Any, receiver: Any, node: Any, ident: list[str],
                         args: list | None, final: Any) -> Any:
        for name in ident[:-1]:
            receiver = self.eval_field(dot, name, node, None, _NO_FINAL, receiver)
        return self.eval_field(dot, ident[-1], node, args, final, receiver)

    def eval_field(self, dot: Any, name: str, node: Any, args: list | None, final: Any,
                   receiver: Any) -> Any:
        if receiver is NO_VALUE:
            if self.missingkey == "error":
                self.errorf(f"nil data; no entry for key {go_quote(name)}")
            return NO_VALUE
        if receiver is None:
            self.errorf(f"nil pointer evaluating interface {{}}.{name}")
        has_args = (args is not None and len(args) > 1) or final is not _NO_FINAL
        if isinstance(receiver, GoStruct):
            if name in receiver:
                v = receiver[name]
                if callable(v):
                    return self.eval_call(dot, _as_func(v), False, node, name, args, final)
                if has_args:
                    self.errorf(f"{name} has arguments but cannot be invoked as function")
                return v
        elif isinstance(receiver, dict) or isinstance(receiver, GoNil) and receiver.kind == "map":
            if has_args:
                self.errorf(f"{name} is not a method but has arguments")
            if isinstance(receiver, dict) and name in receiver:
                return receiver[name]
            if self.missingkey == "error":
                self.errorf(f"map has no entry for key {go_quote(name)}")
            if self.missingkey == "zero":
                return receiver.zero if isinstance(receiver, GoMap) else None
            return NO_VALUE
        elif isinstance(receiver, GoNil) and receiver.kind == "ptr":
            self.errorf(f"nil pointer evaluating {receiver.go_type}.{name}")
        self.errorf(f"can't evaluate field {name} in type {go_type(receiver)}")

    def eval_function(self, dot: Any, node: _Ident, cmd: Any, args: list | None, final: Any) -> Any:
        self.node = node
        fn = self.funcs.get(node.name)
        if fn is None:
            self.errorf(f"{go_quote(node.name)} is not a defined function")
        return self.eval_call(dot, fn, node.name in _BUILTINS, cmd, node.name, args, final)

    def eval_call(self, dot: Any, fn: _Func, builtin: bool, node: Any, name: str,
                  args: list | None, final: Any) -> Any:
        args = list(args[1:]) if args is not None else []
        num_in = len(args) + (final is not _NO_FINAL)
        num_fixed = len(args)
        if fn.variadic is not None:
            num_fixed = len(fn.params)
            if num_in < num_fixed:
                self.errorf(f"wrong number of args for {name}: want at least {num_fixed} "
                            f"got {len(args)}")
        elif num_in != len(fn.params):
            self.errorf(f"wrong number of args for {name}: want {len(fn.params)} got {num_in}")
        if builtin and name in ("and", "or"):
            v: Any = NO_VALUE
            for arg in args:
                v = self.eval_arg(dot, "value", arg)
                if _truth(v) == (name == "or"):
                    return v
            return final if final is not _NO_FINAL else v
        argv = [self.eval_arg(dot, fn.params[i], a) for i, a in enumerate(args[:num_fixed])]
        argv += [self.eval_arg(dot, fn.variadic, a) for a in args[num_fixed:]]
        if final is not _NO_FINAL:
            if fn.variadic is not None and num_in - 1 >= num_fixed:
                ptype = fn.variadic
            else:
                ptype = fn.params[num_in - 1]
            argv.append(self.validate_type(final, ptype))
        try:
            return fn.impl(*argv)  # type: ignore[misc]
        except _CallError as e:
            self.node = node
            self.errorf(f"error calling {name}: {e}")

    def validate_type(self, value: Any, typ: str | None) -> Any:
        if typ is None or typ == "value":
            return value
        if typ == "any":
            return None if value is NO_VALUE else value
        if value is NO_VALUE:
            if typ.startswith("[]"):
                return []
            self.errorf(f"invalid value; expected {typ}")
        ok = {"string": lambda v: isinstance(v, str) and not isinstance(v, JSONNumber),
              "int": lambda v: isinstance(v, int) and not isinstance(v, bool),
              "bool": lambda v: isinstance(v, bool),
              "[]string": lambda v: isinstance(v, GoNil) and v.kind == "slice" or isinstance(
                  v, list | tuple) and all(isinstance(x, str) for x in v)}[typ]
        if not ok(value):
            got = "interface {}" if value is None else go_type(value)
            self.errorf(f"wrong type for value; expected {typ}; got {got}")
        return [] if isinstance(value, GoNil) else value

    def eval_arg(self, dot: Any, typ: str | None, n: Any) -> Any:
        self.node = n
        if isinstance(n, _Literal) and n.kind == "dot":
            return self.validate_type(dot, typ)
        if isinstance(n, _Literal) and n.kind == "nil":
            if typ in (None, "any", "value") or typ.startswith("[]"):
                return None
            self.errorf(f"cannot assign nil to {typ}")
        if isinstance(n, _Field):
            return self.validate_type(self.eval_field_chain(dot, dot, n, n.ident, [n], _NO_FINAL), typ)
        if isinstance(n, _Var):
            return self.validate_type(self.eval_variable(dot, n, None, _NO_FINAL), typ)
        if isinstance(n, _Pipe):
            return self.validate_type(self.eval_pipeline(dot, n), typ)
        if isinstance(n, _Ident):
            return self.validate_type(self.eval_function(dot, n, n, None, _NO_FINAL), typ)
        if isinstance(n, _Chain):
            return self.validate_type(self.eval_chain(dot, n, None, _NO_FINAL), typ)
        if typ in (None, "any", "value"):
            return self.ideal_constant(n) if isinstance(n, _Number) else n.value
        if typ == "int":
            if isinstance(n, _Number) and n.int_val is not None:
                return n.int_val
            self.errorf(f"expected integer; found {n}")
        if typ in ("string", "bool"):
            if isinstance(n, _Literal) and n.kind == typ:
                return n.value
            self.errorf(f"expected {typ}; found {n}")
        self.errorf(f"can't handle {n} for arg of type {_TYPE_NAMES.get(typ, typ)}")


# ---------------------------------------------------------------------------------------------
# API

class Template:
    """A parsed template with docker's functions (templates.Parse)."""

    def __init__(self, text: str, funcs: Mapping[str, Callable[..., Any]] | None = None) -> None:
        self.text = text
        self.funcs: dict[str, _Func] = {**_BUILTINS, **DOCKER_FUNCS}
        self.funcs.update({k: _as_func(f) for k, f in (funcs or {}).items()})
        parser = _Parser(text, set(self.funcs))
        self.root = parser.parse()
        self.defs = parser.defs

    def execute(self, data: Any, *, missingkey: str = "default",
                funcs: Mapping[str, Any] | None = None) -> str:
        """Run the template on ``data``; ``missingkey`` is Go's option: default, zero or error.

        ``funcs`` replaces functions for this run (docker passes HEADER_FUNCS for headers).
        """
        fs = {**self.funcs, **{k: _as_func(f) for k, f in (funcs or {}).items()}}
        state = _State(self, NO_VALUE if data is None else data, missingkey, fs)
        try:
            state.walk(state.vars[0][1], self.root)
        except ExecError as e:
            e.partial = "".join(state.out)
            raise
        return "".join(state.out)


def parse(text: str, funcs: Mapping[str, Callable[..., Any]] | None = None) -> Template:
    """templates.Parse: the template with Go's builtins and docker's functions (+ ``funcs``)."""
    return Template(text, funcs)


def render(text: str, data: Any, *, missingkey: str = "default") -> str:
    """Parse and execute in one go (raises TemplateError or ExecError)."""
    return parse(text).execute(data, missingkey=missingkey)


def strip_table(fmt: str) -> tuple[str, bool]:
    """Format.IsTable and its strip: a leading ``table`` is cut off and reported."""
    return (fmt[len("table"):], True) if fmt.startswith("table") else (fmt, False)
