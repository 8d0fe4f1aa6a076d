"""Go values as the docker CLI sees them, Go's encoding/json, and what `docker inspect` prints.

The CLI formats Go values, so Python data needs to say which Go shape it stands for:

- a plain ``dict`` is a ``map[string]interface {}``: JSON keys sorted, printed ``map[k:v]``, a
  missing key reads as ``<no value>`` (what docker's raw-JSON fallback sees);
- ``GoStruct`` is a struct: JSON fields in declaration (insertion) order, printed ``{v1 v2}``, a
  missing field is an error, a callable value is a method (``.Label "x"`` in ``docker ps``);
- ``GoMap`` is a map with a typed element: ``index`` of a missing key gives the element's zero;
- ``GoNil`` is a typed nil: JSON ``null``, printed ``[]``, ``map[]`` or ``<nil>``;
- ``JSONNumber`` is a number decoded with ``UseNumber`` (a string kind for ``eq``).

`docker inspect` without --format re-indents the daemon's raw JSON (json.Indent, 4 spaces). The
daemon encodes with SetEscapeHTML(false), so ``< > &`` stay as they are in inspect output, while
U+2028/U+2029 are always escaped. docker/cli: cli/command/inspect/inspector.go.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

EXIT_NOT_FOUND = 1  # inspect.Inspect: StatusError{StatusCode: 1} joining every lookup error
EXIT_TEMPLATE_PARSE = 64  # inspect.Inspect: a --format that does not parse


class _NoValue:
    """The invalid reflect.Value: a missing map key; the template prints it ``<no value>``."""

    _instance: _NoValue | None = None

    def __new__(cls) -> _NoValue:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "NO_VALUE"

    def __bool__(self) -> bool:
        return False


NO_VALUE = _NoValue()


class GoStruct(dict):
    """A Go struct: fields kept in declaration order; a callable value is a method."""

    def __init__(self, fields: Mapping[str, Any] | Iterable[tuple[str, Any]] = (),
                 go_type: str = "struct") -> None:
        super().__init__(fields)
        self.go_type = go_type


class GoMap(dict):
    """A Go map whose element type is known, so ``index`` of a missing key yields ``zero``."""

    def __init__(self, items: Mapping[str, Any] | Iterable[tuple[str, Any]] = (),
                 go_type: str = "map[string]string", zero: Any = "") -> None:
        super().__init__(items)
        self.go_type = go_type
        self.zero = zero


class GoNil:
    """A typed nil: slice prints ``[]``, map ``map[]``, ptr ``<nil>``; JSON ``null`` for all."""

    __slots__ = ("kind", "go_type")
    _default = {"slice": "[]string", "map": "map[string]string", "ptr": "*struct"}

    def __init__(self, kind: str, go_type: str | None = None) -> None:
        if kind not in self._default:
            raise ValueError(f"GoNil kind must be slice, map or ptr, not {kind!r}")
        self.kind = kind
        self.go_type = go_type or self._default[kind]

    def __repr__(self) -> str:
        return f"GoNil({self.kind!r}, {self.go_type!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, GoNil) and (other.kind, other.go_type) == (self.kind, self.go_type)

    def __hash__(self) -> int:
        return hash((self.kind, self.go_type))


NIL_SLICE, NIL_MAP, NIL_PTR = GoNil("slice"), GoNil("map"), GoNil("ptr")


class JSONNumber(str):
    """encoding/json's Number: the literal text of a JSON number, a string kind in templates."""


class MarshalError(ValueError):
    """json.Marshal refused the value (NaN, Inf, a type JSON cannot hold)."""


def go_type(v: Any) -> str:
    """The Go type name the CLI would report for ``v`` in an error message."""
    if isinstance(v, GoStruct | GoMap | GoNil):
        return v.go_type
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int):
        return "int"
    if isinstance(v, float):
        return "float64"
    if isinstance(v, JSONNumber):
        return "json.Number"
    if isinstance(v, str):
        return "string"
    if isinstance(v, dict):
        return "map[string]interface {}"
    if isinstance(v, list | tuple):
        return "[]interface {}"
    if v is None:
        return "interface {}"
    if callable(v):
        return "func"
    return type(v).__name__


# ---------------------------------------------------------------------------------------------
# encoding/json

def _json_safe(c: str, escape_html: bool) -> bool:
    return " " <= c <= "\x7f" and c not in '"\\' and not (escape_html and c in "<>&")


_SHORT_ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r",
                  "\t": "\\t"}


def quote_json(s: str, escape_html: bool = True) -> str:
    """A JSON string as Go writes it: \\u00XX (lower-case hex) for controls, U+2028/9 escaped."""
    out = ['"']
    for c in s:
        if c < "\x80":
            if _json_safe(c, escape_html):
                out.append(c)
            elif c in _SHORT_ESCAPES:
                out.append(_SHORT_ESCAPES[c])
            else:
                out.append(f"\\u{ord(c):04x}")
        elif c in "\u2028\u2029":
            out.append(f"\\u{ord(c):04x}")
        elif "\ud800" <= c <= "\udfff":
            out.append("\\ufffd")  # invalid UTF-8 becomes the replacement rune
        else:
            out.append(c)
    out.append('"')
    return "".join(out)


def _shortest_digits(f: float) -> tuple[str, int]:
    """The shortest round-tripping digits of |f| and the decimal exponent of their first digit."""
    sign, digits, exp = Decimal(repr(abs(f))).normalize().as_tuple()
    ds = "".join(map(str, digits)) or "0"
    return ds, exp + len(ds) - 1  # type: ignore[operator]


def format_float(f: float, json_style: bool) -> str:
    """Shortest float text: fmt's %v ('g', exponent from 1e+06 on) or encoding/json's.

    JSON uses 'f' between 1e-6 and 1e21 and 'e' outside, with e-07 cleaned to e-7.
    """
    if f == 0:
        return "-0" if math.copysign(1, f) < 0 else "0"
    ds, exp = _shortest_digits(f)
    sign = "-" if f < 0 else ""
    if json_style:
        use_e = abs(f) < 1e-6 or abs(f) >= 1e21
    else:
        use_e = exp < -4 or exp >= 6  # strconv 'g' with shortest precision decides with 6
    if use_e:
        mant = ds[0] + ("." + ds[1:] if len(ds) > 1 else "")
        e = f"{abs(exp):02d}"
        if json_style and -10 < exp < 0:
            e = str(-exp)
        return f"{sign}{mant}e{'-' if exp < 0 else '+'}{e}"
    if exp < 0:
        return f"{sign}0.{'0' * (-exp - 1)}{ds}"
    if exp + 1 >= len(ds):
        return sign + ds + "0" * (exp + 1 - len(ds))
    return f"{sign}{ds[:exp + 1]}.{ds[exp + 1:]}"


def _encode(v: Any, out: list[str], html: bool, indent: str | None, depth: int) -> None:
    if v is None or v is NO_VALUE or isinstance(v, GoNil):
        out.append("null")
    elif isinstance(v, bool):
        out.append("true" if v else "false")
    elif isinstance(v, JSONNumber):
        out.append(str.__str__(v))
    elif isinstance(v, int):
        out.append(str(v))
    elif isinstance(v, float):
        if math.isnan(v) or math.isinf(v):
            raise MarshalError(f"json: unsupported value: {format_float(v, False)}")
        out.append(format_float(v, True))
    elif isinstance(v, str):
        out.append(quote_json(v, html))
    elif isinstance(v, dict):
        items = [(str(k), x) for k, x in v.items() if not (isinstance(v, GoStruct) and callable(x))]
        if not isinstance(v, GoStruct):
            items.sort(key=lambda kv: kv[0])
        _encode_seq("{", "}", items, out, html, indent, depth, keyed=True)
    elif isinstance(v, list | tuple):
        _encode_seq("[", "]", [(None, x) for x in v], out, html, indent, depth, keyed=False)
    else:
        raise MarshalError(f"json: unsupported type: {go_type(v)}")


def _encode_seq(open_: str, close: str, items: list[tuple[str | None, Any]], out: list[str],
                html: bool, indent: str | None, depth: int, keyed: bool) -> None:
    out.append(open_)
    for i, (k, x) in enumerate(items):
        if i:
            out.append(",")
        if indent is not None:
            out.append("\n" + indent * (depth + 1))
        if keyed:
            out.append(quote_json(k or "", html) + (": " if indent is not None else ":"))
        _encode(x, out, html, indent, depth + 1)
    if items and indent is not None:
        out.append("\n" + indent * depth)
    out.append(close)


def marshal(v: Any, *, indent: str | None = None, escape_html: bool = True) -> str:
    """json.Marshal (or MarshalIndent with prefix "" when ``indent`` is given)."""
    out: list[str] = []
    _encode(v, out, escape_html, indent, 0)
    return "".join(out)


def encoder_json(v: Any) -> str:
    """docker's template ``json`` func: an Encoder with SetEscapeHTML(false), newline trimmed."""
    return marshal(v, escape_html=False)


def as_raw(v: Any) -> Any:
    """``v`` as docker's raw-JSON fallback decodes it: maps only, numbers as JSONNumber."""
    return json.loads(marshal(v, escape_html=False), parse_int=JSONNumber, parse_float=JSONNumber)


# ---------------------------------------------------------------------------------------------
# docker inspect

def inspect_json(objs: Sequence[Any]) -> str:
    """stdout of `docker inspect` / `docker network inspect` without --format (final newline)."""
    if not objs:
        return "[]\n"
    return marshal(list(objs), indent="    ", escape_html=False) + "\n"


def inspect_json_compact(objs: Sequence[Any]) -> str:
    """stdout of `docker inspect --format json`: json.Compact of the raw array."""
    return marshal(list(objs), escape_html=False) + "\n"


def no_such_object(ref: str) -> str:
    """`docker inspect REF` when no object type has REF (docker/cli system/inspect.go, v20-v28)."""
    return f"Error: No such object: {ref}"


def network_not_found(ref: str) -> str:
    """`docker network inspect REF`: libnetwork's ErrNoSuchNetwork through the API client."""
    return f"Error response from daemon: network {ref} not found"


def no_such_container(ref: str) -> str:
    """`docker container inspect REF`: the daemon's objNotFoundError through the API client."""
    return f"Error response from daemon: No such container: {ref}"


class InspectError(Exception):
    """Raised by an inspect lookup: ``str(err)`` is the CLI's message for that reference."""


@dataclass
class InspectResult:
    stdout: str
    stderr: str
    exit_code: int


def docker_inspect(refs: Sequence[str], lookup: Callable[[str], Any], fmt: str = "") -> InspectResult:
    """inspect.Inspect: look each ref up, print the found ones, then every error (exit 1).

    ``lookup`` returns the object or raises InspectError. With a template, each object is run
    as its typed value first and, if that fails, as raw JSON with missingkey=error, as docker does.
    """
    from cnmsim.docker import gotemplate

    tmpl = None
    if fmt not in ("", "json"):
        try:
            tmpl = gotemplate.parse(fmt)
        except gotemplate.TemplateError as e:
            return InspectResult("", f"template parsing error: {e}\n", EXIT_TEMPLATE_PARSE)
    found: list[Any] = []
    lines: list[str] = []
    errors: list[str] = []
    for ref in refs:
        try:
            obj = lookup(ref)
        except InspectError as e:
            errors.append(str(e))
            continue
        if tmpl is None:
            found.append(obj)
            continue
        try:
            lines.append(tmpl.execute(obj) + "\n")
        except gotemplate.ExecError:
            try:
                lines.append(tmpl.execute(as_raw(obj), missingkey="error") + "\n")
            except gotemplate.ExecError as e:
                errors.append(f"template parsing error: {e}")
    if tmpl is not None:
        stdout = "".join(lines) or "\n"
    else:
        stdout = inspect_json(found) if fmt == "" or not found else inspect_json_compact(found)
    stderr = "\n".join(errors) + "\n" if errors else ""
    return InspectResult(stdout, stderr, EXIT_NOT_FOUND if errors else 0)
