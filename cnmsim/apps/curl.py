"""curl 7.88 (Debian 12) over the simulated TCP: one HTTP/1.1 request, curl's messages and exit codes.

    curl [-s] [-S] [-v] [-I] [-i] [-f] [-o FILE] [-m SECS] [--connect-timeout SECS]
         [-H HDR] [-X METHOD] [-d DATA] [-A AGENT] [-w FORMAT] URL
Errors: (6) Could not resolve host, (7) Failed to connect ... Couldn't connect to server,
(28) timeouts, (52) Empty reply from server, (56) Recv failure, (22) with -f on >= 400,
(35) for https (the simulated servers speak no TLS).  The terminal is a TTY, so the progress
meter shows only when the body goes to a file (-o).
"""

from __future__ import annotations

import re
from collections.abc import Generator
from typing import Any

from cnmsim.apps.netutil import closing, getaddrinfo, parse_opts
from cnmsim.kernel.sim.ipv4 import OutputError
from cnmsim.shell.registry import Proc, command

VERSION = "7.88.1"
LONG = {"silent": "s", "show-error": "S", "verbose": "v", "head": "I", "include": "i", "fail": "f",
        "output": "o", "max-time": "m", "connect-timeout": "C", "header": "H", "request": "X",
        "data": "d", "user-agent": "A", "write-out": "w", "location": "L", "insecure": "k"}
TRY = "curl: try 'curl --help' or 'curl --manual' for more information"


class CurlError(Exception):
    def __init__(self, code: int, text: str) -> None:
        super().__init__(text)
        self.code = code


def _url(url: str) -> tuple[str, str, int, str]:
    m = re.fullmatch(r"(?:([a-zA-Z][a-zA-Z0-9+.-]*)://)?([^/:?#]+)(?::(\d*))?([/?#].*)?", url)
    if not m:
        raise CurlError(3, "URL using bad/illegal format or missing URL")
    scheme = (m.group(1) or "http").lower()
    if scheme not in ("http", "https"):
        raise CurlError(1, f'Protocol "{scheme}" not supported or disabled in libcurl')
    port = int(m.group(3)) if m.group(3) else (443 if scheme == "https" else 80)
    path = m.group(4) or "/"
    return scheme, m.group(2), port, path if path.startswith("/") else "/" + path


@command("curl")
def curl(proc: Proc) -> Generator[Any, Any, int]:
    opts, rest, err = parse_opts(proc.args, "oCmHXdAwu", LONG)
    if err:
        return proc.fail(f"curl: {err}\n{TRY}", 2)
    if not rest:
        return proc.fail(f"curl: no URL specified!\n{TRY}", 2)
    start = proc.env.now
    st: dict[str, Any] = {"code": 0, "size": 0, "ip": ""}
    try:
        yield from _transfer(proc, opts, rest[0], st)
        code = 0
    except CurlError as e:
        if "s" not in opts or "S" in opts:
            proc.err(f"curl: ({e.code}) {e}")
        code = e.code
    if "w" in opts:
        proc.out(_write_out(opts["w"], st, proc.env.now - start), end="")
    return code


def _ms(proc: Proc, start: float) -> int:
    return int((proc.env.now - start) * 1000)


def _transfer(proc: Proc, opts: dict[str, str], url: str, st: dict[str, Any]) -> Generator[Any, Any, None]:
    env = proc.env
    start = env.now
    verbose = "v" in opts
    scheme, host, port, path = _url(url)
    deadline = start + float(opts["m"]) if "m" in opts else None
    addr, _ = yield from getaddrinfo(proc, host)
    if addr is None:
        raise CurlError(6, f"Could not resolve host: {host}")
    if deadline is not None and env.now >= deadline:
        raise CurlError(28, f"Resolving timed out after {_ms(proc, start)} milliseconds")
    st["ip"] = addr
    if verbose:
        proc.err(f"*   Trying {addr}:{port}...")
    ctimeout = float(opts.get("C", 300))
    limit = min(ctimeout, deadline - env.now) if deadline is not None else ctimeout
    sock = proc.ns.sockets.tcp.socket()
    with closing(sock):
        try:
            yield from sock.connect(addr, port, timeout=limit)
        except OutputError as e:
            if verbose and e.errno_name != "EINPROGRESS":
                proc.err(f"* connect to {addr} port {port} failed: {e}")
            if e.errno_name == "EINPROGRESS":
                if deadline is not None and deadline - start < ctimeout:
                    raise CurlError(28, f"Connection timed out after {_ms(proc, start)} milliseconds") from None
                msg, code = "Timeout was reached", 28
            else:
                msg, code = "Couldn't connect to server", 28 if e.errno_name == "ETIMEDOUT" else 7
            if verbose:
                proc.err(f"* Failed to connect to {host} port {port} after {_ms(proc, start)} ms: {msg}")
                proc.err("* Closing connection 0")
            raise CurlError(code, f"Failed to connect to {host} port {port} after {_ms(proc, start)} ms: {msg}") from None
        if verbose:
            proc.err(f"* Connected to {host} ({addr}) port {port} (#0)")
        if scheme == "https":
            raise CurlError(35, "OpenSSL/3.0.19: error:0A00010B:SSL routines::wrong version number")
        method = opts.get("X") or ("HEAD" if "I" in opts else "POST" if "d" in opts else "GET")
        hosthdr = host if port == (443 if scheme == "https" else 80) else f"{host}:{port}"
        hdrs = [f"Host: {hosthdr}", f"User-Agent: {opts.get('A', 'curl/' + VERSION)}", "Accept: */*"]
        body = opts.get("d", "").encode()
        if "d" in opts:
            hdrs += [f"Content-Length: {len(body)}", "Content-Type: application/x-www-form-urlencoded"]
        for h in [v for k, v in _all(proc.args, "-H", "--header")]:
            name = h.split(":", 1)[0].lower()
            hdrs = [x for x in hdrs if x.split(":", 1)[0].lower() != name] + [h]
        req = f"{method} {path} HTTP/1.1\r\n" + "".join(h + "\r\n" for h in hdrs) + "\r\n"
        if verbose:
            for line in req.split("\r\n")[:-1]:
                proc.err(f"> {line}")
        sock.send(req.encode() + body)
        status, head, data, keep = yield from _response(proc, sock, method, deadline, start)
        st["code"], st["size"] = status, len(data)
        if verbose:
            for line in head:
                proc.err(f"< {line}")
            proc.err("< ")
        if "f" in opts and status >= 400:
            raise CurlError(22, f"The requested URL returned error: {status}")
        _output(proc, opts, head, data, method, env.now - start)
        if verbose:
            proc.err(f"* Connection #0 to host {host} left intact" if keep else "* Closing connection 0")


def _all(args: list[str], short: str, long: str) -> list[tuple[str, str]]:
    out = []
    for i, a in enumerate(args):
        if a in (short, long) and i + 1 < len(args):
            out.append((a, args[i + 1]))
        elif a.startswith(long + "="):
            out.append((a, a.split("=", 1)[1]))
    return out


def _response(proc: Proc, sock: Any, method: str, deadline: float | None,
              start: float) -> Generator[Any, Any, tuple[int, list[str], bytes, bool]]:
    """Read the status line, headers and body (Content-Length, chunked, or until close)."""
    env = proc.env
    buf = b""

    def more() -> Generator[Any, Any, bool]:
        nonlocal buf
        timeout = None if deadline is None else max(deadline - env.now, 0.0)
        try:
            chunk = yield from sock.recv(65536, timeout)
        except OutputError as e:
            raise CurlError(56, f"Recv failure: {e}") from None
        if chunk is None:
            got = max(len(buf) - (buf.find(b"\r\n\r\n") + 4), 0) if b"\r\n\r\n" in buf else 0
            raise CurlError(28, f"Operation timed out after {_ms(proc, start)} milliseconds with {got} bytes received")
        buf += chunk
        return bool(chunk)

    while b"\r\n\r\n" not in buf:
        if not (yield from more()):
            if not buf:
                raise CurlError(52, "Empty reply from server")
            raise CurlError(8, "Weird server reply")
    head_raw, buf = buf.split(b"\r\n\r\n", 1)
    head = head_raw.decode("latin-1").split("\r\n")
    parts = head[0].split(" ", 2)
    status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
    hdrs = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in head[1:])}
    keep = head[0].startswith("HTTP/1.1") and hdrs.get("connection", "").lower() != "close"
    if method == "HEAD" or status in (204, 304):
        return status, head, b"", keep
    if "content-length" in hdrs:
        n = int(hdrs["content-length"])
        while len(buf) < n:
            if not (yield from more()):
                raise CurlError(18, f"transfer closed with {n - len(buf)} bytes remaining to read")
        return status, head, buf[:n], keep
    if hdrs.get("transfer-encoding", "").lower() == "chunked":
        body = b""
        while True:
            while b"\r\n" not in buf:
                yield from more()
            size_line, buf = buf.split(b"\r\n", 1)
            size = int(size_line.split(b";")[0], 16)
            while len(buf) < size + 2:
                yield from more()
            body, buf = body + buf[:size], buf[size + 2:]
            if size == 0:
                return status, head, body, keep
    while (yield from more()):
        pass
    return status, head, buf, False


def _output(proc: Proc, opts: dict[str, str], head: list[str], data: bytes, method: str,
            elapsed: float) -> None:
    text = data.decode("utf-8", "replace")
    if "I" in opts or "i" in opts:
        headers = "".join(h + "\n" for h in head) + "\n"
        text = headers if method == "HEAD" else headers + text
    out = opts.get("o")
    if out is None or out == "-":
        proc.out(text, end="")
        return
    if out != "/dev/null":
        proc.place.files[out] = text  # the simulated files `cat` and `>` use
    if "s" not in opts:
        n = len(data)
        speed = _max5(int(n / elapsed) if elapsed > 0 else n)
        proc.err("  % Total    % Received % Xferd  Average Speed   Time    Time     Time  Current")
        proc.err("                                 Dload  Upload   Total   Spent    Left  Speed")
        proc.err(f"100 {_max5(n)}  100 {_max5(n)}    0     0  {speed}      0 --:--:-- --:--:-- --:--:-- {speed}")


def _max5(n: int) -> str:
    """curl's max5data(): a 5-character size."""
    if n < 100000:
        return f"{n:5d}"
    if n < 10000 * 1024:
        return f"{n // 1024:4d}k"
    if n < 100 * 1024 * 1024:
        return f"{n // (1024 * 1024):2d}.{(n % (1024 * 1024)) // (1024 * 1024 // 10)}M"
    return f"{n // (1024 * 1024):4d}M"


def _write_out(fmt: str, st: dict[str, Any], elapsed: float) -> str:
    values = {"http_code": f"{st['code']:03d}", "response_code": f"{st['code']:03d}",
              "size_download": str(st["size"]), "remote_ip": st["ip"],
              "time_total": f"{elapsed:.6f}"}
    out = re.sub(r"%\{(\w+)\}", lambda m: values.get(m.group(1), ""), fmt)
    return out.replace("\\n", "\n").replace("\\t", "\t")
