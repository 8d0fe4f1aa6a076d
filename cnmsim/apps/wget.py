"""busybox 1.36 wget (networking/wget.c, libbb/progress.c) over the simulated TCP.

    wget [-cqS] [--spider] [-O FILE] [-o LOGFILE] [--header STR] [--post-data STR | --post-file FILE]
         [-Y on/off] [--no-check-certificate] [-P DIR] [-U AGENT] [-T SEC] URL...

One HTTP/1.1 request per URL with `Connection: close`; what it prints on stderr, unless -q:
`Connecting to HOST[:PORT] (IP:PORT)`, then (-S) the status line and headers indented by two
spaces, then `saving to 'FILE'` or `writing to stdout`, the progress bar as an 80-column
terminal ends it (`-                    100% |****...****|   615  0:00:00 ETA`; none for an
empty body) and `'FILE' saved` or `written to stdout`.  --spider stops after the headers with
`remote file exists`.  Without -O the file is the URL's last path component (index.html for
none) and must not exist yet.  Redirects (3xx with Location) are followed, 16 at most.
Errors end it with status 1: `wget: bad address 'HOST'`, `wget: can't connect to remote host
(IP): Connection refused`, `wget: server returned error: HTTP/1.1 404 Not Found`, `wget: download
timed out` (-T SEC, 900 by default, bounds the connect and the whole response here, where
busybox restarts it on every read), `wget: error getting response[: ...]`, `wget: connection
closed prematurely`.  https connects, then fails as a TLS client meeting a plain server does
(the simulated servers speak no TLS); ftp is not simulated.

The HTTP reply is read with curl's reader (cnmsim.apps.curl), names resolve through glibc's
getaddrinfo model (cnmsim.apps.netutil).
"""

from __future__ import annotations

import base64
import re
from collections.abc import Generator
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from cnmsim.apps.curl import CurlError, _response
from cnmsim.apps.netutil import closing, getaddrinfo
from cnmsim.kernel.sim.ipv4 import OutputError
from cnmsim.shell.registry import Proc, command

USAGE = """BusyBox v1.36.1 (2023-05-18 22:34:17 UTC) multi-call binary.

Usage: wget [-cqS] [--spider] [-O FILE] [-o LOGFILE] [--header STR]
\t[--post-data STR | --post-file FILE] [-Y on/off]
\t[--no-check-certificate] [-P DIR] [-U AGENT] [-T SEC] URL...

Retrieve files via HTTP or FTP

\t--spider\tOnly check URL existence: $? is 0 if exists
\t--header STR\tAdd STR (of form 'header: value') to headers
\t--post-data STR\tSend STR using POST method
\t--post-file FILE\tSend FILE using POST method
\t--no-check-certificate\tDon't validate the server's certificate
\t-c\t\tContinue retrieval of aborted transfer
\t-q\t\tQuiet
\t-P DIR\t\tSave to DIR (default .)
\t-S    \t\tShow server response
\t-T SEC\t\tNetwork read timeout is SEC seconds
\t-O FILE\t\tSave to FILE ('-' for stdout)
\t-o LOGFILE\tLog messages to FILE
\t-U STR\t\tUse STR for User-Agent header
\t-Y on/off\tUse proxy"""
SHORT_FLAGS, SHORT_VALUE = "cqS", "OoPYUTt"
LONG = {"continue": "c", "quiet": "q", "server-response": "S", "output-document": "O",
        "output-file": "o", "directory-prefix": "P", "proxy": "Y", "user-agent": "U", "timeout": "T",
        "tries": "t", "header": "header", "post-data": "post-data", "post-file": "post-file",
        "spider": "spider", "no-check-certificate": "ignore", "passive-ftp": "ignore",
        "no-cache": "ignore", "no-verbose": "ignore", "no-clobber": "ignore",
        "no-host-directories": "ignore", "no-parent": "ignore"}
LONG_VALUE = {"O", "o", "P", "Y", "U", "T", "t", "header", "post-data", "post-file"}
USER_HEADERS = ("host", "user-agent", "range", "content-type", "authorization", "proxy-authorization")
OK = {200, 201, 202, 203, 204}
REDIRECT = {300, 301, 302, 303, 307, 308}
BAR = 80 - 48  # get_terminal_width(2) - 48 on an 80-column terminal


class WgetError(Exception):
    """bb_error_msg_and_die(): `wget: MESSAGE` on stderr, exit 1."""


class Premature(WgetError):
    """The body ended before its Content-Length: found while saving it, after `saving to`."""


@dataclass
class Target:
    protocol: str
    host: str  # as in the URL, with its :port if any
    path: str  # without its leading '/'
    user: str | None = None

    @property
    def default_port(self) -> int:
        return {"http": 80, "https": 443, "ftp": 21, "ftps": 990}[self.protocol]


def parse_url(url: str) -> Target:
    """parse_url(): scheme (http when none), host up to the first / ? or #, user@ stripped."""
    protocol, sep, rest = url.partition("://")
    if not sep:
        protocol, rest = "http", url
    elif protocol not in ("http", "https", "ftp", "ftps"):
        raise WgetError(f"not an http or ftp url: {url}")
    cut = min((i for i in (rest.find("/"), rest.find("?"), rest.find("#")) if i >= 0), default=-1)
    host, path = (rest, "") if cut < 0 else (rest[:cut], rest[cut + 1:])
    user = None
    if "@" in host:
        user, host = host.rsplit("@", 1)
        user = unquote(user)
    return Target(protocol, host, path, user)


def host_port(t: Target) -> tuple[str, int]:
    """str2sockaddr(): the port after the last ':', else the scheme's."""
    if ":" not in t.host:
        return t.host, t.default_port
    name, _, port = t.host.rpartition(":")
    if not port.isdigit() or int(port) > 0xFFFF:
        raise WgetError(f"bad port spec '{t.host}'")
    return name, int(port)


def last_component(path: str) -> str:
    """bb_get_last_path_component_nostrip()."""
    slash = path.rfind("/")
    if slash < 0 or (slash == 0 and len(path) == 1):
        return path
    return path[slash + 1:]


def ulltoa5(n: int) -> str:
    """smart_ulltoa5(): a size in 5 characters, "  615", "12345", " 123k", "25.0M"."""
    idx = 0
    if n > 99999:
        n *= 10
        while True:
            n //= 1024
            idx += 1
            if n < 100000:
                break
    if idx == 0:
        return f"{n:5d}"
    u, v = divmod(n, 10)
    unit = " kMGTPEZY"[idx]
    if u >= 100:
        return f"{u:4d}{unit}"
    return f"{u:2d}.{v}{unit}"


def progress_line(curfile: str, transferred: int) -> str:
    """The bar bb_progress_update() leaves on the terminal once a transfer is complete."""
    stars = "*" * BAR
    return f"{curfile[:20]:<20} 100% |{stars}| {ulltoa5(transferred)}  0:00:00 ETA"


def _parse_args(args: list[str]) -> tuple[dict[str, Any], list[str]] | None:
    """getopt32long(): options and operands may mix; None for a usage error."""
    opts: dict[str, Any] = {"header": []}
    urls: list[str] = []
    args = list(args)
    while args:
        a = args.pop(0)
        if a == "--":
            urls += args
            break
        if a.startswith("--"):
            name, eq, val = a[2:].partition("=")
            key = LONG.get(name)
            if key is None:
                return None
            if key in LONG_VALUE:
                if not eq:
                    if not args:
                        return None
                    val = args.pop(0)
            if key == "header":
                opts["header"].append(val)
            elif key != "ignore":
                opts[key] = val if key in LONG_VALUE else True
        elif a.startswith("-") and len(a) > 1:
            i = 1
            while i < len(a):
                ch = a[i]
                if ch in SHORT_VALUE:
                    val = a[i + 1:] or (args.pop(0) if args else None)
                    if val is None:
                        return None
                    opts[ch] = val
                    break
                if ch == "n":  # -nv -nc -nH -np: accepted and ignored ("n::")
                    break
                if ch not in SHORT_FLAGS:
                    return None
                opts[ch] = True
                i += 1
        else:
            urls.append(a)
    return (opts, urls) if urls else None


class Wget:
    def __init__(self, proc: Proc, opts: dict[str, Any]) -> None:
        self.proc = proc
        self.opts = opts
        self.quiet = "q" in opts
        self.log: list[str] | None = [] if "o" in opts else None
        self.timeout = float(opts.get("T", 900)) or None
        self.out_name: str | None = opts.get("O")
        self.opened = False  # -O FILE stays open from one URL to the next

    def say(self, text: str) -> None:
        if self.log is not None:
            self.log.append(text + "\n")
        else:
            self.proc.err(text)

    def info(self, text: str) -> None:
        if not self.quiet:
            self.say(text)

    # ------------------------------------------------------------ one URL
    def download(self, url: str) -> Generator[Any, Any, None]:
        proc = self.proc
        target = parse_url(url)
        server = target
        if self.out_name is not None:
            fname = self.out_name
        else:
            fname = last_component(target.path)
            if not fname or fname.startswith("/"):
                fname = "index.html"
            if "P" in self.opts:
                fname = self.opts["P"].rstrip("/") + "/" + fname
        curfile = last_component(fname)
        redirects = 16
        addr, port = yield from self.resolve(server)
        while True:
            sock = proc.ns.sockets.tcp.socket()
            with closing(sock):
                try:
                    head, data = yield from self.exchange(sock, server, target, addr, port)
                except Premature:
                    if "spider" in self.opts:  # the body is never read
                        self.info("remote file exists")
                        return
                    self.save(fname, curfile, None)
                    raise
                status = _status(head[0])
                if "S" in self.opts:
                    self.say("  " + head[0])
                if status not in OK and status not in REDIRECT:
                    raise WgetError(f"server returned error: {head[0]}")
                location = None
                for line in head[1:]:
                    if "S" in self.opts:
                        self.say("  " + line)
                    name, _, value = line.partition(":")
                    if name.strip().lower() == "location" and status >= 300:
                        location = value.strip()
                        break
                if location is None:
                    if "S" in self.opts:
                        self.say("  ")
                    break
            redirects -= 1
            if redirects == 0:
                raise WgetError("too many redirections")
            if location.startswith("/"):
                target = Target(target.protocol, target.host, location[1:], target.user)
            else:
                target = server = parse_url(location)
                addr, port = yield from self.resolve(server)
        if "spider" in self.opts:
            self.info("remote file exists")
            return
        self.save(fname, curfile, data)

    def resolve(self, server: Target) -> Generator[Any, Any, tuple[str, int]]:
        name, port = host_port(server)
        addr, _ = yield from getaddrinfo(self.proc, name)
        if addr is None:
            raise WgetError(f"bad address '{server.host}'")
        self.info(f"Connecting to {server.host} ({addr}:{port})")
        return addr, port

    def exchange(self, sock: Any, server: Target, target: Target, addr: str,
                 port: int) -> Generator[Any, Any, tuple[list[str], bytes]]:
        """Connect, send the request, read the reply: (status line and headers, body)."""
        proc = self.proc
        try:
            yield from sock.connect(addr, port, timeout=self.timeout)
        except OutputError as e:
            if e.errno_name == "EINPROGRESS":
                raise WgetError("download timed out") from None
            raise WgetError(f"can't connect to remote host ({addr}): {e}") from None
        if server.protocol in ("ftp", "ftps"):
            raise WgetError(f"{server.protocol}: not supported by the simulator")
        if server.protocol == "https":
            raise WgetError("error getting response: Connection reset by peer")
        sock.send(self.request(target))
        start = proc.env.now
        deadline = start + self.timeout if self.timeout else None
        try:
            _code, head, data, _keep = yield from _response(proc, sock, "GET", deadline, start)
        except CurlError as e:
            raise (Premature if e.code == 18 else WgetError)(_reason(e)) from None
        return [_sanitize(h) for h in head], data

    def request(self, target: Target) -> bytes:
        proc = self.proc
        users = {h.split(":", 1)[0].strip().lower() for h in self.opts["header"]}
        post = self.opts.get("post-data")
        if "post-file" in self.opts:
            name = self.opts["post-file"]
            post = proc.stdin if name == "-" else proc.place.files.get(name)
            if post is None:
                raise WgetError(f"can't open '{name}': No such file or directory")
        lines = [f"{'POST' if post is not None else 'GET'} /{target.path} HTTP/1.1"]
        if "host" not in users:
            lines.append(f"Host: {target.host}")
        if "user-agent" not in users:
            lines.append(f"User-Agent: {self.opts.get('U', 'Wget')}")
        lines.append("Connection: close")
        if target.user and "authorization" not in users:
            lines.append("Authorization: Basic " + base64.b64encode(target.user.encode()).decode())
        lines += self.opts["header"]
        body = b""
        if post is not None:
            if "content-type" not in users:
                lines.append("Content-Type: application/x-www-form-urlencoded")
            body = post.encode()
            lines.append(f"Content-Length: {len(body)}")
        return ("".join(h + "\r\n" for h in lines) + "\r\n").encode() + body

    def save(self, fname: str, curfile: str, data: bytes | None) -> None:
        """retrieve_file_data(): open the file, say where it goes, write, draw the bar, say done
        (data None: the connection closed early, the caller reports it)."""
        proc = self.proc
        to_stdout = fname == "-"
        if not to_stdout and not self.opened:
            if self.out_name is None and fname in proc.place.files:
                raise WgetError(f"can't open '{fname}': File exists")
            if fname != "/dev/null":
                proc.place.files[fname] = ""
            self.opened = self.out_name is not None
        self.info("writing to stdout" if to_stdout else f"saving to '{fname}'")
        if data is None:
            return
        text = data.decode("utf-8", "replace")
        if to_stdout:
            proc.out(text, end="")
        elif fname != "/dev/null":
            proc.place.files[fname] += text
        if data and not self.quiet and self.log is None:
            proc.err(progress_line(curfile, len(data)))
        self.info("written to stdout" if to_stdout else f"'{fname}' saved")


def _status(line: str) -> int:
    m = re.match(r"\S*\s+(\d+)", line)
    return int(m.group(1)) if m else 0


def _sanitize(line: str) -> str:
    """sanitize_string(): a tab becomes a space, the line ends at any other control character."""
    line = line.replace("\t", " ")
    m = re.search(r"[\x00-\x1f]", line)
    return line[:m.start()] if m else line


def _reason(e: CurlError) -> str:
    """What busybox says where curl's reader gave up."""
    if e.code == 28:
        return "download timed out"
    if e.code == 18:
        return "connection closed prematurely"
    if e.code == 56:
        return "error getting response: " + str(e).removeprefix("Recv failure: ")
    return "error getting response"  # closed before a complete header: fgets() got EOF


@command("wget")
def wget(proc: Proc) -> Generator[Any, Any, int]:
    parsed = _parse_args(proc.args)
    if parsed is None:
        return proc.fail(USAGE, 1)
    opts, urls = parsed
    if "T" in opts and not str(opts["T"]).isdigit():
        return proc.fail(f"wget: invalid number '{opts['T']}'", 1)
    w = Wget(proc, opts)
    status = 0
    try:
        for url in urls:
            yield from w.download(url)
    except WgetError as e:
        w.say(f"wget: {e}")
        status = 1
    if w.log is not None:
        proc.place.files[opts["o"]] = "".join(w.log)
    return status
