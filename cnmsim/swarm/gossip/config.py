"""memberlist's configuration: every protocol parameter of `memberlist.Config`, in seconds.

Follows hashicorp/memberlist `config.go` (`DefaultLANConfig` l.302, `DefaultWANConfig` l.346,
`DefaultLocalConfig` l.380; facts/gossip.md §1.1).  The three factories return fresh, settable
dataclasses; `dataclasses.replace(lan(), probe_interval=2.0)` changes one field.

Fields that are not memberlist's are marked *cnmsim*: `lifeguard` switches the three Lifeguard
extensions (dynamic suspicion, local health awareness with nacks, buddy system) off together,
as the Lifeguard paper's baseline does, and `name_len` sizes the encoded node names.
"""

from __future__ import annotations

from dataclasses import dataclass

# net.go l.85-87 (facts §1.1): framing overheads of compound packets and user messages
COMPOUND_HEADER_OVERHEAD = 2  # type byte + part count
COMPOUND_OVERHEAD = 2  # per part: its uint16 length
USER_MSG_OVERHEAD = 1  # the userMsg type byte in front of a delegate broadcast
# security.go `encryptOverhead`: version 1 = 1 version byte + 12 nonce + 16 GCM tag
ENCRYPT_OVERHEAD = 29
# util.go l.29
PUSH_PULL_SCALE_THRESHOLD = 32
# net.go ProtocolVersion2Compatible; nacks need the peer to speak >= 4, TCP pings >= 3.
PROTOCOL_VERSION_MAX = 5


@dataclass
class Config:
    """memberlist.Config protocol parameters (durations in seconds); defaults are LAN's."""

    bind_port: int = 7946
    advertise_port: int = 7946
    protocol_version: int = 2  # ProtocolVersion2Compatible
    tcp_timeout: float = 10.0
    indirect_checks: int = 3
    retransmit_mult: int = 4
    suspicion_mult: int = 4
    suspicion_max_timeout_mult: int = 6
    push_pull_interval: float = 30.0
    probe_interval: float = 1.0
    probe_timeout: float = 0.5
    disable_tcp_pings: bool = False
    awareness_max_multiplier: int = 8
    gossip_nodes: int = 3
    gossip_interval: float = 0.2
    gossip_to_the_dead_time: float = 30.0
    enable_compression: bool = True  # sizes are modelled before compression (see messages.py)
    handoff_queue_depth: int = 1024
    udp_buffer_size: int = 1400
    queue_check_interval: float = 30.0
    dead_node_reclaim_time: float = 0.0
    label: str = ""  # packets carry a label header when set (label.go)
    encryption: bool = False  # a Keyring is set (networkdb sets one): AES-GCM overhead per packet
    # cnmsim
    lifeguard: bool = True
    name_len: int = 12  # length of Config.Name; networkdb's NodeID is 12 hex characters

    def label_overhead(self) -> int:
        """label.go `labelOverhead`: 2 bytes (type, length) + the label, or 0."""
        return 2 + len(self.label.encode()) if self.label else 0

    def packet_overhead(self) -> int:
        """Bytes every UDP packet carries besides its messages (label, encryption)."""
        return self.label_overhead() + (ENCRYPT_OVERHEAD if self.encryption else 0)


def lan() -> Config:
    """`DefaultLANConfig` (config.go l.302): what Docker's networkdb uses unchanged."""
    return Config()


def wan() -> Config:
    """`DefaultWANConfig` (config.go l.346)."""
    return Config(
        tcp_timeout=30.0,
        suspicion_mult=6,
        push_pull_interval=60.0,
        probe_timeout=3.0,
        probe_interval=5.0,
        gossip_nodes=4,
        gossip_interval=0.5,
        gossip_to_the_dead_time=60.0,
    )


def local() -> Config:
    """`DefaultLocalConfig` (config.go l.380): loopback / single-host clusters."""
    return Config(
        tcp_timeout=1.0,
        indirect_checks=1,
        retransmit_mult=2,
        suspicion_mult=3,
        push_pull_interval=15.0,
        probe_timeout=0.2,
        probe_interval=1.0,
        gossip_interval=0.1,
        gossip_to_the_dead_time=15.0,
    )


PRESETS = {"lan": lan, "wan": wan, "local": local}
