"""How Go prints the values templates produce (fmt/print.go, strconv/quote.go).

%v and %+v of Go values (go_sprint, go_sprintln: fmt.Sprint/Sprintln), fmt.Sprintf's verbs, flags,
width and precision with its %!verb(...) error forms (go_sprintf), and strconv.Quote (go_quote).
Python data stands for Go values as described in cnmsim.docker.jsonout.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from cnmsim.docker.jsonout import NO_VALUE, GoNil, GoStruct, format_float, go_type

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
