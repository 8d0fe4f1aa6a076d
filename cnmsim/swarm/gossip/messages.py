"""memberlist's wire messages: their sizes, compound packing, and rendering to real bytes.

memberlist encodes each message as one type byte followed by the Go struct as a msgpack map
keyed by field names (net.go `encode`, hashicorp/go-msgpack, old-spec raw strings).  The sizes
used on the hot path are those of this same encoder applied to representative values
(`Sizes`): 12-character node names (networkdb's NodeID), IPv4 addresses (4 bytes), port 7946,
empty Meta, a 6-byte Vsn, sequence numbers in the uint16 range (3 bytes: a node that has sent
256 to 65,535 pings) and incarnations below 128 (1 byte).  With these, ping = 83 bytes,
indirect-ping = 109, ack = 20, nack = 11, suspect = dead = 51, alive = 68, and a push-pull
carries 74 bytes per member after a 29 to 33-byte header.  LZW compression (`EnableCompression`,
applied to a packet only when it shrinks it) is not modelled: sizes are before compression,
which is also what the 1400-byte budget counts in memberlist.

A compound packet (net.go `makeCompoundMessage`) is: compoundMsg type, a part count, one uint16
length per part, the parts: 2 + 2 per part + the parts (`compoundHeaderOverhead`,
`compoundOverhead`).  Packets sent with a node's address (gossip, the buddy system's
ping+suspect) carry a 5-byte CRC header (net.go `rawSendMsgPacket`, protocol >= 5); encrypted
clusters add 29 bytes (security.go, version 1); a label adds 2 + its length.

`render(msg)` turns a simulated `Message` into the UDP/TCP payload bytes memberlist would send
(encryption as its layout, with a deterministic keystream instead of AES-GCM), for captures
only; `frame(msg)` wraps them in a scapy IP/UDP or IP/TCP packet.
"""

from __future__ import annotations

import hashlib
import struct
import zlib
from dataclasses import dataclass
from typing import Any

from cnmsim.swarm.gossip.api import Message
from cnmsim.swarm.gossip.config import (
    COMPOUND_HEADER_OVERHEAD,
    COMPOUND_OVERHEAD,
    PROTOCOL_VERSION_MAX,
    Config,
)

# net.go messageType
TYPES = {"ping": 0, "indirect-ping": 1, "ack": 2, "suspect": 3, "alive": 4, "dead": 5,
         "push-pull": 6, "compound": 7, "user": 8, "compress": 9, "encrypt": 10, "nack": 11,
         "has-crc": 12, "err": 13}
HAS_LABEL = 244
CRC_OVERHEAD = 5
MAX_COMPOUND_PARTS = 255  # makeCompoundMessages splits longer lists
STATE_CODE = {0: 0, 1: 1, 2: 2, 3: 3}  # NodeStateType: alive, suspect, dead, left
SEQ_TYPICAL = 300  # a uint16 sequence number
INC_TYPICAL = 1


# -- msgpack (old spec, as hashicorp/go-msgpack writes it) ------------------------------------

def _raw_header(n: int, out: bytearray) -> None:
    if n <= 31:
        out.append(0xA0 | n)
    elif n <= 0xFFFF:
        out += b"\xda" + struct.pack(">H", n)
    else:
        out += b"\xdb" + struct.pack(">I", n)


def pack(v: Any, out: bytearray) -> None:
    """Append the msgpack encoding of v (None, bool, int, str, bytes, dict, list)."""
    if v is None:
        out.append(0xC0)
    elif v is True or v is False:
        out.append(0xC3 if v else 0xC2)
    elif isinstance(v, int):
        if 0 <= v < 128:
            out.append(v)
        elif 0 <= v < 256:
            out += b"\xcc" + bytes((v,))
        elif 0 <= v < 65536:
            out += b"\xcd" + struct.pack(">H", v)
        elif 0 <= v < 1 << 32:
            out += b"\xce" + struct.pack(">I", v)
        elif v >= 0:
            out += b"\xcf" + struct.pack(">Q", v)
        elif v >= -32:
            out.append(v & 0xFF)
        else:
            out += b"\xd3" + struct.pack(">q", v)
    elif isinstance(v, str):
        b = v.encode()
        _raw_header(len(b), out)
        out += b
    elif isinstance(v, bytes | bytearray):
        _raw_header(len(v), out)
        out += v
    elif isinstance(v, dict):
        n = len(v)
        out += bytes((0x80 | n,)) if n <= 15 else b"\xde" + struct.pack(">H", n)
        for k, x in v.items():
            pack(k, out)
            pack(x, out)
    elif isinstance(v, list | tuple):
        n = len(v)
        out += bytes((0x90 | n,)) if n <= 15 else b"\xdc" + struct.pack(">H", n)
        for x in v:
            pack(x, out)
    else:
        raise TypeError(f"cannot msgpack {type(v).__name__}")


def encode(kind: str, fields: dict[str, Any]) -> bytes:
    """net.go `encode`: the type byte, then the struct as a msgpack map."""
    out = bytearray((TYPES[kind],))
    pack(fields, out)
    return bytes(out)


# -- names and addresses of simulated nodes ---------------------------------------------------

def node_name(i: int, name_len: int = 12) -> str:
    """A deterministic networkdb-style NodeID (hex) for node i."""
    h = hashlib.blake2b(i.to_bytes(8, "big"), digest_size=32).hexdigest()
    return h[:name_len]


def node_addr(i: int) -> bytes:
    """Node i's IPv4 address, 10.0.0.0/8 from 10.0.0.1 on."""
    return (0x0A000001 + i).to_bytes(4, "big")


VSN = bytes((1, PROTOCOL_VERSION_MAX, 2, 2, 5, 4))  # PMin PMax PCur DMin DMax DCur (Vsn)


def _struct(kind: str, b: dict[str, Any], src: int, name_len: int, port: int) -> dict[str, Any]:
    """The Go struct of one message kind, field order as in net.go."""
    def nm(i: int) -> str:
        return node_name(i, name_len)

    if kind == "ping":
        return {"SeqNo": b["seq"], "Node": nm(b["node"]), "SourceAddr": node_addr(src),
                "SourcePort": port, "SourceNode": nm(src)}
    if kind == "indirect-ping":
        return {"SeqNo": b["seq"], "Target": node_addr(b["node"]), "Port": port,
                "Node": nm(b["node"]), "Nack": b["nack"], "SourceAddr": node_addr(src),
                "SourcePort": port, "SourceNode": nm(src)}
    if kind == "ack":
        return {"SeqNo": b["seq"], "Payload": None}
    if kind == "nack":
        return {"SeqNo": b["seq"]}
    if kind in ("suspect", "dead"):
        return {"Incarnation": b["inc"], "Node": nm(b["node"]), "From": nm(b["from"])}
    if kind == "alive":
        return {"Incarnation": b["inc"], "Node": nm(b["node"]), "Addr": node_addr(b["node"]),
                "Port": port, "Meta": b"", "Vsn": VSN}
    raise ValueError(f"no struct for {kind!r}")


def push_node_state(i: int, state: int, inc: int, name_len: int, port: int) -> dict[str, Any]:
    """net.go `pushNodeState` of one member."""
    return {"Name": node_name(i, name_len), "Addr": node_addr(i), "Port": port, "Meta": b"",
            "Incarnation": inc, "State": STATE_CODE[state], "Vsn": VSN}


# -- sizes -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Sizes:
    """Encoded sizes (bytes) of each message kind for one configuration."""

    ping: int
    indirect_ping: int
    ack: int
    nack: int
    suspect: int
    alive: int
    dead: int
    push_node: int
    push_header: int
    packet_overhead: int  # label + encryption on every UDP packet

    @classmethod
    def of(cls, cfg: Config) -> Sizes:
        L, port = cfg.name_len, cfg.bind_port
        s, inc = SEQ_TYPICAL, INC_TYPICAL

        def size(kind: str, body: dict[str, Any]) -> int:
            return len(encode(kind, _struct(kind, body, 1, L, port)))

        return cls(
            ping=size("ping", {"seq": s, "node": 2}),
            indirect_ping=size("indirect-ping", {"seq": s, "node": 2, "nack": True}),
            ack=size("ack", {"seq": s}),
            nack=size("nack", {"seq": s}),
            suspect=size("suspect", {"inc": inc, "node": 2, "from": 1}),
            alive=size("alive", {"inc": inc, "node": 2}),
            dead=size("dead", {"inc": inc, "node": 2, "from": 1}),
            push_node=len(_packed(push_node_state(2, 0, inc, L, port))),
            push_header=len(encode("push-pull", {"Nodes": 0, "UserStateLen": 0,
                                                 "Join": False})),
            packet_overhead=cfg.packet_overhead(),
        )

    def push_pull(self, members: int, user_state: int = 0) -> int:
        """A push/pull stream: header, one pushNodeState per member, the delegate's state."""
        return (self.push_header + _uint_extra(members) + _uint_extra(user_state)
                + members * self.push_node + user_state)


def _uint_extra(v: int) -> int:
    """Bytes a msgpack uint takes beyond a positive fixint."""
    return 0 if v < 128 else 1 if v < 256 else 2 if v < 65536 else 4 if v < 1 << 32 else 8


def _packed(v: Any) -> bytes:
    out = bytearray()
    pack(v, out)
    return bytes(out)


def compound_size(parts: list[Message]) -> int:
    """Size of a compound packet holding `parts` (net.go `makeCompoundMessage`)."""
    return COMPOUND_HEADER_OVERHEAD + sum(COMPOUND_OVERHEAD + p.size for p in parts)


# -- rendering ---------------------------------------------------------------------------------

def _payload(msg: Message, name_len: int, port: int) -> bytes:
    kind, b = msg.kind, msg.body
    if msg.parts and kind != "compound":  # one gossiped broadcast in its envelope
        return _payload(msg.parts[0], name_len, port)
    if kind == "compound":
        bufs = [_payload(p, name_len, port) for p in msg.parts]
        head = bytes((TYPES["compound"], len(bufs))) + b"".join(
            struct.pack(">H", len(x)) for x in bufs)
        return head + b"".join(bufs)
    if kind == "user":
        data = bytes(b.get("payload") or b"")
        return bytes((TYPES["user"],)) + data.ljust(max(0, msg.size - 1), b"\0")
    if kind == "push-pull":
        state, incs = b["state"], b["inc"]
        members = [i for i in range(len(state)) if state[i] >= 0]
        out = bytearray(encode("push-pull", {"Nodes": len(members), "UserStateLen": 0,
                                             "Join": bool(b.get("join"))}))
        for i in members:
            pack(push_node_state(i, int(state[i]), int(incs[i]), name_len, port), out)
        return bytes(out)
    return encode(kind, _struct(kind, b, msg.src, name_len, port))


def render(msg: Message, cfg: Config | None = None) -> bytes:
    """The UDP (or TCP stream) payload memberlist would send for `msg`."""
    cfg = cfg or Config()
    buf = _payload(msg, cfg.name_len, cfg.bind_port)
    if msg.body.get("crc"):
        buf = bytes((TYPES["has-crc"],)) + struct.pack(">I", zlib.crc32(buf)) + buf
    if cfg.encryption:
        nonce = hashlib.blake2b(buf, digest_size=12).digest()
        stream = hashlib.shake_256(nonce).digest(len(buf) + 16)
        sealed = bytes(x ^ y for x, y in zip(buf, stream, strict=False)) + stream[len(buf):]
        buf = b"\x01" + nonce + sealed  # version 1: 29 bytes more
    if cfg.label:
        lab = cfg.label.encode()
        buf = bytes((HAS_LABEL, len(lab))) + lab + buf
    return buf


def frame(msg: Message, cfg: Config | None = None) -> Any:
    """A scapy IP/UDP (IP/TCP when reliable) packet carrying `render(msg)` on port 7946."""
    from scapy.layers.inet import IP, TCP, UDP
    from scapy.packet import Raw

    cfg = cfg or Config()
    src = ".".join(str(x) for x in node_addr(msg.src))
    dst = ".".join(str(x) for x in node_addr(max(msg.dst, 0)))
    l4 = (TCP(sport=cfg.bind_port, dport=cfg.bind_port, flags="PA") if msg.reliable
          else UDP(sport=cfg.bind_port, dport=cfg.bind_port))
    return IP(src=src, dst=dst) / l4 / Raw(render(msg, cfg))
