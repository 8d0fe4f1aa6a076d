"""The humanised text the docker CLI and daemon print: durations and sizes (docker/go-units),
`docker ps` STATUS (moby container State.String), CREATED, COMMAND and PORTS (docker/cli
formatter), and the lines of `docker port`.

Durations are seconds as floats; the caller supplies "now" (the simulation clock), where the
real code calls time.Now().
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Mapping, Sequence
from functools import cmp_to_key
from typing import Any


def human_duration(seconds: float) -> str:
    """go-units HumanDuration: "Less than a second", "1 second", "About a minute", "3 hours"..."""
    secs = int(seconds)  # Go's int() of a float truncates toward zero
    if secs < 1:
        return "Less than a second"
    if secs == 1:
        return "1 second"
    if secs < 60:
        return f"{secs} seconds"
    minutes = int(seconds / 60)
    if minutes == 1:
        return "About a minute"
    if minutes < 60:
        return f"{minutes} minutes"
    hours = int(seconds / 3600 + 0.5)
    if hours == 1:
        return "About an hour"
    if hours < 48:
        return f"{hours} hours"
    if hours < 24 * 7 * 2:
        return f"{hours // 24} days"
    if hours < 24 * 30 * 2:
        return f"{hours // 24 // 7} weeks"
    if hours < 24 * 365 * 2:
        return f"{hours // 24 // 30} months"
    return f"{int(seconds / 3600) // 24 // 365} years"


def ago(then: float, now: float) -> str:
    """`docker ps` CREATED (ContainerContext.RunningFor): "5 seconds ago"."""
    return human_duration(now - then) + " ago"


def container_status(now: float, *, running: bool = False, paused: bool = False,
                     restarting: bool = False, removing: bool = False, dead: bool = False,
                     started_at: float | None = None, finished_at: float | None = None,
                     exit_code: int = 0, health: str | None = None) -> str:
    """moby's State.String(), the STATUS column: "Up 2 minutes", "Exited (0) 3 seconds ago".

    ``started_at``/``finished_at`` None is Go's zero time; ``health`` is healthy, unhealthy or
    starting when the container has a healthcheck.
    """
    if running:
        up = human_duration(now - (started_at or 0.0))
        if paused:
            return f"Up {up} (Paused)"
        if restarting:
            return f"Restarting ({exit_code}) {human_duration(now - (finished_at or 0.0))} ago"
        if health is not None:
            return f"Up {up} ({'health: starting' if health == 'starting' else health})"
        return f"Up {up}"
    if removing:
        return "Removal In Progress"
    if dead:
        return "Dead"
    if started_at is None:
        return "Created"
    if finished_at is None:
        return ""
    return f"Exited ({exit_code}) {human_duration(now - finished_at)} ago"


_DECIMAL = ["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"]
_BINARY = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB"]


def _scaled(size: float, base: float, units: list[str]) -> tuple[float, str]:
    i = 0
    while size >= base and i < len(units) - 1:
        size /= base
        i += 1
    return size, units[i]


def human_size(size: float, precision: int = 4) -> str:
    """go-units HumanSizeWithPrecision ("%.*g%s", powers of 1000): "21.5MB", "2B"."""
    value, unit = _scaled(size, 1000.0, _DECIMAL)
    return f"{value:.{precision}g}{unit}"


def bytes_size(size: float) -> str:
    """go-units BytesSize ("%.4g%s", powers of 1024): "1.5GiB"."""
    value, unit = _scaled(size, 1024.0, _BINARY)
    return f"{value:.4g}{unit}"


def size_column(size_rw: int, size_root_fs: int) -> str:
    """`docker ps -s` SIZE (ContainerContext.Size): "2B (virtual 21.5MB)"."""
    srw = human_size(size_rw, 3)
    return f"{srw} (virtual {human_size(size_root_fs, 3)})" if size_root_fs > 0 else srw


def truncate_id(ident: str) -> str:
    """formatter.TruncateID: drop an "algo:" prefix, keep 12 characters."""
    return ident.split(":", 1)[-1][:12]


def ellipsis(s: str, max_width: int) -> str:
    """formatter.Ellipsis: cut to a display width with "…" (COMMAND is Ellipsis(cmd, 20))."""
    if max_width <= 0:
        return ""
    if max_width == 1:
        return s[:1]
    widths = [2 if unicodedata.east_asian_width(c) in ("W", "F") else 1 for c in s]
    if sum(widths) <= max_width:
        return s
    total = 0
    for i, w in enumerate(widths):
        if total + w > max_width - 1:
            return s[:i] + "…"
        total += w
    return s


def command_column(command: str, trunc: bool = True) -> str:
    """`docker ps` COMMAND: strconv.Quote of the (ellipsised) command."""
    from cnmsim.docker.gotemplate import go_quote

    return go_quote(ellipsis(command, 20) if trunc else command)


def _join_host_port(host: str, port: str | int) -> str:
    """net.JoinHostPort: IPv6 hosts in brackets."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def displayable_ports(ports: Sequence[Mapping[str, Any]], ipv6_brackets: bool = False) -> str:
    """formatter.DisplayablePorts, the PORTS column, from the API's container Port list.

    Each port is {"IP", "PrivatePort", "PublicPort", "Type"} (IP "" / PublicPort 0 when only
    exposed). Unpublished ports and ports published on the same number are grouped into ranges
    ("80-81/tcp", "0.0.0.0:80-81->80-81/tcp") in order of first appearance; ports published on a
    different number follow, one each ("0.0.0.0:8000->5000/tcp, :::8000->5000/tcp").
    IPv6 hosts are bracketed ("[::]:8000") from docker CLI 28 on (docker/cli#5363).
    """
    def join(host: str, port: str | int) -> str:
        return _join_host_port(host, port) if ipv6_brackets else f"{host}:{port}"

    def compare(a: Mapping[str, Any], b: Mapping[str, Any]) -> int:
        for key in ("PrivatePort", "IP", "PublicPort", "Type"):
            x, y = a.get(key) or ("" if key in ("IP", "Type") else 0), b.get(key) or (
                "" if key in ("IP", "Type") else 0)
            if x != y:
                return -1 if x < y else 1
        return 0

    groups: dict[str, list[int]] = {}
    order: list[str] = []
    result: list[str] = []
    mappings: list[str] = []
    for p in sorted(ports, key=cmp_to_key(compare)):
        current, ptype, ip = int(p.get("PrivatePort") or 0), p.get("Type", "tcp"), p.get("IP") or ""
        key = ptype
        if ip:
            public = int(p.get("PublicPort") or 0)
            if public != current:
                mappings.append(f"{join(ip, public)}->{current}/{ptype}")
                continue
            key = f"{ip}/{ptype}"
        group = groups.get(key)
        if group is None:
            groups[key] = [current, current]
            order.append(key)
        elif current == group[1] + 1:
            group[1] = current
        else:
            result.append(_form_group(key, *group, join))
            groups[key] = [current, current]
    result += [_form_group(k, *groups[k], join) for k in order]
    return ", ".join(result + mappings)


def _form_group(key: str, first: int, last: int, join: Callable[[str, str], str]) -> str:
    ip, _, ptype = key.rpartition("/")
    group = str(first) if first == last else f"{first}-{last}"
    if ip:
        group = f"{join(ip, group)}->{group}"
    return f"{group}/{ptype}"


def natural_less(a: str, b: str) -> bool:
    """fvbommel/sortorder NaturalLess: digit runs compare as numbers, digits before others."""
    i = j = 0
    while i < len(a) and j < len(b):
        da, db = a[i].isdigit() and a[i] < "\x80", b[j].isdigit() and b[j] < "\x80"
        if da != db:
            return da
        if not da:
            if a[i] != b[j]:
                return a[i].encode() < b[j].encode()
            i, j = i + 1, j + 1
            continue
        while i < len(a) and a[i] == "0":
            i += 1
        while j < len(b) and b[j] == "0":
            j += 1
        nz_a, nz_b = i, j
        while i < len(a) and a[i] in "0123456789":
            i += 1
        while j < len(b) and b[j] in "0123456789":
            j += 1
        if i - nz_a != j - nz_b:
            return i - nz_a < j - nz_b
        if a[nz_a:i] != b[nz_b:j]:
            return a[nz_a:i] < b[nz_b:j]
        if nz_a != nz_b:
            return nz_a < nz_b
    return len(a) < len(b)


def _natural_sorted(lines: list[str]) -> list[str]:
    return sorted(lines, key=cmp_to_key(lambda x, y: -1 if natural_less(x, y) else
                                         (1 if natural_less(y, x) else 0)))


def port_lines(ports: Mapping[str, Sequence[Mapping[str, str]] | None]) -> list[str]:
    """`docker port CONTAINER`: "5000/tcp -> 0.0.0.0:8000" for each binding, naturally sorted
    (IPv6 hosts bracketed, net.JoinHostPort, since docker/cli#2972).

    ``ports`` is NetworkSettings.Ports: "5000/tcp" -> [{"HostIp", "HostPort"}] or None.
    """
    out = [f"{port} -> {_join_host_port(b.get('HostIp', ''), b.get('HostPort', ''))}"
           for port, bindings in ports.items() for b in bindings or ()]
    return _natural_sorted(out)


class PortError(Exception):
    """`docker port` failed; ``str()`` is the CLI's message (exit status 1)."""


def port_lookup(ports: Mapping[str, Sequence[Mapping[str, str]] | None], container: str,
                port: str) -> list[str]:
    """`docker port CONTAINER PRIVATE_PORT[/PROTO]`: the host addresses ("0.0.0.0:8000")."""
    number, _, proto = port.partition("/")
    if not number.isdigit() or int(number) > 65535:
        reason = "value out of range" if number.isdigit() else "invalid syntax"
        raise PortError(f"Error: invalid port ({number}): strconv.ParseUint: parsing "
                        f"{_quote(number)}: {reason}")
    bindings = ports.get(f"{number}/{proto or 'tcp'}")
    if not bindings:
        raise PortError(f"Error: No public port '{port}' published for {container}")
    return _natural_sorted([_join_host_port(b.get("HostIp", ""), b.get("HostPort", ""))
                            for b in bindings])


def _quote(s: str) -> str:
    from cnmsim.docker.gotemplate import go_quote

    return go_quote(s)
