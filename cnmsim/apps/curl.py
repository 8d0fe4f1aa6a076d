"""curl 7.88 (Debian 12) over the simulated TCP: one HTTP/1.1 request, curl's messages and exit codes.

    curl [-s] [-S] [-v] [-I] [-i] [-f] [-o FILE] [-m SECS] [--connect-timeout SECS]
         [-H HDR] [-X METHOD] [-d DATA] [--data-raw DATA] [--data-binary DATA]
         [--data-urlencode DATA] [-b COOKIES|FILE] [-A AGENT] [-w FORMAT] URL
Errors: (6) Could not resolve host, (7) Failed to connect ... Couldn't connect to server,
(28) timeouts, (52) Empty reply from server, (56) Recv failure, (22) with -f on >= 400,
(35) for https (the simulated servers speak no TLS).  The terminal is a TTY, so the progress
meter shows only when the body goes to a file (-o).

Request data as curl 7.88's tool_getparam.c builds it: every -d/--data-* value in order, joined
with `&`; `-d @FILE` reads the file (`-` is stdin) without its CR/LF, --data-binary keeps them,
--data-raw takes `@` literally, --data-urlencode encodes `content`, `=content`, `name=content`,
`@file` or `name@file` (spaces become `+`).  An unreadable file warns and adds nothing.
`-b` with a `=` in it is a cookie string (several are joined with `;`); without one it names a
Netscape cookie file (the place's files), whose matching cookies are sent first; a file that is
not there sends nothing (-v: `WARNING: failed to open cookie file`).  Headers go in curl's order:
Host, User-Agent, Accept, Cookie, the -H ones, then Content-Length and Content-Type; an -H header
replaces curl's own of that name, `-H 'Name:'` removes it, `-H 'Name;'` sends it empty.
"""

from __future__ import annotations

import re
from collections.abc import Generator
from typing import Any
from urllib.parse import quote_plus

from cnmsim.apps.netutil import closing, getaddrinfo, parse_opts
from cnmsim.kernel.sim.ipv4 import OutputError
from cnmsim.shell.registry import Proc, command

VERSION = "7.88.1"
# letters for the long-only options: control characters nobody types as a short option
RAW, BINARY, URLENCODE = "\x01", "\x02", "\x03"
DATA = "d" + RAW + BINARY + URLENCODE
WITH_VALUE = "oCmHXdAwub" + RAW + BINARY + URLENCODE
LONG = {"silent": "s", "show-error": "S", "verbose": "v", "head": "I", "include": "i", "fail": "f",
        "output": "o", "max-time": "m", "connect-timeout": "C", "header": "H", "request": "X",
        "data": "d", "data-ascii": "d", "data-raw": RAW, "data-binary": BINARY,
        "data-urlencode": URLENCODE, "cookie": "b",
        "user-agent": "A", "write-out": "w", "location": "L", "insecure": "k"}
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
    opts, rest, err = parse_opts(proc.args, WITH_VALUE, LONG)
    if err:
        return proc.fail(f"curl: {err}\n{TRY}", 2)
    if not rest:
        return proc.fail(f"curl: no URL specified!\n{TRY}", 2)
    given = ordered_opts(proc.args, WITH_VALUE, LONG)
    body = post_data(proc, given, "s" in opts)
    start = proc.env.now
    st: dict[str, Any] = {"code": 0, "size": 0, "ip": "", "body": body,
                          "cookies": [v for k, v in given if k == "b"]}
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


def ordered_opts(args: list[str], with_value: str, long: dict[str, str]) -> list[tuple[str, str]]:
    """Every option with a value, in command-line order (parse_opts keeps only the last of each):
    the same grammar, `--name VALUE`, `--name=VALUE`, `-xVALUE`, `-x VALUE`."""
    out: list[tuple[str, str]] = []
    args = list(args)
    while args:
        a = args.pop(0)
        if a == "--":
            break
        if a.startswith("--"):
            name, eq, val = a[2:].partition("=")
            letter = long.get(name)
            if letter is not None and letter in with_value:
                if not eq:
                    if not args:
                        break
                    val = args.pop(0)
                out.append((letter, val))
        elif a.startswith("-") and len(a) > 1:
            for i, ch in enumerate(a[1:], 1):
                if ch in with_value:
                    val = a[i + 1:] or (args.pop(0) if args else "")
                    out.append((ch, val))
                    break
    return out


def post_data(proc: Proc, given: list[tuple[str, str]], silent: bool) -> bytes | None:
    """The request body from the -d/--data-* options in order, joined with `&`; None without any."""
    pieces: list[str] = []
    stdin = [proc.stdin]  # `@-` reads stdin once; a second `@-` finds it at its end

    def read(name: str) -> str | None:
        if name == "-":
            text, stdin[0] = stdin[0], ""
            return text
        return proc.place.files.get(name)

    def warn(name: str) -> None:
        if not silent:
            proc.err(f'Warning: Couldn\'t read data from file "{name}", this makes an empty POST.')

    for letter, value in given:
        if letter not in DATA:
            continue
        if letter == URLENCODE:
            pieces.append(_urlencode_arg(value, read, warn))
        elif letter in "d" + BINARY and value.startswith("@"):
            text = read(value[1:])
            if text is None:
                warn(value[1:])
                text = ""
            elif letter == "d":  # file2string(): each line up to its CR or LF
                text = "".join(line.split("\r", 1)[0] for line in text.split("\n"))
            pieces.append(text)
        else:
            pieces.append(value)
    if not any(letter in DATA for letter, _ in given):
        return None
    return "&".join(pieces).encode()


def _urlencode_arg(arg: str, read: Any, warn: Any) -> str:
    """--data-urlencode: [name]=content, [name]@file, or content; curl_easy_escape() then %20 -> +."""
    sep = next((c for c in "=@" if c in arg), "")  # the first '=' if any, else the first '@'
    name, content = arg.split(sep, 1) if sep else ("", arg)
    if sep == "@":
        text = read(content)
        if text is None:
            warn(arg)
            return ""
        content = text
    enc = quote_plus(content.encode(), safe="-._~")
    return f"{name}={enc}" if name else enc


def cookie_header(proc: Proc, given: list[str], scheme: str, host: str, path: str,
                  custom: bool, verbose: bool) -> str | None:
    """Curl_http_cookies(): the cookie engine's matches from cookie files, then the -b strings
    (unless an -H Cookie: replaces them), in one header; None when there is nothing to send."""
    strings = [v for v in given if "=" in v]
    jars: list[tuple[str, str, str, str]] = []  # (path, domain, name, value)
    for name in (v for v in given if "=" not in v):
        text = proc.stdin if name == "-" else proc.place.files.get(name) if name else None
        if text is None:
            if name and verbose:
                proc.err(f'* WARNING: failed to open cookie file "{name}"')
            continue
        jars += _netscape_cookies(text, scheme, host, path.split("?", 1)[0], proc.env.now)
    order = {id(c): i for i, c in enumerate(jars)}
    jars.sort(key=lambda c: (-len(c[0]), -len(c[1]), -len(c[2]), order[id(c)]))  # cookie_sort()
    parts = [f"{n}={v}" for _, _, n, v in jars]
    if strings and not custom:
        parts.append(";".join(strings))
    return "Cookie: " + "; ".join(parts) if parts else None


def _netscape_cookies(text: str, scheme: str, host: str, path: str,
                      now: float) -> list[tuple[str, str, str, str]]:
    """Lines `domain TAB tailmatch TAB path TAB secure TAB expires TAB name TAB value` that match."""
    out = []
    host = host.lower()
    for line in text.splitlines():
        line = line.strip("\r\n")
        if line.startswith("#HttpOnly_"):
            line = line[len("#HttpOnly_"):]
        elif line.startswith("#") or not line.strip():
            continue
        f = line.split("\t")
        if len(f) < 6:
            continue
        domain, tail, cpath, secure, expires, name = f[:6]
        value = f[6] if len(f) > 6 else ""
        domain = domain.lower().removeprefix(".")
        ip = re.fullmatch(r"[\d.]+", host) is not None
        if not (host == domain or tail.upper() == "TRUE" and not ip and host.endswith("." + domain)):
            continue
        if not (cpath == "/" or path == cpath or path.startswith(cpath.rstrip("/") + "/")):
            continue
        if secure.upper() == "TRUE" and scheme != "https" and host not in ("localhost", "127.0.0.1"):
            continue
        if expires.isdigit() and 0 < int(expires) < now:
            continue
        out.append((cpath, domain, name, value))
    return out


def _transfer(proc: Proc, opts: dict[str, str], url: str, st: dict[str, Any]) -> Generator[Any, Any, None]:
    env = proc.env
    start = env.now
    verbose = "v" in opts
    scheme, host, port, path = _url(url)
    customs = [v for k, v in _all(proc.args, "-H", "--header")]
    custom_names = {re.split(r"[:;]", h, maxsplit=1)[0].strip().lower() for h in customs}
    cookiehost = next((h.split(":", 1)[1].strip().rsplit(":", 1)[0] for h in customs
                       if h.lower().startswith("host:") and h.split(":", 1)[1].strip()), host)
    cookie = cookie_header(proc, st["cookies"], scheme, cookiehost, path, "cookie" in custom_names,
                           verbose)
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
        body = st["body"]
        method = opts.get("X") or ("HEAD" if "I" in opts else "POST" if body is not None else "GET")
        hosthdr = host if port == (443 if scheme == "https" else 80) else f"{host}:{port}"
        hdrs = [f"Host: {hosthdr}", f"User-Agent: {opts.get('A', 'curl/' + VERSION)}", "Accept: */*"]
        hdrs += [cookie] if cookie else []
        hdrs = request_headers(hdrs, customs)
        if body is not None:
            hdrs += [h for h in (f"Content-Length: {len(body)}",
                                 "Content-Type: application/x-www-form-urlencoded")
                     if h.split(":", 1)[0].lower() not in custom_names]
        req = f"{method} {path} HTTP/1.1\r\n" + "".join(h + "\r\n" for h in hdrs) + "\r\n"
        if verbose:
            for line in req.split("\r\n")[:-1]:
                proc.err(f"> {line}")
        sock.send(req.encode() + (body or b""))
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


def request_headers(own: list[str], customs: list[str]) -> list[str]:
    """Curl_add_custom_headers(): a custom header replaces curl's own one of that name and comes
    after them (a custom Host: takes the Host line's place; curl's Cookie: line, the cookie
    engine's, stays); `Name:` with no value only removes curl's; `Name;` sends an empty header."""
    out = list(own)
    added: list[str] = []
    for h in customs:
        if ":" in h and (";" not in h or h.index(":") < h.index(";")):
            name, _, value = h.partition(":")
            keep = value.strip() != ""
        elif h.endswith(";"):
            name, h, keep = h[:-1], h[:-1].strip() + ":", True
        else:
            continue
        name = name.strip().lower()
        if name == "host":
            out = [(h if keep else "") if x.lower().startswith("host:") else x for x in out]
            out = [x for x in out if x]
            continue
        if name != "cookie":
            out = [x for x in out if x.split(":", 1)[0].lower() != name]
        if keep:
            added.append(h)
    return out + added


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
