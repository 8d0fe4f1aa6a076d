"""Go's text/template lexer (parse/lex.go): template text to items, errors as ERROR items."""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cnmsim.docker.gotemplate.gofmt import go_quote

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
