"""`python -m cnmsim.kernel.real.appserver --image NAME --hostname H [--env K=V]... -- CMD...`

The main process of a container in real mode, started by cnmsim.kernel.real.apps inside the
container's namespace. It runs the image's own model (start_nginx, start_consul, start_pets)
unchanged, with real-socket stand-ins for the model's I/O: an HTTP server (the simulated
server's parser and response writer over real sockets), consul's DNS on 8600, python-consul's
client over `requests`-like real connections, and the models' simpy waits on the wall clock.
Log lines go to stdout/stderr as the image writes them; the container's files come as JSON on
stdin. SIGTERM/SIGQUIT/SIGINT run the model's stop hooks (nginx's shutdown notices), then exit.
"""

from __future__ import annotations

import argparse
import ctypes
import errno
import json
import os
import select
import signal
import socket
import socketserver
import subprocess
import sys
import threading
from collections.abc import Callable, Generator
from types import SimpleNamespace
from typing import Any

from scapy.layers.dns import DNS

from cnmsim.apps.dnsd import DnsServer
from cnmsim.apps.httpd import KEEPALIVE, HttpServer, Request, Response, _error_page
from cnmsim.apps.netutil import AGAIN, NONAME
from cnmsim.engine.images import lookup
from cnmsim.engine.images.base import AppContext
from cnmsim.engine.images.consul import start_consul
from cnmsim.engine.images.nginx import start_nginx
from cnmsim.engine.images.pets import start_pets
from cnmsim.engine.images.python_consul import ConsulKV
from cnmsim.kernel.real.apps import WallClock, drive, immediate
from cnmsim.kernel.sim.ipv4 import OutputError
from cnmsim.place import Place

CLOCK = WallClock()
CLIENT_TIMEOUT = 30.0  # python-consul's requests have none; a bound keeps a dead peer from hanging us
_out_lock = threading.Lock()


def output_error(e: OSError) -> OutputError:
    """An OSError as the models expect a failing socket call (errno name and strerror)."""
    if isinstance(e, TimeoutError) and e.errno is None:
        return OutputError("ETIMEDOUT", "Connection timed out")
    name = errno.errorcode.get(e.errno or 0, "EIO")
    return OutputError(name, e.strerror or str(e))


# ---------------------------------------------------------------- what the models see of the process
class Listener:
    """A TCP socket that only binds and listens (consul's 8300-8302): `ns.sockets.tcp.socket()`."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)

    def bind(self, ip: str, port: int) -> None:
        try:
            self.sock.bind((ip, port))
        except OSError as e:
            raise output_error(e) from None

    def listen(self, backlog: int = 4096) -> None:
        self.sock.listen(backlog)

    def close(self) -> None:
        self.sock.close()


class ProcessNs:
    """The namespace this process runs in, as a model sees `place.ns`."""

    def __init__(self) -> None:
        self.kernel = SimpleNamespace(ctx=SimpleNamespace(env=CLOCK))
        self.sockets = SimpleNamespace(tcp=SimpleNamespace(socket=Listener))

    def addrs(self) -> list[SimpleNamespace]:
        """IPv4 addresses (dev, "ip/prefix"), for CONSUL_BIND_INTERFACE and friends."""
        out = subprocess.run(["ip", "-j", "-4", "addr", "show"], capture_output=True, text=True).stdout
        return [SimpleNamespace(dev=link["ifname"], address=f"{a['local']}/{a['prefixlen']}")
                for link in json.loads(out or "[]") for a in link.get("addr_info", [])]


class ProcessContext(AppContext):
    """The model's AppContext in this process: wall-clock time, threads for its processes."""

    @property
    def sim(self) -> Any:
        return CLOCK

    def proc(self, *argv: str) -> Any:
        return None  # the consul client resolves and connects for real (RealConsulKV)


def log_line(stream: str, line: str) -> None:
    with _out_lock:
        f = sys.stdout if stream == "stdout" else sys.stderr
        f.write(line + "\n")
        f.flush()


# ---------------------------------------------------------------- HTTP
class _Conn:
    """A connected socket with the simulated socket's send (OutputError on failure)."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock

    def send(self, data: bytes) -> None:
        try:
            self.sock.sendall(data)
        except OSError as e:
            raise output_error(e) from None


class RealHttpServer(socketserver.ThreadingTCPServer):
    """serve_http over real sockets: the same request parsing, keep-alive rules and response
    header order (HttpServer._parse and _send are the simulated server's own)."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 511
    _parse = staticmethod(HttpServer._parse)
    _send = HttpServer._send

    def __init__(self, port: int, handler: Callable[[Request], Any], server: str = "",
                 on_request: Callable[[Request, Response, int], None] | None = None,
                 proto: str = "HTTP/1.1", bind: str = "0.0.0.0") -> None:
        self.handler, self.server, self.on_request, self.proto = handler, server, on_request, proto
        self.env = CLOCK
        self.lock = threading.Lock()  # one request at a time in the model (Werkzeug 0.11 is serial too)
        self.requests = 0
        try:
            super().__init__((bind, port), _Session)
        except OSError as e:
            raise output_error(e) from None
        threading.Thread(target=self.serve_forever, args=(0.2,), daemon=True, name=f"http:{port}").start()

    def stop(self) -> None:
        self.shutdown()
        self.server_close()

    def respond(self, req: Request, conn: _Conn, keep: bool) -> None:
        with self.lock:
            self.requests += 1
            resp = self.handler(req)
            if isinstance(resp, Generator):
                resp = drive(resp)
            head_only = req.method == "HEAD"
            self._send(conn, resp, req.version, keep, head_only)
            if self.on_request is not None:
                self.on_request(req, resp, 0 if head_only else len(resp.body))


class _Session(socketserver.BaseRequestHandler):
    """One connection, read as HttpServer._serve reads it (keepalive_timeout 65 s)."""

    server: RealHttpServer

    def handle(self) -> None:
        sock: socket.socket = self.request
        sock.settimeout(KEEPALIVE)
        srv, conn, buf = self.server, _Conn(sock), b""
        try:
            while True:
                while b"\r\n\r\n" not in buf:
                    chunk = sock.recv(65536)
                    if not chunk:
                        return
                    buf += chunk
                head, buf = buf.split(b"\r\n\r\n", 1)
                req = srv._parse(head, self.client_address[:2])
                if req is None:
                    srv._send(conn, Response(400, _error_page(400, srv.server)), "HTTP/1.1", False, False)
                    return
                n = int(req.headers.get("content-length", "0") or 0)
                while len(buf) < n:
                    chunk = sock.recv(65536)
                    if not chunk:
                        return
                    buf += chunk
                req.body, buf = buf[:n], buf[n:]
                keep = (req.version == "HTTP/1.1" and srv.proto == "HTTP/1.1"
                        and req.headers.get("connection", "").lower() != "close")
                srv.respond(req, conn, keep)
                if not keep:
                    return
        except (OSError, OutputError):
            return


def serve_http(place: Any, port: int, handler: Callable[[Request], Any], server: str = "",
               on_request: Callable[[Request, Response, int], None] | None = None,
               proto: str = "HTTP/1.1", bind: str = "0.0.0.0") -> RealHttpServer:
    """cnmsim.apps.httpd.serve_http's signature, on a real listening socket."""
    return RealHttpServer(port, handler, server, on_request, proto, bind)


# ---------------------------------------------------------------- consul's DNS (8600)
class RealZoneDns:
    """serve_dns for consul: DnsServer's authoritative answers over a real UDP socket (no
    forwarders: unknown names get NXDOMAIN, as the simulated one without forwarders)."""

    def __init__(self, place: Any, zone: dict[str, str], forwarders: list[str] | None = None,
                 port: int = 53, recursive: bool = True) -> None:
        self.model = DnsServer(place, zone, forwarders, port, recursive)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            self.sock.bind(("0.0.0.0", port))
        except OSError as e:
            self.sock.close()
            raise output_error(e) from None
        self.stopped = threading.Event()
        threading.Thread(target=self._loop, daemon=True, name=f"dns:{port}").start()

    def stop(self) -> None:
        self.stopped.set()

    def _loop(self) -> None:
        with self.sock:
            while not self.stopped.is_set():
                if not select.select([self.sock], [], [], 0.2)[0]:
                    continue
                data, client = self.sock.recvfrom(65535)
                try:
                    q = DNS(data)
                    if q.qr or not q.qdcount or not q.qd:
                        continue
                    self.model.queries += 1
                    ans = self.model.answer(q) or self.model._response(q, rcode=3, aa=False)
                    self.sock.sendto(bytes(ans.compress()), client)
                except Exception:  # noqa: BLE001  (not DNS, or the client is gone)
                    continue


# ---------------------------------------------------------------- python-consul
class _ClientSocket:
    """A TCP client socket with the simulated socket's generator-style connect and recv."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.settimeout(CLIENT_TIMEOUT)

    def _call(self, fn: Callable[..., Any], *args: Any) -> Generator[Any, Any, Any]:
        try:
            return immediate(fn(*args))
        except OSError as e:
            raise output_error(e) from None

    def connect(self, ip: str, port: int) -> Generator[Any, Any, None]:
        return self._call(self.sock.connect, (ip, port))

    def recv(self, n: int) -> Generator[Any, Any, bytes]:
        return self._call(self.sock.recv, n)

    def send(self, data: bytes) -> None:
        try:
            self.sock.sendall(data)
        except OSError as e:
            raise output_error(e) from None

    def close(self) -> None:
        self.sock.close()


class RealConsulKV(ConsulKV):
    """ConsulKV with the process's own resolver (/etc/hosts, then 127.0.0.11) and real TCP."""

    def resolve(self) -> Generator[Any, Any, tuple[str | None, str]]:
        try:
            infos = socket.getaddrinfo(self.host, self.port, socket.AF_INET, socket.SOCK_STREAM)
        except socket.gaierror as e:
            return immediate((None, AGAIN if e.errno == socket.EAI_AGAIN else NONAME))
        return immediate((str(infos[0][4][0]), ""))

    def socket(self) -> _ClientSocket:
        return _ClientSocket()


# ---------------------------------------------------------------- main
def io_for(app: Callable[..., Any], startup_sleep: float | None) -> dict[str, Any]:
    """The real-socket stand-ins each model takes."""
    if app is start_nginx:
        return {"serve": serve_http}
    if app is start_consul:
        return {"serve": serve_http, "dns": RealZoneDns}
    if app is start_pets:
        io: dict[str, Any] = {"serve": serve_http, "kv": RealConsulKV}
        if startup_sleep is not None:
            io["startup_sleep"] = startup_sleep
        return io
    raise SystemExit(f"appserver: no real model for {app!r}")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="appserver")
    p.add_argument("--image", required=True)
    p.add_argument("--hostname", required=True)
    p.add_argument("--env", action="append", default=[])
    p.add_argument("--tty", action="store_true")
    p.add_argument("--startup-sleep", type=float, default=None, help="tests only (the image sleeps 5 s)")
    p.add_argument("--ready-fd", type=int, default=None,
                   help="write one byte here once the app has started (its listeners bound)")
    p.add_argument("cmd", nargs="*")
    return p.parse_args(argv)


def die_with_parent() -> None:
    """SIGKILL this process when the engine's process (its parent) ends, however it ends, so a
    crashed lab leaves no server behind (prctl PR_SET_PDEATHSIG; the engine spawns from its
    main thread, the thread whose end the kernel watches)."""
    ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGKILL))  # PR_SET_PDEATHSIG
    if os.getppid() == 1:
        os._exit(137)  # the parent was already gone


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    die_with_parent()
    image = lookup(args.image)
    if image is None or image.app is None:
        print(f"appserver: no app for image {args.image}", file=sys.stderr)
        return 127
    text = "" if sys.stdin.isatty() else sys.stdin.read()
    files: dict[str, str] = json.loads(text) if text.strip() else {}
    files.setdefault("/etc/hostname", args.hostname + "\n")
    env = dict(e.split("=", 1) if "=" in e else (e, "") for e in args.env)
    done = threading.Event()
    status = {"code": 0, "signal": 0}

    def exited(code: int) -> None:
        status["code"] = code
        done.set()

    def on_signal(signum: int, _frame: Any) -> None:
        status["signal"] = signum
        done.set()

    ctx = ProcessContext(Place(args.hostname, None, ProcessNs(), files), env, list(args.cmd),  # type: ignore[arg-type]
                         log_line, tty=args.tty, on_exit=exited)
    for sig in (signal.SIGTERM, signal.SIGQUIT, signal.SIGINT):
        signal.signal(sig, on_signal)
    if image.app(ctx, **io_for(image.app, args.startup_sleep)) is None and not done.is_set():
        return 127  # not the image's program (the engine runs other commands itself)
    if args.ready_fd is not None:  # started: what a native server is a few ms after exec
        os.write(args.ready_fd, b"R")
        os.close(args.ready_fd)
    while not done.wait(0.5):
        pass
    if status["signal"]:
        ctx.stop(graceful=True)  # the model's shutdown: servers closed, last log lines
        return 0
    return status["code"]


if __name__ == "__main__":
    sys.exit(main())
