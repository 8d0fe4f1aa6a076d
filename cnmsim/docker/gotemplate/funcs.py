"""Template functions: Go's builtins (text/template funcs.go) and docker's (cli templates.go).

_Func describes a function's Go signature (how exec converts and checks its arguments).
DOCKER_FUNCS are json, split, join, title, lower, upper, pad and truncate; HEADER_FUNCS are
docker's identity versions used for table headers. Also exec.go's isTrue (is_true).
"""

from __future__ import annotations

import inspect
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote_plus

from cnmsim.docker.gotemplate.gofmt import _fmt_v, go_sprint, go_sprintf, go_sprintln
from cnmsim.docker.jsonout import (
    NO_VALUE,
    GoMap,
    GoNil,
    GoStruct,
    JSONNumber,
    encoder_json,
    go_type,
)


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
