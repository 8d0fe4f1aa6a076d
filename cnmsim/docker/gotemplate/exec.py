"""Go's text/template executor (exec.go): walking the parse tree over Go values.

A failing template raises ExecError with Go's text
(``template: :1:2: executing "" at <.Foo>: map has no entry for key "Foo"``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from cnmsim.docker.gotemplate.errors import ExecError
from cnmsim.docker.gotemplate.funcs import (
    _BUILTINS,
    _NO_FINAL,
    _TYPE_NAMES,
    _as_func,
    _CallError,
    _Func,
    _truth,
    is_true,
)
from cnmsim.docker.gotemplate.gofmt import _fmt_v, _sorted_keys, go_quote
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
from cnmsim.docker.jsonout import NO_VALUE, GoMap, GoNil, GoStruct, JSONNumber, go_type

if TYPE_CHECKING:
    from cnmsim.docker.gotemplate.template import Template


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
