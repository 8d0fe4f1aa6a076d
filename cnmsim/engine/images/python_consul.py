"""python-consul's KV calls over `requests`, as the pets app makes them from its container.

    kv = ConsulKV(ctx.proc("python", "app.py"), "db", 8500)
    value = yield from kv.get("hits")        # the value as text, or None when the key is missing
    yield from kv.put("hits", "1")
Every call resolves the host with the container's resolver (netutil.getaddrinfo: /etc/hosts, then
the nameservers of /etc/resolv.conf, e.g. Docker's embedded DNS) and sends one HTTP request over
its own TCP connection, so each shows up in a trace as a DNS query, a handshake and the request.
(The real `requests` session keeps the connection in a pool and resolves again only when it
reconnects.)  Failures raise ConsulError with the text of requests' ConnectionError; the image is
alpine-based, so socket and resolver errors read as musl words them.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Generator
from typing import Any

from cnmsim.apps.netutil import AGAIN, closing, getaddrinfo
from cnmsim.kernel.sim.ipv4 import OutputError
from cnmsim.shell.registry import Proc

USER_AGENT = "python-requests/2.13.0"
MUSL = {"ECONNREFUSED": (111, "Connection refused"), "ETIMEDOUT": (110, "Operation timed out"),
        "EHOSTUNREACH": (113, "Host is unreachable"), "ENETUNREACH": (101, "Network unreachable"),
        "ECONNRESET": (104, "Connection reset by peer")}


class ConsulError(Exception):
    """requests.exceptions.ConnectionError, as str() shows it."""


class ConsulKV:
    """`consul.Consul(host, port).kv` with the std (requests) HTTP client."""

    def __init__(self, proc: Proc, host: str, port: int = 8500) -> None:
        self.proc, self.host, self.port = proc, host, int(port)

    def get(self, key: str) -> Generator[Any, Any, str | None]:
        """kv.get(key)[1]["Value"] decoded, or None (a 404: python-consul returns (index, None))."""
        status, body = yield from self.request("GET", f"/v1/kv/{key}")
        if status == 404:
            return None
        if status != 200:
            raise ConsulError(f"{status} {body.decode(errors='replace')}")  # consul.base.ConsulException
        value = json.loads(body)[0]["Value"]
        return base64.b64decode(value).decode() if value is not None else ""

    def put(self, key: str, value: str) -> Generator[Any, Any, bool]:
        status, body = yield from self.request("PUT", f"/v1/kv/{key}", value.encode())
        if status != 200:
            raise ConsulError(f"{status} {body.decode(errors='replace')}")
        return bool(json.loads(body))

    def _fail(self, url: str, errno: int, text: str) -> ConsulError:
        obj = "0x7f" + hashlib.sha256(f"{self.host}{url}".encode()).hexdigest()[:8]
        return ConsulError(
            f"HTTPConnectionPool(host='{self.host}', port={self.port}): Max retries exceeded with url: "
            f"{url} (Caused by NewConnectionError('<requests.packages.urllib3.connection.HTTPConnection "
            f"object at {obj}>: Failed to establish a new connection: [Errno {errno}] {text}',))")

    def resolve(self) -> Generator[Any, Any, tuple[str | None, str]]:
        """The host's address with the container's resolver: (address, "") or (None, error)."""
        return (yield from getaddrinfo(self.proc, self.host))

    def socket(self) -> Any:
        """A new TCP socket (connect and recv are generators, send raises OutputError)."""
        return self.proc.ns.sockets.tcp.socket()

    def request(self, method: str, url: str, body: bytes = b"") -> Generator[Any, Any, tuple[int, bytes]]:
        """One request; (status, body).  Raises ConsulError when no connection could be made."""
        addr, err = yield from self.resolve()
        if addr is None:
            raise self._fail(url, -3, "Try again") if err == AGAIN else self._fail(url, -2, "Name does not resolve")
        sock = self.socket()
        with closing(sock):
            try:
                yield from sock.connect(addr, self.port)
            except OutputError as e:
                raise self._fail(url, *MUSL.get(e.errno_name, (111, "Connection refused"))) from None
            hdrs = [f"Host: {self.host}:{self.port}", f"User-Agent: {USER_AGENT}",
                    "Accept-Encoding: gzip, deflate", "Accept: */*", "Connection: keep-alive"]
            if method in ("PUT", "POST"):
                hdrs.append(f"Content-Length: {len(body)}")
            head = f"{method} {url} HTTP/1.1\r\n" + "".join(h + "\r\n" for h in hdrs) + "\r\n"
            try:
                sock.send(head.encode() + body)
                return (yield from _response(sock))
            except OutputError as e:
                no, text = MUSL.get(e.errno_name, (104, "Connection reset by peer"))
                raise ConsulError(f"('Connection aborted.', error({no}, '{text}'))") from None


def _response(sock: Any) -> Generator[Any, Any, tuple[int, bytes]]:
    """Status and body of a Content-Length (or close-delimited) response."""
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = yield from sock.recv(65536)
        if not chunk:
            raise ConsulError("('Connection aborted.', BadStatusLine(\"''\",))")
        buf += chunk
    head, body = buf.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    hdrs = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in lines[1:])}
    n = int(hdrs.get("content-length", "-1"))
    while n < 0 or len(body) < n:
        chunk = yield from sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return status, body if n < 0 else body[:n]
