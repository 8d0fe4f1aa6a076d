"""Encrypted overlay networks (`--opt encrypted`): libnetwork's drivers/overlay/encryption.go.

Every node with a task on an encrypted network programs, in its root namespace:

- iptables, once per VNI (`programOverlayEncryptionFirewall`, when the network's namespace is
  made): mangle OUTPUT marks the network's VXLAN datagrams 0xD0C4E3, picked by
  `-p udp --dport 4789 -m bpf --bytecode ...` (the classic BPF program of bpf.go `matchVXLAN`);
  filter INPUT gets `-m policy --dir in --pol none <same match> -j DROP` inserted first, so
  cleartext VXLAN for that VNI is dropped;
- per remote node (VTEP) with tasks on an encrypted network, reference-counted over networks
  (`setupEncryption`/`removeEncryption`): for every key an inbound SA (remote → local), and
  for the primary key also the outbound SA and the outbound policy (UDP to the data path port
  from this node to that one, mark 0xD0C4E3): ESP transport mode, AEAD rfc4106(gcm(aes)) with
  a 64-bit ICV, key = swarm key ‖ SPI (the salt), reqid 0xD0C4E3, and
  SPI = FNV-1a-32(src ‖ key tag ‖ dst) with the addresses in their 16-byte form (netip As16).

On a key rotation (encryption_keys.py) each node's driver runs `updateKeys`: inbound SA for
the new key, outbound SA and policy moved to the new primary, the pruned key's SAs removed
(`updateNodeKey`: "-rSA0, +rSA3, +fSA2, +fSP2/-fSP1, -fSA1").  The overlay driver calls
`on_local` and `on_peer`; the MTU (1424) is the driver's (`max_mtu` here).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from ipaddress import IPv4Address
from typing import Any

from cnmsim.engine.iptables import Iptables
from cnmsim.kernel import api
from cnmsim.kernel.api import KernelError
from cnmsim.swarm import encryption_keys as keys_mod
from cnmsim.swarm.model import VXLAN_PORT
from cnmsim.trace.explain import register

MARK = 0xD0C4E3  # mark, reqid, and the label of Docker's SAs and policies
PKT_EXPANSION = 26  # SPI(4) + SeqN(4) + IV(8) + PadLength(1) + NextHeader(1) + ICV(8)
VXLAN_ENCAP = 50
AEAD = "rfc4106(gcm(aes))"
STAGE = "overlay:encryption"

Key = tuple[int, bytes]  # (Lamport tag, 16-byte key)


# ---------------------------------------------------------------- pure helpers
def fnv1a32(data: bytes) -> int:
    h = 0x811C9DC5
    for b in data:
        h = ((h ^ b) * 0x01000193) & 0xFFFFFFFF
    return h


def build_spi(src: str, dst: str, tag: int) -> int:
    """buildSPI: FNV-1a-32 of src As16 ‖ tag (uint32, big-endian) ‖ dst As16."""
    def as16(ip: str) -> bytes:
        return b"\x00" * 10 + b"\xff\xff" + IPv4Address(ip).packed
    return fnv1a32(as16(src) + (tag & 0xFFFFFFFF).to_bytes(4, "big") + as16(dst))


def vni_match_bpf(vni: int) -> list[tuple[int, int, int, int]]:
    """bpf.go vniMatchBPF: ldx 4*([0]&0xf); ld [x+12]; and #0xffffff00; jeq vni<<8 → match."""
    return [(0xB1, 0, 0, 0), (0x40, 0, 0, 12), (0x54, 0, 0, 0xFFFFFF00),
            (0x15, 1, 0, (vni << 8) & 0xFFFFFFFF), (0x06, 0, 0, 0), (0x06, 0, 0, 0xFFFFFFFF)]


def marshal_xtbpf(prog: list[tuple[int, int, int, int]]) -> str:
    return f"{len(prog)}," + ",".join(f"{c} {jt} {jf} {k}" for c, jt, jf, k in prog)


def match_vxlan(port: int, vni: int) -> str:
    """The rule fragment of `matchVXLAN`, as iptables-save prints it."""
    return f'-m udp --dport {port} -m bpf --bytecode "{marshal_xtbpf(vni_match_bpf(vni))}"'


def max_mtu(mtu: int = 0, secure: bool = True) -> int:
    """network.maxMTU: (mtu or 1500) - 50, and for encryption - 26 rounded down to 4."""
    m = (mtu or 1500) - VXLAN_ENCAP
    if secure:
        m -= PKT_EXPANSION
        m -= m % 4
    return m


def aead_key(key: bytes, spi: int) -> bytes:
    """buildAeadAlgo: the key followed by the SPI as the 4-byte salt."""
    return key + spi.to_bytes(4, "big")


# ---------------------------------------------------------------- one node's driver state
@dataclass
class NodeCrypto:
    """The overlay driver's encryption state on one node (`d.keys`, `d.secMap`)."""

    host: Any
    lip: str  # bind address (SA addresses)
    aip: str  # advertise address (SPI input)
    port: int = VXLAN_PORT
    keys: list[Key] = field(default_factory=list)  # primary first
    secmap: dict[str, tuple[list[tuple[int, int]], int]] = field(default_factory=dict)  # rIP -> (spis, count)
    vnis: set[int] = field(default_factory=set)

    @property
    def ns(self) -> api.Netns:
        return self.host.kernel.root

    def emit(self, verdict: str, reason: str) -> None:
        bus = self.host.lab.bus
        if bus.on:
            bus.emit(self.host.name, "", "", STAGE, verdict, reason)

    # -------------------------------------------------------- firewall
    def firewall(self, vni: int, add: bool) -> None:
        ipt = Iptables(self.ns)
        m = match_vxlan(self.port, vni)
        mangle = f"-p udp {m} -j MARK --set-xmark 0x{MARK:x}/0xffffffff"
        drop = f"-p udp -m policy --dir in --pol none {m} -j DROP"
        if add:
            ipt.append("mangle", "OUTPUT", mangle)
            ipt.insert("filter", "INPUT", drop)
            self.vnis.add(vni)
        else:
            ipt.delete("mangle", "OUTPUT", mangle)
            ipt.delete("filter", "INPUT", drop)
            self.vnis.discard(vni)
        if add:
            self.emit("firewall", f"VNI {vni}: mangle OUTPUT marks its VXLAN datagrams 0x{MARK:x}, "
                      "filter INPUT drops them unless IPsec decrypted them")
        else:
            self.emit("del", f"VNI {vni}: the encryption firewall rules are removed")

    # -------------------------------------------------------- SAs and policies
    def spis(self, rip: str, tag: int) -> tuple[int, int]:
        return build_spi(self.aip, rip, tag), build_spi(rip, self.aip, tag)

    def _sa(self, src: str, dst: str, spi: int, key: bytes) -> api.XfrmState:
        return api.XfrmState(src=src, dst=dst, spi=spi, reqid=MARK, aead=AEAD, key=aead_key(key, spi))

    def _policy(self, rip: str, spi: int) -> api.XfrmPolicy:
        return api.XfrmPolicy(src=f"{self.lip}/32", dst=f"{rip}/32", dir="out", proto=17, dport=self.port,
                              mark=MARK, mask=0xFFFFFFFF,
                              tmpls=(api.XfrmTmpl(self.lip, rip, "esp", spi, MARK, "transport"),))

    def program_sa(self, rip: str, spi: tuple[int, int], key: bytes | None, fwd: bool, rev: bool,
                   add: bool) -> None:
        """programSA: add (if missing) or delete (if there) the reverse and/or forward SA."""
        for on, src, dst, s in ((rev, rip, self.lip, spi[1]), (fwd, self.lip, rip, spi[0])):
            if not on:
                continue
            sa = self._sa(src, dst, s, key or b"")
            try:
                if add:
                    self.ns.xfrm_state_add(sa)
                else:
                    self.ns.xfrm_state_del(sa)
            except KernelError:
                pass  # saExists said so: nothing to do

    def program_sp(self, rip: str, spi: int, add: bool, update: bool = False) -> None:
        try:
            if add:
                self.ns.xfrm_policy_add(self._policy(rip, spi), update=update)
            else:
                self.ns.xfrm_policy_del(self._policy(rip, spi))
        except KernelError:
            pass

    def setup(self, rip: str) -> None:
        """setupEncryption: SAs for every key (the primary both ways, with the policy)."""
        count = self.secmap.get(rip, ([], 0))[1]
        spis = []
        for i, (tag, key) in enumerate(self.keys):
            s = self.spis(rip, tag)
            self.program_sa(rip, s, key, fwd=i == 0, rev=True, add=True)
            if i == 0:
                self.program_sp(rip, s[0], True)
            spis.append(s)
        self.secmap[rip] = (spis, count + 1)
        if count == 0 and spis:
            self.emit("add", f"IPsec with {rip}: outbound SA spi 0x{spis[0][0]:08x} (key tag {self.keys[0][0]}) "
                      f"and policy, inbound SAs spi " + ", ".join(f"0x{r:08x}" for _, r in spis))

    def remove(self, rip: str) -> None:
        """removeEncryption: drop a reference; the last one removes the SAs and the policy."""
        spis, count = self.secmap.get(rip, ([], 0))
        if count > 1:
            self.secmap[rip] = (spis, count - 1)
            return
        self.secmap.pop(rip, None)
        for i, s in enumerate(spis):
            self.program_sa(rip, s, None, fwd=i == 0, rev=True, add=False)
            if i == 0:
                self.program_sp(rip, s[0], False)
        if spis:
            self.emit("del", f"IPsec with {rip} removed (no task of an encrypted network is left there)")

    # -------------------------------------------------------- key updates
    def update_keys(self, new: Key | None, primary: Key | None, prune: Key | None) -> None:
        """updateKeys: add a key, switch the primary, prune a key, on every peer."""
        tags = [t for t, _ in self.keys]
        if new is not None and new[0] not in tags:
            self.keys.append(new)
            tags.append(new[0])
        new_i = tags.index(new[0]) if new is not None else -1
        pri_i = tags.index(primary[0]) if primary is not None and primary[0] in tags else -1
        del_i = tags.index(prune[0]) if prune is not None and prune[0] in tags else -1
        if pri_i != -1 and pri_i == del_i:
            return  # "attempting to both make a key primary and delete it"
        for rip, (spis, count) in list(self.secmap.items()):
            self.secmap[rip] = (self._update_node(rip, spis, new_i, pri_i, del_i), count)
        if pri_i > 0:
            self.keys[0], self.keys[pri_i] = self.keys[pri_i], self.keys[0]
        if del_i != -1:
            self.keys.pop(pri_i if del_i == 0 else del_i)

    def _update_node(self, rip: str, spis: list[tuple[int, int]], new_i: int, pri_i: int,
                     del_i: int) -> list[tuple[int, int]]:
        """updateNodeKey: -rSA0, +rSA3, +fSA2, +fSP2/-fSP1, -fSA1."""
        spis = list(spis)
        if new_i != -1 and new_i >= len(spis):
            spis.append(self.spis(rip, self.keys[new_i][0]))
        if del_i != -1:
            self.program_sa(rip, spis[del_i], None, fwd=False, rev=True, add=False)
        if new_i > -1:
            self.program_sa(rip, spis[new_i], self.keys[new_i][1], fwd=False, rev=True, add=True)
        if pri_i > 0:
            self.program_sa(rip, spis[pri_i], self.keys[pri_i][1], fwd=True, rev=False, add=True)
            self.program_sp(rip, spis[pri_i][0], True, update=True)
            self.program_sa(rip, spis[0], None, fwd=True, rev=False, add=False)
            spis[0], spis[pri_i] = spis[pri_i], spis[0]
        if del_i != -1:
            spis.pop(pri_i if del_i == 0 else del_i)
        return spis


# ---------------------------------------------------------------- the hooks and the registry
def _state(lab: Any) -> dict[str, NodeCrypto]:
    return lab.swarm.extra.setdefault("ipsec_nodes", {})


def node_crypto(host: Any) -> NodeCrypto | None:
    """The host's encryption state, created (with the swarm's current keys) on first use."""
    lab = getattr(host, "lab", None)
    sw = getattr(lab, "swarm", None)
    if sw is None:
        return None
    nodes = _state(lab)
    nc = nodes.get(host.name)
    if nc is None:
        node = sw.node_by_host(host.name)
        addr = (str(node.addr).split(":")[0] if node is not None and node.addr else None) or host.address
        ks = keys_mod.service(lab)
        nc = nodes[host.name] = NodeCrypto(host, addr, addr, int(sw.data_path_port or VXLAN_PORT),
                                           keys=ks.keys())
        if _on_keys not in ks.listeners:
            ks.listeners.append(_on_keys)
        ks.start()
    return nc


def on_local(host: Any, network: Any, joined: bool) -> None:
    """The node's namespace for `network` was made (joined) or is going: the firewall of its VNI
    (a plain network taking a VNI an encrypted one had also clears the stale rules)."""
    vni = int(network.vni)
    if joined and network.encrypted:
        nc = node_crypto(host)
        if nc is not None:
            nc.firewall(vni, True)
        return
    sw = getattr(getattr(host, "lab", None), "swarm", None)
    nc = _state(host.lab).get(host.name) if sw is not None else None
    if nc is not None and vni in nc.vnis:
        nc.firewall(vni, False)


def on_peer(host: Any, network: Any, remote_vtep: str, added: bool) -> None:
    """The first (added) or last peer of an encrypted network behind `remote_vtep` on this node."""
    if not network.encrypted:
        return
    nc = node_crypto(host)
    if nc is None or remote_vtep in (nc.lip, nc.aip):
        return
    if added:
        nc.setup(remote_vtep)
    else:
        nc.remove(remote_vtep)


def _on_keys(lab: Any, host: str, keys: list[Key], rot: keys_mod.Rotation) -> None:
    """A node's agent got the rotated keyring: handleKeyChange → driver updateKeys."""
    nc = _state(lab).get(host)
    if nc is None:
        return
    have, want = {t for t, _ in nc.keys}, {t for t, _ in keys}
    new = next((k for k in keys if k[0] not in have), None)
    prune = next((k for k in nc.keys if k[0] not in want), None)
    primary = next(k for k in keys if k[0] == keys_mod.primary_tag(keys))
    nc.update_keys(new, primary, prune)
    delay = rot.delay(host) or 0.0
    nc.emit("rekey", f"networking:ipsec keys from the leader after {delay * 1000:.1f} ms: new key tag "
            f"{rot.new} (inbound SAs), primary {primary[0]} (outbound SA and policy), pruned "
            f"{rot.pruned}; {len(nc.secmap)} peer(s) reprogrammed")


register(STAGE, "firewall", "Docker on {place} programs the encrypted overlay's firewall: {reason}.")
register(STAGE, "add", "Docker on {place} sets up IPsec with a node that runs tasks of an encrypted network: {reason}.")
register(STAGE, "del", "Docker on {place} tears IPsec state down: {reason}.")
register(STAGE, "rekey", "Docker on {place} reprograms IPsec for the rotated swarm keys: {reason}.")
register("swarm:keys", "rotate", "{place}: {reason}.")
