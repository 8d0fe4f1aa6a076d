"""HashiCorp's consul image running its default command, `agent -dev -client 0.0.0.0`: a one-node
dev server that elects itself leader and keeps its KV store in memory.

- The entrypoint (docker-entrypoint.sh) adds -bind/-client for CONSUL_BIND_INTERFACE /
  CONSUL_CLIENT_INTERFACE; without them -dev binds the cluster ports (8300 server RPC, 8301/8302
  serf) to 127.0.0.1, so the leader is "127.0.0.1:8300" and other containers cannot reach them;
  -client 0.0.0.0 opens HTTP 8500 and DNS 8600 to everyone.
- HTTP API on 8500: /v1/status/leader|peers, /v1/kv/<key> (GET [?raw|?recurse|?keys], PUT
  [?flags=], DELETE [?recurse]), /v1/catalog/nodes.  Dev mode pretty-prints all JSON (4 spaces
  and a newline: agent/http.go marshalJSON).  KV answers 500 "No cluster leader" until the
  election (dev mode's raft timers: a fraction of a second).
- DNS on 8600 (every address): <node>.node.consul and consul.service.consul.
- Log lines on stdout (the agent's banner and hclog lines; dev mode logs each HTTP request).
Simplified: any `agent` command runs as this single-node server; no gossip, no ACLs, no UI
beyond a placeholder page.  Sources: hashicorp/docker-consul 0.X/{Dockerfile,docker-entrypoint.sh},
hashicorp/consul agent/http.go, agent/kvs_endpoint.go.
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
import uuid
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, unquote

import simpy

from cnmsim.apps.dnsd import serve_dns
from cnmsim.apps.httpd import Request, Response, serve_http
from cnmsim.engine.images.base import PATH, AppContext, Image
from cnmsim.engine.images.registry import register
from cnmsim.kernel.sim.ipv4 import OutputError

VERSION = "1.15.2"
BUILD_DATE = "2023-03-30 17:51:19 +0000 UTC"
ELECTION = 0.1  # seconds from start to "cluster leadership acquired" in dev mode
JSON = [("Content-Type", "application/json"), ("Vary", "Accept-Encoding")]


@dataclass
class Entry:
    value: bytes | None
    flags: int
    create: int
    modify: int


def go_json(obj: Any) -> bytes:
    """json.MarshalIndent(obj, "", "    ") + "\\n", with Go's HTML escaping."""
    text = json.dumps(obj, indent=4)
    return (text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026") + "\n").encode()


def hclog_time(t: float) -> str:
    ms = int(round((t % 1) * 1000)) % 1000
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{ms:03d}Z"


class ConsulAgent:
    """One dev-mode agent: its KV store, raft index, leadership and HTTP handler."""

    def __init__(self, ctx: AppContext, bind: str, client: str) -> None:
        self.ctx, self.bind, self.client = ctx, bind, client
        self.node = ctx.place.hostname
        self.node_id = str(uuid.UUID(hashlib.sha256(self.node.encode()).hexdigest()[:32]))
        self.kv: dict[str, Entry] = {}
        self.index = 13  # raft index after the dev server's own start-up writes
        self.leader = False

    def log(self, level: str, text: str) -> None:
        self.ctx.out(f"{hclog_time(self.ctx.now)} [{level}]{' ' * (6 - len(level))}{text}")

    # ------------------------------------------------------------ HTTP
    def handle(self, req: Request) -> Response:
        path, _, query = req.path.partition("?")
        params = parse_qs(query, keep_blank_values=True)
        if path == "/":
            return Response(301, b'<a href="/ui/">Moved Permanently</a>.\n\n',
                            [("Content-Type", "text/html; charset=utf-8"), ("Location", "/ui/")])
        if path.startswith("/ui"):
            return Response(200, b"<!DOCTYPE html>\n<html><head><title>Consul by HashiCorp</title>"
                            b"</head><body></body></html>\n", [("Content-Type", "text/html; charset=utf-8")])
        if path in ("/v1/status/leader", "/v1/status/peers"):
            leader = f"{self.bind}:8300" if self.leader else ""
            obj: Any = leader if path.endswith("leader") else [f"{self.bind}:8300"]
            return Response(200, go_json(obj), list(JSON))
        if path.startswith("/v1/kv/"):
            return self.kv_endpoint(req.method, unquote(path[len("/v1/kv/"):]), params, req.body)
        if path == "/v1/catalog/nodes":
            return self.json(self.nodes(), 14)
        return Response(404, b"", [("Vary", "Accept-Encoding")])

    @staticmethod
    def meta(index: int) -> list[tuple[str, str]]:
        """The query metadata headers of a read (agent/http.go setMeta)."""
        return [("X-Consul-Default-Acl-Policy", "allow"), ("X-Consul-Effective-Consistency", "leader"),
                ("X-Consul-Index", str(index)), ("X-Consul-Knownleader", "true"),
                ("X-Consul-Lastcontact", "0"), ("X-Consul-Query-Backend", "blocking-query")]

    def json(self, obj: Any, index: int) -> Response:
        return Response(200, go_json(obj), JSON + self.meta(index))

    def nodes(self) -> list[dict[str, Any]]:
        return [{"ID": self.node_id, "Node": self.node, "Address": self.bind, "Datacenter": "dc1",
                 "TaggedAddresses": {"lan": self.bind, "lan_ipv4": self.bind,
                                     "wan": self.bind, "wan_ipv4": self.bind},
                 "Meta": {"consul-network-segment": ""}, "CreateIndex": 13, "ModifyIndex": 14}]

    def kv_endpoint(self, method: str, key: str, params: dict[str, list[str]], body: bytes) -> Response:
        text = [("Content-Type", "text/plain; charset=utf-8"), ("Vary", "Accept-Encoding")]
        if method not in ("GET", "PUT", "DELETE"):
            return Response(405, b"", [("Vary", "Accept-Encoding")])
        if not self.leader:
            return Response(500, b"No cluster leader", text)
        if method == "GET":
            if "keys" in params:
                keys = sorted(k for k in self.kv if k.startswith(key))
                return self.json(keys, self.index) if keys or not key else self.missing()
            if "recurse" in params:
                found = [self.entry(k) for k in sorted(self.kv) if k.startswith(key)]
                return self.json(found, self.index) if found else self.missing()
            if not key:
                return Response(400, b"Missing key name", text)
            if key not in self.kv:
                return self.missing()
            if "raw" in params:
                return Response(200, self.kv[key].value or b"", text)
            return self.json([self.entry(key)], self.kv[key].modify)
        if method == "PUT":
            if not key:
                return Response(400, b"Missing key name", text)
            self.index += 1
            old = self.kv.get(key)
            flags = int(params.get("flags", ["0"])[0] or 0)
            self.kv[key] = Entry(body or None, flags, old.create if old else self.index, self.index)
            return Response(200, go_json(True), list(JSON))
        if "recurse" in params:
            gone = [k for k in self.kv if k.startswith(key)]
        elif not key:
            return Response(400, b"Missing key name", text)
        else:
            gone = [key] if key in self.kv else []
        self.index += 1
        for k in gone:
            del self.kv[k]
        return Response(200, go_json(True), list(JSON))

    def missing(self) -> Response:
        """404 with an empty body, the index still in the headers."""
        return Response(404, b"", [("Vary", "Accept-Encoding"), *self.meta(self.index)])

    def entry(self, key: str) -> dict[str, Any]:
        e = self.kv[key]
        value = base64.b64encode(e.value).decode() if e.value is not None else None
        return {"LockIndex": 0, "Key": key, "Flags": e.flags, "Value": value,
                "CreateIndex": e.create, "ModifyIndex": e.modify}

    def access(self, req: Request, resp: Response, sent: int) -> None:
        ip, port = req.client
        self.log("DEBUG", f"agent.http: Request finished: method={req.method} url={req.path} "
                          f"from={ip}:{port} latency=0s")

    # ------------------------------------------------------------ start-up
    def banner(self) -> None:
        out = self.ctx.out
        out("==> Starting Consul agent...")
        for k, v in (("Version", f"'{VERSION}'"), ("Build Date", f"'{BUILD_DATE}'"),
                     ("Node ID", f"'{self.node_id}'"), ("Node name", f"'{self.node}'"),
                     ("Datacenter", "'dc1' (Segment: '<all>')"), ("Server", "true (Bootstrap: false)"),
                     ("Client Addr", f"[{self.client}] (HTTP: 8500, HTTPS: -1, gRPC: 8502, gRPC-TLS: 8503, DNS: 8600)"),
                     ("Cluster Addr", f"{self.bind} (LAN: 8301, WAN: 8302)"),
                     ("Gossip Encryption", "false"), ("Auto-Encrypt-TLS", "false"),
                     ("HTTPS TLS", "Verify Incoming: false, Verify Outgoing: false, Min Version: TLSv1_2"),
                     ("gRPC TLS", "Verify Incoming: false, Min Version: TLSv1_2"),
                     ("Internal RPC TLS", "Verify Incoming: false, Verify Outgoing: false "
                                          "(Verify Hostname: false), Min Version: TLSv1_2")):
            out(f"{k:>21}: {v}")
        out("")
        out("==> Log data will now stream in as it occurs:")
        out("")
        raft = f"Node at {self.bind}:8300"
        self.log("INFO", f'agent.server.raft: initial configuration: index=1 servers="[{{Suffrage:Voter '
                         f'ID:{self.node_id} Address:{self.bind}:8300}}]"')
        self.log("INFO", f'agent.server.raft: entering follower state: follower="{raft} [Follower]" '
                         "leader-address= leader-id=")
        self.log("INFO", f"agent.server.serf.wan: serf: EventMemberJoin: {self.node}.dc1 {self.bind}")
        self.log("INFO", f"agent.server.serf.lan: serf: EventMemberJoin: {self.node} {self.bind}")
        for net in ("udp", "tcp"):
            self.log("INFO", f"agent: Started DNS server: address={self.client}:8600 network={net}")
        self.log("INFO", "agent: Starting server: address=[::]:8500 network=tcp protocol=http")
        self.log("INFO", "agent: Consul agent running!")

    def elect(self) -> Generator[Any, Any, None]:
        try:
            yield self.ctx.sim.timeout(ELECTION)
        except simpy.Interrupt:
            return  # stopped before the election
        raft = f"Node at {self.bind}:8300"
        self.log("WARN", "agent.server.raft: heartbeat timeout reached, starting election: "
                         "last-leader-addr= last-leader-id=")
        self.log("INFO", f'agent.server.raft: entering candidate state: node="{raft} [Candidate]" term=2')
        self.log("INFO", "agent.server.raft: election won: term=2 tally=1")
        self.log("INFO", f'agent.server.raft: entering leader state: leader="{raft} [Leader]"')
        self.log("INFO", "agent.server: cluster leadership acquired")
        self.log("INFO", f"agent.server: New leader elected: payload={self.node}")
        self.leader = True


def _iface_addr(ctx: AppContext, dev: str) -> str | None:
    for a in ctx.place.ns.addrs():
        if a.dev == dev:
            return a.address.split("/")[0]
    return None


def _flag(args: list[str], name: str) -> str | None:
    for i, a in enumerate(args):
        if a in (f"-{name}", f"--{name}") and i + 1 < len(args):
            return args[i + 1]
        if a.startswith((f"-{name}=", f"--{name}=")):
            return a.split("=", 1)[1]
    return None


def agent_args(cmd: list[str]) -> list[str] | None:
    """The `agent ...` words docker-entrypoint.sh runs consul with; None for another command."""
    args = list(cmd)
    if args and args[0].startswith("-"):
        args = ["consul", *args]
    if args[:1] == ["consul"]:
        args = args[1:]
    return args if args[:1] == ["agent"] else None


def start_consul(ctx: AppContext, serve: Callable[..., Any] = serve_http,
                 dns: Callable[..., Any] = serve_dns) -> ConsulAgent | None:
    """docker-entrypoint.sh, then `consul agent ...`; None when the command is not the agent.

    `serve` and `dns` start the HTTP and DNS servers (real mode passes real-socket ones)."""
    args = agent_args(ctx.cmd)
    if args is None:
        return None
    opts = {}
    for var, opt in (("CONSUL_BIND_INTERFACE", "bind"), ("CONSUL_CLIENT_INTERFACE", "client")):
        dev = ctx.env.get(var)
        if dev:
            addr = _iface_addr(ctx, dev)
            if addr is None:
                ctx.out(f"Could not find IP for interface '{dev}', exiting")
                ctx.exit(1)
                return None
            ctx.out(f"==> Found address '{addr}' for interface '{dev}', setting {opt} option...")
            opts[opt] = addr
    bind = _flag(args, "bind") or opts.get("bind", "127.0.0.1")
    client = _flag(args, "client") or opts.get("client", "127.0.0.1")
    agent = ConsulAgent(ctx, bind, client)
    agent.banner()
    addr = f"{bind}:8300"
    try:
        for port in (8300, 8301, 8302):  # server RPC and serf: listening, nobody talks to them here
            addr = f"{bind}:{port}"
            sock = ctx.place.ns.sockets.tcp.socket()
            ctx.on_stop(sock.close)
            sock.bind(bind, port)
            sock.listen()
        addr = f"{client}:8500"
        http = serve(ctx.place, 8500, agent.handle, on_request=agent.access, bind=client)
        ctx.on_stop(http.stop)
    except OutputError as e:
        why = "address already in use" if e.errno_name == "EADDRINUSE" else "cannot assign requested address"
        ctx.out(f"==> Error starting agent: listen tcp {addr}: bind: {why}")
        ctx.exit(1)
        return None
    zone = dns(ctx.place, {f"{agent.node}.node.consul": bind, "consul.service.consul": bind},
               port=8600, recursive=False)
    ctx.on_stop(zone.stop)
    ctx.process(agent.elect())
    return agent


CONSUL = register(Image(
    "consul", tags=["latest", VERSION, "1.15"], aliases=["hashicorp/consul"],
    exposed_ports=["8300/tcp", "8301/tcp", "8301/udp", "8302/tcp", "8302/udp", "8500/tcp",
                   "8600/tcp", "8600/udp"],
    cmd=["agent", "-dev", "-client", "0.0.0.0"], entrypoint=["docker-entrypoint.sh"],
    env=[PATH, "HASHICORP_RELEASES=https://releases.hashicorp.com"], volumes=["/consul/data"],
    labels={"org.opencontainers.image.title": "consul", "org.opencontainers.image.vendor": "HashiCorp",
            "org.opencontainers.image.version": VERSION},
    flavour="busybox", size=155_000_000, app=start_consul))
