"""Go's text/template parser (parse/parse.go): lexer items to the parse tree, with Go's errors.

Also Go's literal constants: strconv.Unquote of string/char literals and parse.newNumber.
A bad template raises TemplateError (``template: :1: unexpected "}" in operand``).
"""

from __future__ import annotations

from typing import Any

from cnmsim.docker.gotemplate.errors import TemplateError
from cnmsim.docker.gotemplate.gofmt import go_quote
from cnmsim.docker.gotemplate.lex import SPACE_CHARS, _Item, _Lexer
from cnmsim.docker.gotemplate.tree import (
    _Action,
    _Branch,
    _Chain,
    _Command,
    _Control,
    _Field,
    _Ident,
    _List,
    _Literal,
    _Number,
    _Pipe,
    _TemplateCall,
    _Text,
    _Var,
)

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
