"""libnetwork's `endpoint_table`: one NetworkDB entry per service-task endpoint, how every node
of a network learns the tasks behind a service (agent.go `addServiceInfoToCluster`,
`handleEpTableEvent`).

The key is the endpoint id, the value the protobuf `EndpointRecord` (agent.proto) — encoded
here as real protobuf bytes, so a gossip packet carries the size the real one does:

    message EndpointRecord { string name = 1; string service_name = 2; string service_id = 3;
        string virtual_ip = 4; string endpoint_ip = 5; repeated PortConfig ingress_ports = 6;
        repeated string aliases = 7; repeated string task_aliases = 8; bool service_disabled = 9; }
    message PortConfig { string name = 1; Protocol protocol = 2; uint32 target_port = 3;
        uint32 published_port = 4; }      // Protocol: TCP = 0, UDP = 1, SCTP = 2
"""

from __future__ import annotations

from dataclasses import dataclass, replace

ENDPOINT_TABLE = "endpoint_table"
PROTOCOLS = ("tcp", "udp", "sctp")


@dataclass(frozen=True)
class IngressPort:
    """A PortConfig as the endpoint record carries it (ingress-mode ports only)."""

    protocol: str
    target: int
    published: int
    name: str = ""


@dataclass(frozen=True)
class EndpointRecord:
    name: str  # the task container's name, <service>.<slot>.<task id>
    service_name: str
    service_id: str
    virtual_ip: str  # the service's VIP on this network ("" in dnsrr mode)
    endpoint_ip: str
    ingress_ports: tuple[IngressPort, ...] = ()
    aliases: tuple[str, ...] = ()  # service aliases on this network
    task_aliases: tuple[str, ...] = ()
    service_disabled: bool = False

    def disabled(self) -> EndpointRecord:
        return replace(self, service_disabled=True)

    def encode(self) -> bytes:
        out = bytearray()
        for no, text in ((1, self.name), (2, self.service_name), (3, self.service_id),
                         (4, self.virtual_ip), (5, self.endpoint_ip)):
            _string(out, no, text)
        for p in self.ingress_ports:
            inner = bytearray()
            _string(inner, 1, p.name)
            _uint(inner, 2, PROTOCOLS.index(p.protocol))
            _uint(inner, 3, p.target)
            _uint(inner, 4, p.published)
            _bytes(out, 6, bytes(inner))
        for a in self.aliases:
            _string(out, 7, a, keep_empty=True)
        for a in self.task_aliases:
            _string(out, 8, a, keep_empty=True)
        _uint(out, 9, int(self.service_disabled))
        return bytes(out)

    @classmethod
    def decode(cls, data: bytes) -> EndpointRecord:
        f = _fields(data)
        ports = []
        for raw in _all(f, 6):
            g = _fields(raw)
            ports.append(IngressPort(PROTOCOLS[_int(g, 2)], _int(g, 3), _int(g, 4), _str(g, 1)))
        return cls(_str(f, 1), _str(f, 2), _str(f, 3), _str(f, 4), _str(f, 5), tuple(ports),
                   tuple(a.decode() for a in _all(f, 7)), tuple(a.decode() for a in _all(f, 8)),
                   bool(_int(f, 9)))


@dataclass
class Binding:
    """What one node knows of one endpoint of a service task (its serviceBinding entry)."""

    eid: str
    nid: str
    record: EndpointRecord
    local: bool = False  # written by this node (its own task) rather than learned by gossip
    disabled: bool = False  # the task is shutting down: weight 0, out of DNS round robin


# ---------------------------------------------------------------- protobuf wire format
def _varint(out: bytearray, n: int) -> None:
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return


def _uint(out: bytearray, no: int, n: int) -> None:
    if n:  # proto3: default values are not sent
        _varint(out, no << 3)
        _varint(out, n)


def _bytes(out: bytearray, no: int, data: bytes) -> None:
    _varint(out, no << 3 | 2)
    _varint(out, len(data))
    out += data


def _string(out: bytearray, no: int, text: str, keep_empty: bool = False) -> None:
    if text or keep_empty:
        _bytes(out, no, text.encode())


def _read_varint(data: bytes, i: int) -> tuple[int, int]:
    n = shift = 0
    while True:
        b = data[i]
        i += 1
        n |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return n, i


def _all(f: dict[int, list[int | bytes]], no: int) -> list[bytes]:
    return [v for v in f.get(no, []) if isinstance(v, bytes)]


def _str(f: dict[int, list[int | bytes]], no: int) -> str:
    got = _all(f, no)
    return got[-1].decode() if got else ""


def _int(f: dict[int, list[int | bytes]], no: int) -> int:
    got = [v for v in f.get(no, []) if isinstance(v, int)]
    return got[-1] if got else 0


def _fields(data: bytes) -> dict[int, list[int | bytes]]:
    out: dict[int, list[int | bytes]] = {}
    i = 0
    while i < len(data):
        key, i = _read_varint(data, i)
        no, wire = key >> 3, key & 7
        if wire == 0:
            v, i = _read_varint(data, i)
            out.setdefault(no, []).append(v)
        elif wire == 2:
            n, i = _read_varint(data, i)
            out.setdefault(no, []).append(bytes(data[i:i + n]))
            i += n
        else:
            raise ValueError(f"unexpected wire type {wire} in EndpointRecord")
    return out
