"""A small HTTP/1.1 server over the simulated TCP, and nginx's default site on it.

    srv = serve_http(place, 80, handler)    # a background simpy process; srv.stop() ends it
    srv = serve_nginx(place)                # port 80, nginx's welcome page, nginx's 404 page
A handler maps a Request to a Response; the server adds Server, Date, Content-Length and
Connection, keeps HTTP/1.1 connections open (keepalive_timeout 65 s) and closes HTTP/1.0 ones.
A handler may also be a generator (it yields simpy events, e.g. to ask another server over the
network, and returns the Response).  `on_request(req, resp, body_bytes_sent)` is called after
each response is sent (access logs); `proto="HTTP/1.0"` answers as HTTP/1.0 servers do
(Python's http.server: HTTP/1.0 status line, no Connection header, one request per connection);
`bind` is the listening address (0.0.0.0 unless given).
The `nginx` command starts serve_nginx where it runs, as the daemon would.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from email.utils import formatdate
from typing import TYPE_CHECKING, Any

import simpy

from cnmsim.apps.netutil import closing
from cnmsim.kernel.sim.ipv4 import OutputError
from cnmsim.shell.registry import Proc, command

if TYPE_CHECKING:
    from cnmsim.place import Place

NGINX_VERSION = "1.27.3"
NGINX_MTIME = 1732636500  # Last-Modified of the image's index.html (Tue, 26 Nov 2024 15:55:00 GMT)
NGINX_INDEX = """<!DOCTYPE html>
<html>
<head>
<title>Welcome to nginx!</title>
<style>
html { color-scheme: light dark; }
body { width: 35em; margin: 0 auto;
font-family: Tahoma, Verdana, Arial, sans-serif; }
</style>
</head>
<body>
<h1>Welcome to nginx!</h1>
<p>If you see this page, the nginx web server is successfully installed and
working. Further configuration is required.</p>

<p>For online documentation and support please refer to
<a href="http://nginx.org/">nginx.org</a>.<br/>
Commercial support is available at
<a href="http://nginx.com/">nginx.com</a>.</p>

<p><em>Thank you for using nginx.</em></p>
</body>
</html>
"""
REASONS = {200: "OK", 201: "Created", 204: "No Content", 301: "Moved Permanently", 302: "Found",
           304: "Not Modified", 400: "Bad Request", 403: "Forbidden", 404: "Not Found",
           405: "Not Allowed", 500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable"}
KEEPALIVE = 65.0


@dataclass
class Request:
    method: str
    path: str
    version: str
    headers: dict[str, str]  # lower-case names
    body: bytes
    client: tuple[str, int]


@dataclass
class Response:
    status: int = 200
    body: bytes = b""
    headers: list[tuple[str, str]] = field(default_factory=list)
    reason: str | None = None


Handler = Callable[[Request], Response | Generator[Any, Any, Response]]
AccessHook = Callable[[Request, Response, int], None]


def http_date(t: float) -> str:
    """An RFC 7231 date of simulated seconds since the epoch (the lab starts on 1 Jan 1970)."""
    return formatdate(t, usegmt=True)


class HttpServer:
    """One listening socket and a process per connection."""

    def __init__(self, place: Place, port: int, handler: Handler, server: str = "",
                 on_request: AccessHook | None = None, proto: str = "HTTP/1.1",
                 bind: str = "0.0.0.0") -> None:
        self.place, self.port, self.handler, self.server = place, port, handler, server
        self.on_request, self.proto, self.bind = on_request, proto, bind
        self.ns = place.ns
        self.env = self.ns.kernel.ctx.env
        self.sock: Any = None
        self.process: simpy.Process | None = None
        self.requests = 0

    def start(self) -> HttpServer:
        """Bind and listen now (raises OutputError EADDRINUSE), then accept in the background."""
        sock = self.ns.sockets.tcp.socket()
        sock.reuseaddr = True
        sock.bind(self.bind, self.port)
        sock.listen(511)
        self.sock = sock
        self.process = self.env.process(self._accept())
        return self

    def stop(self) -> None:
        if self.sock is not None:
            self.sock.close()
        if self.process is not None and self.process.is_alive:
            self.process.interrupt("stop")

    def _accept(self) -> Generator[Any, Any, None]:
        try:
            while True:
                conn = yield from self.sock.accept()
                self.env.process(self._serve(conn))
        except simpy.Interrupt:
            pass

    def _serve(self, conn: Any) -> Generator[Any, Any, None]:
        buf = b""
        with closing(conn):
            while True:
                while b"\r\n\r\n" not in buf:
                    try:
                        chunk = yield from conn.recv(65536, timeout=KEEPALIVE)
                    except OutputError:
                        return
                    if not chunk:
                        return
                    buf += chunk
                head, buf = buf.split(b"\r\n\r\n", 1)
                req = self._parse(head, conn.peer)
                if req is None:
                    self._send(conn, Response(400, _error_page(400, self.server)), "HTTP/1.1", False, False)
                    return
                n = int(req.headers.get("content-length", "0") or 0)
                while len(buf) < n:
                    chunk = yield from conn.recv(65536, timeout=KEEPALIVE)
                    if not chunk:
                        return
                    buf += chunk
                req.body, buf = buf[:n], buf[n:]
                keep = (req.version == "HTTP/1.1" and self.proto == "HTTP/1.1"
                        and req.headers.get("connection", "").lower() != "close")
                self.requests += 1
                resp = self.handler(req)
                if isinstance(resp, Generator):
                    resp = yield from resp
                head_only = req.method == "HEAD"
                self._send(conn, resp, req.version, keep, head_only)
                if self.on_request is not None:
                    self.on_request(req, resp, 0 if head_only else len(resp.body))
                if not keep:
                    return

    @staticmethod
    def _parse(head: bytes, client: tuple[str, int]) -> Request | None:
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ")
        if len(parts) != 3 or not parts[2].startswith("HTTP/"):
            return None
        headers = {}
        for line in lines[1:]:
            k, sep, v = line.partition(":")
            if sep:
                headers[k.strip().lower()] = v.strip()
        return Request(parts[0], parts[1], parts[2], headers, b"", client)

    def _send(self, conn: Any, resp: Response, version: str, keep: bool, head_only: bool) -> None:
        reason = resp.reason or REASONS.get(resp.status, "Unknown")
        hdrs = [("Server", self.server)] if self.server else []
        hdrs += [("Date", http_date(self.env.now))]
        first = ("content-type", "content-length", "last-modified")  # nginx's order
        own = {k.lower(): (k, v) for k, v in resp.headers}
        own.setdefault("content-length", ("Content-Length", str(len(resp.body))))
        hdrs += [own[k] for k in first if k in own]
        if self.proto == "HTTP/1.1":
            hdrs.append(("Connection", "keep-alive" if keep else "close"))
        hdrs += [h for h in resp.headers if h[0].lower() not in first]
        text = f"{self.proto} {resp.status} {reason}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in hdrs) + "\r\n"
        try:
            conn.send(text.encode("latin-1") + (b"" if head_only else resp.body))
        except OutputError:
            pass


def serve_http(place: Place, port: int, handler: Handler, server: str = "",
               on_request: AccessHook | None = None, proto: str = "HTTP/1.1",
               bind: str = "0.0.0.0") -> HttpServer:
    """Start an HTTP server on place's namespace, TCP `port` (background process)."""
    return HttpServer(place, port, handler, server, on_request, proto, bind).start()


def _error_page(status: int, server: str) -> bytes:
    title = f"{status} {REASONS.get(status, '')}"
    tail = f"<hr><center>{server}</center>\r\n" if server else ""
    return (f"<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n"
            f"<center><h1>{title}</h1></center>\r\n{tail}</body>\r\n</html>\r\n").encode()


def nginx_handler(index: str = NGINX_INDEX, mtime: int = NGINX_MTIME) -> Handler:
    """nginx's default server: / and /index.html, 404 elsewhere, 405 for other methods."""
    server = f"nginx/{NGINX_VERSION}"
    body = index.encode()
    etag = f'"{mtime:x}-{len(body):x}"'

    def handle(req: Request) -> Response:
        if req.method not in ("GET", "HEAD"):
            return Response(405, _error_page(405, server), [("Content-Type", "text/html")])
        if req.path.split("?", 1)[0] not in ("/", "/index.html"):
            return Response(404, _error_page(404, server), [("Content-Type", "text/html")])
        return Response(200, body, [("Content-Type", "text/html"),
                                    ("Last-Modified", http_date(mtime)),
                                    ("ETag", etag), ("Accept-Ranges", "bytes")])
    return handle


def serve_nginx(place: Place, port: int = 80, index: str = NGINX_INDEX,
                on_request: AccessHook | None = None) -> HttpServer:
    """What `docker run nginx` serves."""
    return serve_http(place, port, nginx_handler(index), server=f"nginx/{NGINX_VERSION}",
                      on_request=on_request)


@command("nginx")
def nginx(proc: Proc) -> int:
    """Start nginx's default site on port 80 and return, as the daemon does."""
    if "-v" in proc.args:
        proc.err(f"nginx version: nginx/{NGINX_VERSION}")
        return 0
    try:
        serve_nginx(proc.place)
    except OutputError as e:
        return proc.fail(f"nginx: [emerg] bind() to 0.0.0.0:80 failed ({98 if e.errno_name == 'EADDRINUSE' else 99}: {e})", 1)
    return 0
