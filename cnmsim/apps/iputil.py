"""Argument helpers shared by the iproute2 object modules (iproute2's utils.c, in Python).

iproute2 exits 255 on usage errors, 1 on client-side lookups ("Cannot find device") and bad
arguments, and 2 when the kernel refuses (`RTNETLINK answers: ...`, `Error: ...` from extack).
"""

from __future__ import annotations

from collections.abc import Callable
from ipaddress import IPv4Address
from typing import Any

from cnmsim.kernel.api import KernelError, LinkInfo
from cnmsim.shell.registry import Proc

INCOMPLETE = 'Command line is not complete. Try option "help"'


class ToolError(Exception):
    """Stop parsing: print `message` to stderr and exit with `code`."""

    def __init__(self, message: str, code: int = 255) -> None:
        super().__init__(message)
        self.code = code


def matches(word: str, full: str) -> bool:
    """iproute2's matches(): `word` is a non-empty prefix of `full`."""
    return bool(word) and full.startswith(word)


def next_arg(args: list[str]) -> str:
    """NEXT_ARG(): the value after a keyword, or 'Command line is not complete'."""
    if not args:
        raise ToolError(INCOMPLETE, 255)
    return args.pop(0)


def invarg(msg: str, arg: str) -> ToolError:
    return ToolError(f'Error: argument "{arg}" is wrong: {msg}', 255)


def duparg2(key: str, arg: str) -> ToolError:
    return ToolError(f'Error: either "{key}" is duplicate, or "{arg}" is a garbage.', 255)


def on_off(key: str, value: str) -> bool:
    if value not in ("on", "off"):
        raise ToolError(f'Error: argument of "{key}" must be "on" or "off", not "{value}"', 1)
    return value == "on"


def ipv4(arg: str, what: str = "inet address") -> str:
    try:
        return str(IPv4Address(arg))
    except ValueError:
        raise ToolError(f'Error: {what} is expected rather than "{arg}".', 1) from None


def uint(arg: str, key: str, limit: int = 2**32 - 1) -> int:
    if not arg.isdigit() or int(arg) > limit:
        raise invarg(f'Invalid "{key}" value\n', arg)
    return int(arg)


def check_mac(mac: str) -> str:
    parts = mac.split(":")
    if len(parts) != 6 or not all(len(p) in (1, 2) and all(c in "0123456789abcdefABCDEF" for c in p)
                                  for p in parts):
        raise ToolError(f'"{mac}" is invalid lladdr.', 1)
    return ":".join(p.zfill(2).lower() for p in parts)


def find_link(links: list[LinkInfo], name: str, message: str | None = None) -> LinkInfo:
    """ll_name_to_index(): a client-side lookup, exit 1 when the device is missing."""
    for li in links:
        if li.name == name:
            return li
    raise ToolError(message or f'Cannot find device "{name}"', 1)


def guarded(proc: Proc, fn: Callable[[], Any]) -> int:
    """Run one subcommand, turning ToolError/KernelError into stderr text and an exit status."""
    try:
        return int(fn() or 0)
    except ToolError as e:
        return proc.fail(str(e), e.code)
    except KernelError as e:
        msg = str(e)
        return proc.fail(msg, 1 if msg.startswith(("Cannot find device", "Device \"")) else 2)
