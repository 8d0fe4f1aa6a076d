"""NetworkDB messages as they travel, and their sizes on the wire (with AES-GCM overhead).

Follows libnetwork `networkdb/message.go` (gossip framing), `networkdb.proto` (field layout)
and memberlist `security.go` / `net.go` (encryption and user-message framing).  Sizes are
protobuf encodings of the fields, so a simulated packet is as large as the real one within a
few bytes; memberlist's LZW compression (LAN default, used only when it shrinks a packet) is a
`compression` factor, 1.0 (off) by default.

Encryption, as memberlist does it for NetworkDB (ProtocolVersion 2 → encryption version 1):
- UDP packet: version byte 1 + nonce 12 + GCM tag 16 = **29 bytes** (`encryptOverhead(1)`).
- TCP stream (bulk sync): `encryptMsg` type byte + 4-byte length + the same 29 = **34 bytes**
  (`encryptLocalState`).
Keys: AES-128, 16 bytes, keyring of 3, rotation every 12 h (swarmkit `keymanager.go`,
facts engine.md §4); libnetwork `agent.go` makes the key with the second-highest Lamport tag
primary, so every node holds the newest key before anyone encrypts with it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

NODE_ID_LEN = 12  # stringid.TruncateID(GenerateRandomID()) (agent.go)
COMPOUND_HEADER_OVERHEAD = 5  # message.go: 1 type byte + 4 count bytes
COMPOUND_OVERHEAD = 4  # message.go: per embedded message (its length)
USER_MSG_OVERHEAD = 1  # memberlist net.go: userMsg type byte before a SendBestEffort payload
STREAM_USER_HEADER = 18  # memberlist sendUserMsg: userMsg byte + msgpack {UserMsgLen: uint32}
GCM_PACKET_OVERHEAD = 29  # memberlist security.go encryptOverhead(vsn=1): 1 + 12 + 16
GCM_STREAM_OVERHEAD = 34  # encryptLocalState: encryptMsg byte + uint32 length + 29

CREATE, UPDATE, DELETE = "create", "update", "delete"
_TYPE_NUM = {CREATE: 1, UPDATE: 2, DELETE: 3}  # TableEvent.Type in networkdb.proto


def varint_len(v: int) -> int:
    """Bytes of a protobuf varint."""
    n = 1
    v = max(0, int(v))
    while v >= 0x80:
        v >>= 7
        n += 1
    return n


def _bytes_field(n: int) -> int:
    return 1 + varint_len(n) + n if n else 0


def _int_field(v: int) -> int:
    return 1 + varint_len(v) if v else 0


def value_len(value: Any) -> int:
    """Wire length of a table value: bytes/str as they are, anything else by its repr."""
    if value is None:
        return 0
    if isinstance(value, bytes | bytearray):
        return len(value)
    return len(value if isinstance(value, str) else repr(value))


def gossip_wrap(inner: int) -> int:
    """GossipMessage{Type, Data} around an encoded message (encodeMessage)."""
    return 2 + _bytes_field(inner)


@dataclass(frozen=True, slots=True)
class TableMsg:
    """A TableEvent (networkdb.proto): what is queued, gossiped and bulk-synced."""

    type: str  # create | update | delete
    ltime: int
    owner: int
    nid: str
    table: str
    key: str
    value: Any
    residual: int = 0  # ResidualReapTime, whole seconds (int32 in the proto)
    size: int = 0  # encoded size, GossipMessage included

    @staticmethod
    def make(type_: str, ltime: int, owner: int, nid: str, table: str, key: str, value: Any,
             residual: int = 0) -> TableMsg:
        inner = (_int_field(_TYPE_NUM[type_]) + _int_field(ltime) + _bytes_field(NODE_ID_LEN)
                 + _bytes_field(len(nid)) + _bytes_field(len(table)) + _bytes_field(len(key))
                 + _bytes_field(value_len(value)) + _int_field(residual))
        return TableMsg(type_, ltime, owner, nid, table, key, value, residual, gossip_wrap(inner))


@dataclass(frozen=True, slots=True)
class NetMsg:
    """A NetworkEvent: `owner` joined or left network `nid` at network-clock `ltime`."""

    owner: int
    nid: str
    leave: bool
    ltime: int

    @property
    def size(self) -> int:
        inner = (_int_field(2 if self.leave else 1) + _int_field(self.ltime)
                 + _bytes_field(NODE_ID_LEN) + _bytes_field(len(self.nid)))
        return gossip_wrap(inner)


def compound_size(sizes: list[int]) -> int:
    """makeCompoundMessage: header plus a length per part (message.go constants)."""
    return COMPOUND_HEADER_OVERHEAD + sum(COMPOUND_OVERHEAD + s for s in sizes)


def packet_size(compound: int, encrypted: bool, compression: float = 1.0) -> int:
    """UDP payload of a SendBestEffort: userMsg byte + message, then AES-GCM if keyed."""
    body = int(round((USER_MSG_OVERHEAD + compound) * compression))
    return body + (GCM_PACKET_OVERHEAD if encrypted else 0)


def bulk_sync_size(networks: list[str], entry_sizes: list[int], ltime: int,
                   encrypted: bool, compression: float = 1.0) -> int:
    """TCP bytes of a BulkSyncMessage (all entries of the common networks) via SendReliable."""
    payload = compound_size(entry_sizes) if entry_sizes else 0
    inner = (_int_field(ltime) + 2 + _bytes_field(NODE_ID_LEN)
             + sum(_bytes_field(len(n)) for n in networks) + _bytes_field(payload))
    body = int(round((STREAM_USER_HEADER + gossip_wrap(inner)) * compression))
    return body + (GCM_STREAM_OVERHEAD if encrypted else 0)


def push_pull_size(attachments: int, nid_len: int = 25) -> int:
    """NetworkPushPull (delegate.LocalState): the user state memberlist's push-pull carries."""
    entry = 2 + 5 + _bytes_field(nid_len) + _bytes_field(NODE_ID_LEN) + 2
    return gossip_wrap(6 + _bytes_field(NODE_ID_LEN) + attachments * entry)


class Keyring:
    """The gossip keyring of swarm: `size` AES-128 keys named by Lamport tags.

    Primary = second-newest key (libnetwork agent.go getPrimaryKeyTag / getKeys swap), so a
    rotation installs the new key everywhere one period before it is used."""

    def __init__(self, size: int = 3) -> None:
        self.size = size
        self.tags = list(range(1, size + 1))

    @property
    def primary(self) -> int:
        return self.tags[-2] if len(self.tags) >= 2 else self.tags[-1]

    def rotate(self) -> tuple[int, int]:
        """Add a key, drop the oldest; returns (added, removed)."""
        added = self.tags[-1] + 1
        self.tags.append(added)
        removed = self.tags.pop(0) if len(self.tags) > self.size else -1
        return added, removed
