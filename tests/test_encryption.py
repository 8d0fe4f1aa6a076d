"""Encrypted overlays (facts/engine.md §4 "Encrypted overlays"): the simulated kernel's IPsec
(XFRM states and policies, ESP transport mode with real AES-GCM), `ip xfrm`, the xt_bpf and
xt_policy matches, and Docker's programming of them (libnetwork drivers/overlay/encryption.go):
SPIs from FNV-1a, the firewall per VNI, SAs per peer, key rotation every 12 hours.

Most tests use the hand-built overlay of test_vxlan (a namespace with br0 + vxlan0 per host, a
container namespace `c`) with a hand-made SwarmState, and call the encryption hooks the overlay
driver calls; the last one runs the whole stack (engine, overlay driver, gossip).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from scapy.layers.inet import ICMP, IP, UDP
from scapy.layers.ipsec import ESP, CryptAlgo, SecurityAssociation
from scapy.layers.l2 import Ether
from scapy.layers.vxlan import VXLAN
from scapy.utils import rdpcap

from cnmsim.kernel import api
from cnmsim.kernel.real.xfrm import parse_policies, parse_states
from cnmsim.kernel.sim.nf import cbpf
from cnmsim.kernel.sim.xfrm_esp import overhead
from cnmsim.lab import Lab
from cnmsim.swarm import encryption as enc
from cnmsim.swarm import encryption_keys as keys_mod
from cnmsim.swarm.model import KEY_ROTATION, Node, SwarmNetwork, SwarmState
from tests.test_vxlan import overlay

A, B = "192.168.0.2", "192.168.0.3"
BYTECODE_4097 = "6,177 0 0 0,64 0 0 12,84 0 0 4294967040,21 1 0 1048832,6 0 0 0,6 0 0 4294967295"


def fnv1a(data: bytes) -> int:
    """An independent FNV-1a 32 (offset basis 2166136261, prime 16777619)."""
    h = 2166136261
    for byte in data:
        h ^= byte
        h = (h * 16777619) % 2**32
    return h


def encrypted_lab(seed: int = 1, mtu: int = 1424) -> tuple[Lab, list, SwarmNetwork]:
    """Two hosts, the overlay of test_vxlan with VNI 4097 at the encrypted MTU, a hand-made
    swarm, and the encryption hooks called as the overlay driver calls them."""
    lab = Lab(seed=seed)
    hosts = overlay(lab, vni=4097)
    for h in hosts:
        for ns, dev in (("ov", "vxlan0"), ("ov", "veth0"), ("c", "eth0")):
            h.ns(ns).link_set(dev, mtu=mtu)
    sw = lab.swarm = SwarmState(id="swarm0", created=0.0)  # type: ignore[attr-defined]
    for i, h in enumerate(hosts):
        sw.nodes[h.name] = Node(h.name, h.name, h.address, role="manager" if i == 0 else "worker", leader=i == 0)
    net = SwarmNetwork("n" * 25, "secure", vni=4097, encrypted=True)
    sw.networks[net.id] = net
    for h, peer in ((hosts[0], B), (hosts[1], A)):
        enc.on_local(h, net, True)
        enc.on_peer(h, net, peer, True)
    return lab, hosts, net


def primary(lab: Lab) -> int:
    return keys_mod.primary_tag(lab.swarm.keys)  # type: ignore[attr-defined]


# ---------------------------------------------------------------- pure functions
def test_fnv1a_and_spi() -> None:
    for text, want in ((b"", 0x811C9DC5), (b"a", 0xE40C292C), (b"foobar", 0xBF9CF968)):
        assert fnv1a(text) == want and enc.fnv1a32(text) == want
    mapped = {ip: bytes(10) + b"\xff\xff" + bytes(int(x) for x in ip.split(".")) for ip in (A, B)}
    for tag in (1, 5, 0xDEADBEEF):
        assert enc.build_spi(A, B, tag) == fnv1a(mapped[A] + tag.to_bytes(4, "big") + mapped[B])
    assert enc.build_spi(A, B, 5) != enc.build_spi(B, A, 5) != enc.build_spi(A, B, 6)
    assert enc.build_spi("10.1.11.45", "10.1.11.29", 4) == fnv1a(
        bytes(10) + b"\xff\xff" + bytes((10, 1, 11, 45)) + bytes((0, 0, 0, 4)) + bytes(10) + b"\xff\xff" + bytes((10, 1, 11, 29)))
    assert enc.aead_key(bytes(16), 0x8D2C2C5E)[-4:] == bytes.fromhex("8d2c2c5e")
    assert enc.max_mtu() == 1424 and enc.max_mtu(secure=False) == 1450 and enc.max_mtu(9000) == 8924
    assert overhead(1454) == 26 and overhead(1453) == 27  # 8 + 8 + pad + 2 + 8


def test_vni_bpf_program_runs_on_vxlan_packets() -> None:
    assert enc.marshal_xtbpf(enc.vni_match_bpf(4097)) == BYTECODE_4097
    prog = enc.vni_match_bpf(4097)
    for vni, want in ((4097, 0xFFFFFFFF), (4098, 0), (1, 0)):
        pkt = IP(src=A, dst=B) / UDP(sport=40000, dport=4789) / VXLAN(vni=vni) / Ether() / IP()
        assert cbpf.run(prog, bytes(pkt), pkt) == want
    # libnetwork's first program used the payload-offset extension: ld poff; tax; ld [x+4]; rsh #8
    old = [(32, 0, 0, 0xFFFFF000 + 52), (7, 0, 0, 0), (64, 0, 0, 4), (116, 0, 0, 8), (21, 1, 0, 4097),
           (6, 0, 0, 0), (6, 0, 0, 0xFFFFFFFF)]
    pkt = IP(src=A, dst=B) / UDP(dport=4789) / VXLAN(vni=4097) / Ether() / IP()
    assert cbpf.run(old, bytes(pkt), pkt) == 0xFFFFFFFF
    assert cbpf.run(prog, bytes(pkt)[:30], pkt) == 0  # a load past the end returns 0


def test_bpf_match_text() -> None:
    lab = Lab()
    lab.add_host("h", address="192.168.0.2/24", docker=False)
    r = lab.run("h", f'iptables -A INPUT -p udp --dport 4789 -m bpf --bytecode "{BYTECODE_4097}" -j DROP')
    assert r.exit_code == 0, r.stderr
    assert lab.run("h", "iptables -S INPUT").stdout.splitlines()[1] == (
        f'-A INPUT -p udp -m udp --dport 4789 -m bpf --bytecode "{BYTECODE_4097}" -j DROP')
    listing = lab.run("h", "iptables -L INPUT -n").stdout
    # as iptables 1.8.9 prints it: no space before "match bpf", a NUL after the program
    assert "udp dpt:4789match bpf 177 0 0 0,64 0 0 12,84 0 0 4294967040,21 1 0 1048832,6 0 0 0,6 0 0 4294967295\0\n" in listing
    for bad, msg in (("x", "bpf: error parsing program length"), ("0,", "bpf: illegal zero length program"),
                     ("2,6 0 0 0", "bpf: parsed program length is less than the encoded length parameter"),
                     ("1,6 0 0 0,6 0 0 1", "bpf: real program length exceeds the encoded length parameter"),
                     ("1,6 0 x", "bpf: error at instr 0")):
        r = lab.run("h", f'iptables -A INPUT -m bpf --bytecode "{bad}" -j DROP')
        assert r.exit_code == 2 and msg in r.stderr, (bad, r.stderr)


# ---------------------------------------------------------------- the data path
def test_ping_over_esp_and_tcpdump_shows_esp() -> None:
    lab, hosts, _ = encrypted_lab()
    lab.run("host-A", "ip netns exec c ping -c 50 -i 0.2 10.0.0.3 &")
    lab.wait(0.5)
    r = lab.run("host-A", "tcpdump -i eth0 -n -c 4")
    lines = r.stdout.splitlines()
    assert len(lines) == 4 and not any("VXLAN" in x or ".4789" in x for x in lines), lines
    fwd, rev = enc.build_spi(A, B, primary(lab)), enc.build_spi(B, A, primary(lab))
    for x in lines:
        m = re.fullmatch(r"\S+ IP (\S+) > (\S+): ESP\(spi=0x([0-9a-f]{8}),seq=0x([0-9a-f]+)\), length 140", x)
        assert m, x
        assert int(m[3], 16) == (fwd if m[1] == A else rev)
    w = lab.wait(1)
    out = w.trace.filter("xfrm:out", "encrypt", host="host-A")
    assert out and f"spi 0x{fwd:08x}" in out[0].reason and "134 -> 160 bytes" in out[0].reason
    assert w.trace.filter("xfrm:in", "decrypt", host="host-B")
    assert w.trace.filter("vxlan:decap", "decap", host="host-B"), "the decrypted VXLAN reaches the tunnel"


def test_full_size_packet_is_1500_bytes_of_esp() -> None:
    lab, hosts, _ = encrypted_lab()
    r = lab.run("host-A", "ip netns exec c ping -c 1 -M do -s 1396 10.0.0.3")
    assert r.exit_code == 0, r.stdout
    enc_ev = r.trace.filter("xfrm:out", "encrypt", host="host-A")[0]
    assert "1474 -> 1500 bytes" in enc_ev.reason  # 1424 + 50 of VXLAN + 26 of ESP
    assert not r.trace.filter("ip:fragment")
    big = lab.run("host-A", "ip netns exec c ping -c 1 -M do -s 1397 10.0.0.3")
    assert big.exit_code != 0 and "message too long, mtu=1424" in big.stderr


def test_capture_decrypts_with_the_key(tmp_path: Path) -> None:
    lab, hosts, _ = encrypted_lab()
    path = tmp_path / "esp.pcap"
    tap = lab.capture(str(path), "host-A:eth0")
    r = lab.run("host-A", "ip netns exec c ping -c 2 10.0.0.3")
    tap.close()
    assert r.exit_code == 0
    st = next(s for s in parse_states(lab.run("host-A", "ip xfrm state").stdout) if s.src == A)
    assert st == next(s for s in hosts[0].root.xfrm_state_list() if s.src == A)
    # scapy's AES-GCM takes 16-byte ICVs only; the same algorithm with Docker's 64-bit ICV:
    gcm64 = CryptAlgo("AES-GCM", cipher=__import__("cryptography.hazmat.primitives.ciphers.algorithms",
                                                     fromlist=["AES"]).AES,
                      mode=__import__("cryptography.hazmat.primitives.ciphers.modes", fromlist=["GCM"]).GCM,
                      block_size=1, iv_size=8, icv_size=8, salt_size=4,
                      format_mode_iv=lambda sa, iv, **kw: sa.crypt_salt + iv)
    sa = SecurityAssociation(ESP, spi=st.spi, crypt_algo="AES-GCM", crypt_key=st.key)
    sa.crypt_algo = gcm64
    esp = [p for p in rdpcap(str(path)) if IP in p and p[IP].proto == 50 and p[IP].src == A]
    assert len(esp) == 2 and [p[ESP].seq for p in esp] == [1, 2]
    inner = sa.decrypt(esp[0][IP])
    assert inner[UDP].dport == 4789 and inner[VXLAN].vni == 4097
    assert inner[VXLAN][IP].dst == "10.0.0.3" and inner[ICMP].type == 8
    clear = bytes(inner[VXLAN].payload)[:34]  # the inner Ethernet and IP headers
    assert clear in bytes(inner) and clear not in bytes(esp[0]), "only the key reveals them"
    wrong = SecurityAssociation(ESP, spi=st.spi, crypt_algo="AES-GCM", crypt_key=bytes(20))
    wrong.crypt_algo = gcm64
    with pytest.raises(Exception):  # noqa: B017 - scapy's IPSecIntegrityError
        wrong.decrypt(esp[0][IP])


def test_cleartext_vxlan_for_the_vni_is_dropped() -> None:
    lab, hosts, _ = encrypted_lab()
    assert lab.run("host-A", "ip netns exec c ping -c 1 10.0.0.3").exit_code == 0
    # host-A loses its policy: its VXLAN leaves in cleartext, as an injected datagram would arrive
    assert lab.run("host-A", "ip xfrm policy flush").exit_code == 0
    r = lab.run("host-A", "ip netns exec c ping -c 1 -W 1 10.0.0.3")
    assert r.exit_code != 0
    drop = r.trace.filter("nf:filter:INPUT", "drop", host="host-B")
    assert drop and "-m policy --dir in --pol none -m udp --dport 4789 -m bpf" in drop[0].reason
    assert not r.trace.filter("vxlan:decap", "decap", host="host-B")
    counters = lab.run("host-B", "iptables -L INPUT -v -n -x").stdout.splitlines()[2].split()
    assert counters[0] == "1" and counters[2] == "DROP"


def test_unknown_spi_is_dropped() -> None:
    lab, hosts, _ = encrypted_lab()
    spi = enc.build_spi(A, B, primary(lab))
    assert lab.run("host-B", f"ip xfrm state delete src {A} dst {B} proto esp spi 0x{spi:08x}").exit_code == 0
    r = lab.run("host-A", "ip netns exec c ping -c 1 -W 1 10.0.0.3")
    assert r.exit_code != 0
    d = r.trace.filter("xfrm:in", "drop", host="host-B")
    assert d and f"spi 0x{spi:08x}" in d[0].reason and "XfrmInNoStates" in d[0].reason


def test_no_sa_for_the_policy_drops_on_output() -> None:
    lab, hosts, _ = encrypted_lab()
    spi = enc.build_spi(A, B, primary(lab))
    lab.run("host-A", f"ip xfrm state delete src {A} dst {B} proto esp spi 0x{spi:08x}")
    r = lab.run("host-A", "ip netns exec c ping -c 1 -W 1 10.0.0.3")
    d = r.trace.filter("xfrm:out", "drop", host="host-A")
    assert r.exit_code != 0 and d and "XfrmOutNoStates" in d[0].reason


def test_policy_match_sees_ipsec_both_ways() -> None:
    lab, hosts, _ = encrypted_lab()
    for host, rule in (("host-A", "-A POSTROUTING -p udp -m policy --dir out --pol ipsec"),
                       ("host-A", "-A POSTROUTING -p esp -m policy --dir out --pol none"),
                       ("host-B", "-A INPUT -p udp -m policy --dir in --pol ipsec"),
                       ("host-B", "-A INPUT -p esp -m policy --dir in --pol none")):
        assert lab.run(host, f"iptables -t mangle {rule}").exit_code == 0
    assert lab.run("host-A", "ip netns exec c ping -c 3 10.0.0.3").exit_code == 0

    def counts(host: str, chain: str) -> list[int]:
        out = lab.run(host, f"iptables -t mangle -L {chain} -v -n -x").stdout.splitlines()[2:]
        return [int(line.split()[0]) for line in out]
    # the VXLAN datagram before the transform, then the ESP packet it became
    assert counts("host-A", "POSTROUTING") == [3, 3]
    # the ESP packet as it arrives, then the decrypted datagram carrying its secpath
    assert counts("host-B", "INPUT") == [3, 3]


# ---------------------------------------------------------------- what Docker programs
def test_ip_xfrm_state_and_policy_as_docker_programs_them() -> None:
    lab, hosts, _ = encrypted_lab()
    keys = sorted(lab.swarm.keys)  # type: ignore[attr-defined]
    assert [t for t, _ in keys] == [4, 5, 6] and all(len(k) == 16 for _, k in keys)
    pri = dict(keys)[5]
    fwd = enc.build_spi(A, B, 5)
    out = lab.run("host-A", "ip xfrm policy").stdout
    assert out == (f"src {A}/32 dst {B}/32 proto udp dport 4789 \n\tdir out priority 0 ptype main \n"
                   f"\tmark 0xd0c4e3/0xffffffff \n\ttmpl src {A} dst {B}\n"
                   f"\t\tproto esp spi 0x{fwd:08x} reqid 13681891 mode transport\n")
    states = lab.run("host-A", "ip xfrm state").stdout
    block = (f"src {A} dst {B}\n\tproto esp spi 0x{fwd:08x} reqid 13681891 mode transport\n"
             f"\treplay-window 0 \n\taead rfc4106(gcm(aes)) 0x{pri.hex()}{fwd:08x} 64\n"
             "\tanti-replay context: seq 0x0, oseq 0x0, bitmap 0x00000000\n\tsel src 0.0.0.0/0 dst 0.0.0.0/0 \n")
    assert block in states
    # one outbound SA (primary key), an inbound SA per key, newest first
    got = [(s.src, s.spi) for s in hosts[0].root.xfrm_state_list()]
    assert got == [(B, enc.build_spi(B, A, 6)), (B, enc.build_spi(B, A, 4)), (A, fwd), (B, enc.build_spi(B, A, 5))]
    assert parse_policies(out) == hosts[0].root.xfrm_policy_list()
    assert f"{hosts[1].root.xfrm_policy_list()[0].tmpls[0].spi:08x}" == f"{enc.build_spi(B, A, 5):08x}"
    mangle = lab.run("host-A", "iptables -t mangle -S OUTPUT").stdout
    assert (f'-A OUTPUT -p udp -m udp --dport 4789 -m bpf --bytecode "{BYTECODE_4097}" '
            "-j MARK --set-xmark 0xd0c4e3/0xffffffff") in mangle
    assert lab.run("host-A", "iptables -S INPUT").stdout.splitlines()[1] == (
        f'-A INPUT -p udp -m policy --dir in --pol none -m udp --dport 4789 -m bpf --bytecode "{BYTECODE_4097}" -j DROP')


def test_peers_are_reference_counted_and_removed() -> None:
    lab, hosts, net = encrypted_lab()
    other = SwarmNetwork("m" * 25, "secure2", vni=4098, encrypted=True)
    enc.on_local(hosts[0], other, True)
    enc.on_peer(hosts[0], other, B, True)
    assert len(hosts[0].root.xfrm_state_list()) == 4, "SAs are per node pair, not per network"
    enc.on_peer(hosts[0], net, B, False)
    assert len(hosts[0].root.xfrm_state_list()) == 4 and hosts[0].root.xfrm_policy_list()
    enc.on_peer(hosts[0], other, B, False)
    assert hosts[0].root.xfrm_state_list() == [] and hosts[0].root.xfrm_policy_list() == []
    enc.on_local(hosts[0], net, False)
    assert "bpf" in lab.run("host-A", "iptables -S INPUT").stdout  # VNI 4098's rule stays
    enc.on_local(hosts[0], other, False)
    assert "bpf" not in lab.run("host-A", "iptables-save").stdout
    plain = SwarmNetwork("p" * 25, "plain", vni=4099)
    enc.on_local(hosts[0], plain, True)
    enc.on_peer(hosts[0], plain, B, True)
    assert hosts[0].root.xfrm_state_list() == [] and "bpf" not in lab.run("host-A", "iptables-save").stdout


# ---------------------------------------------------------------- keys
def test_key_rotation_after_12_hours_reprograms_sas_and_traffic_flows() -> None:
    lab, hosts, _ = encrypted_lab()
    old_fwd = enc.build_spi(A, B, 5)
    lab.wait(KEY_ROTATION - 0.2)
    w = lab.run("host-A", "ip netns exec c ping -c 40 -i 0.01 10.0.0.3")  # across the rotation
    assert w.exit_code == 0 and "40 packets transmitted, 40 received" in w.stdout
    ks = keys_mod.service(lab)
    assert len(ks.rotations) == 1
    rot = ks.rotations[0]
    assert (rot.time, rot.new, rot.primary, rot.pruned) == (KEY_ROTATION, 8, 6, 4)
    assert sorted(t for t, _ in lab.swarm.keys) == [5, 6, 8]  # type: ignore[attr-defined]
    for h in ("host-A", "host-B"):
        d = rot.delay(h)
        assert d is not None and 0.05 < d < 0.07  # raft commit + dispatcher push + scheduling
    rekeys = w.trace.filter("overlay:encryption", "rekey")
    assert {e.host for e in rekeys} == {"host-A", "host-B"} and "primary 6" in rekeys[0].reason
    new_fwd = enc.build_spi(A, B, 6)
    pol = hosts[0].root.xfrm_policy_list()
    assert len(pol) == 1 and pol[0].tmpls[0].spi == new_fwd != old_fwd
    spis = {(s.src, s.spi) for s in hosts[0].root.xfrm_state_list()}
    assert spis == {(A, new_fwd)} | {(B, enc.build_spi(B, A, t)) for t in (5, 6, 8)}
    assert not w.trace.filter("xfrm:in", "drop") and not w.trace.filter("xfrm:out", "drop")
    r = lab.run("host-A", "ip netns exec c ping -c 2 10.0.0.3")
    assert r.exit_code == 0
    assert f"spi 0x{new_fwd:08x}" in r.trace.filter("xfrm:out", "encrypt", host="host-A")[0].reason
    lab.wait(KEY_ROTATION)
    assert [(x.new, x.primary, x.pruned) for x in ks.rotations] == [(8, 6, 4), (10, 8, 5)]
    assert lab.run("host-A", "ip netns exec c ping -c 1 10.0.0.3").exit_code == 0
    assert hosts[0].root.xfrm_policy_list()[0].tmpls[0].spi == enc.build_spi(A, B, 8)


def test_keys_are_made_from_the_lab_seed_and_missed_rotations_caught_up() -> None:
    def keyring(seed: int, wait: float) -> list[tuple[int, bytes]]:
        lab = Lab(seed=seed)
        lab.swarm = SwarmState(id="s", created=0.0)  # type: ignore[attr-defined]
        lab.wait(wait)
        keys_mod.service(lab).start()
        return list(lab.swarm.keys)  # type: ignore[attr-defined]
    first = keyring(7, 0.0)
    assert [t for t, _ in first] == [5, 4, 6]  # libnetwork getKeys order: the primary first
    assert first == keyring(7, 0.0) != keyring(8, 0.0)
    later = keyring(7, KEY_ROTATION + 5)
    assert [t for t, _ in later] == [6, 5, 8] and dict(later)[5] == dict(first)[5]


def test_whole_stack_docker_cli() -> None:
    """swarm init/join, an encrypted attachable overlay, a container per host: the overlay
    driver calls the hooks, so the engine's traffic crosses as ESP."""
    lab = Lab(seed=3)
    lab.add_host("host-A", address=f"{A}/24")
    lab.add_host("host-B", address=f"{B}/24")
    assert lab.run("host-A", f"docker swarm init --advertise-addr {A}").exit_code == 0
    token = lab.run("host-A", "docker swarm join-token -q worker").stdout.strip()
    assert lab.run("host-B", f"docker swarm join --token {token} {A}:2377").exit_code == 0
    r = lab.run("host-A", "docker network create -d overlay --opt encrypted --attachable secure")
    assert r.exit_code == 0, r.stderr
    for host, name in (("host-A", "c1"), ("host-B", "c2")):
        r = lab.run(host, f"docker run -d --name {name} --network secure busybox sleep 100000")
        assert r.exit_code == 0, r.stderr
    lab.wait(5)
    assert "mtu 1424" in lab.run("c1", "ip link show eth0").stdout
    ip = lab.run("c2", "ip -4 -o addr show eth0").stdout.split()[3].split("/")[0]
    r = lab.run("c1", f"ping -c 2 {ip}")
    assert r.exit_code == 0, r.stdout
    assert r.trace.filter("xfrm:out", "encrypt", host="host-A") and r.trace.filter("xfrm:in", "decrypt", host="host-B")
    assert "mark 0xd0c4e3/0xffffffff" in lab.run("host-B", "ip xfrm policy").stdout
    rot = keys_mod.service(lab).rotate()  # the leader's next rotation, without 12 h of gossip
    assert rot is not None
    lab.wait(1)
    assert set(rot.delivered) == {"host-A", "host-B"}
    r = lab.run("c1", f"ping -c 1 {ip}")
    assert r.exit_code == 0
    spi = enc.build_spi(A, B, rot.primary)
    assert f"spi 0x{spi:08x}" in r.trace.filter("xfrm:out", "encrypt", host="host-A")[0].reason


def test_xfrm_verbs_errors_and_ip_xfrm_add() -> None:
    lab = Lab()
    lab.add_host("h", address="192.168.0.2/24", docker=False)
    key = "0x" + "00" * 16 + "00001234"
    add = f"ip xfrm state add src {A} dst {B} proto esp spi 0x1234 reqid 7 mode transport aead rfc4106(gcm(aes)) {key} 64"
    assert lab.run("h", add).exit_code == 0
    r = lab.run("h", add)
    assert r.exit_code == 2 and r.stderr == "RTNETLINK answers: File exists\n"
    pol = (f"ip xfrm policy add src {A}/32 dst {B}/32 proto udp dport 4789 dir out mark 0xd0c4e3 mask 0xffffffff "
           f"tmpl src {A} dst {B} proto esp spi 0x1234 reqid 7 mode transport")
    assert lab.run("h", pol).exit_code == 0
    p = lab["h"].root.xfrm_policy_list()[0]
    assert (p.proto, p.dport, p.mark, p.tmpls[0].spi, p.index) == (17, 4789, 0xD0C4E3, 0x1234, 1)
    assert lab.run("h", "ip xfrm state delete src 192.168.0.2 dst 192.168.0.3 proto esp spi 0x1234").exit_code == 0
    r = lab.run("h", "ip xfrm state delete src 192.168.0.2 dst 192.168.0.3 proto esp spi 0x1234")
    assert r.exit_code == 2 and "No such process" in r.stderr
    assert lab.run("h", "ip xfrm policy flush").exit_code == 0 and lab["h"].root.xfrm_policy_list() == []
    try:
        lab["h"].root.xfrm_state_add(api.XfrmState(A, B, 1, aead="rfc4106(gcm(aes))", key=b"short"))
    except api.KernelError as e:
        assert "Invalid argument" in str(e)
    else:
        raise AssertionError("a 5-byte key is refused")


@pytest.mark.real
def test_xfrm_verbs_on_the_real_kernel() -> None:
    """The same policy and SA through the real backend (`ip xfrm` in the namespace): the kernel's
    own listing is the sim's text.  A kernel without rfc4106(gcm(aes)) refuses the SA with its
    message ("Requested AEAD algorithm not found"), which comes back as a KernelError."""
    import os
    import shutil

    if os.geteuid() != 0 or shutil.which("ip") is None:
        pytest.skip("needs root and iproute2")
    key = bytes(range(16)) + (0x1234).to_bytes(4, "big")
    pol = api.XfrmPolicy(f"{A}/32", f"{B}/32", proto=17, dport=4789, mark=enc.MARK,
                         tmpls=(api.XfrmTmpl(A, B, "esp", 0x1234, enc.MARK),))
    sa = api.XfrmState(A, B, 0x1234, reqid=enc.MARK, key=key)
    sim = Lab()
    sim.add_host("h", address=f"{A}/24", docker=False)
    real = Lab(backend="real")
    try:
        real.add_host("h", address=f"{A}/24", docker=False)
        for lab in (sim, real):
            lab["h"].root.xfrm_policy_add(pol)
        assert real["h"].root.xfrm_policy_list() == sim["h"].root.xfrm_policy_list() == [pol]
        text = real["h"].root.run(["ip", "xfrm", "policy"]).stdout
        assert text == sim.run("h", "ip xfrm policy").stdout
        sim["h"].root.xfrm_state_add(sa)
        try:
            real["h"].root.xfrm_state_add(sa)
        except api.KernelError as e:
            assert "AEAD" in str(e) or "not supported" in str(e), str(e)
        else:
            assert real["h"].root.xfrm_state_list() == [sa]
            assert real["h"].root.run(["ip", "xfrm", "state"]).stdout == sim.run("h", "ip xfrm state").stdout
        real["h"].root.xfrm_policy_del(pol)
        assert real["h"].root.xfrm_policy_list() == []
    finally:
        real.close()
