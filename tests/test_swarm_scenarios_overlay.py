"""The overlay scenarios (docs/overlay.md) play through with every expectation met, and their
traces show what the descriptions say: VXLAN between the hosts, ESP instead of VXLAN when
encrypted, the underlay's MTU drop, the missing peer when gossip is blocked, and the iptables
drop when VXLAN is blocked.

Each scenario builds a two-node swarm with the Docker CLI (`docker swarm init/join`, an
attachable overlay, `docker run --network`); the join token and the network id in the files
are the ones seed 0 produces.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from cnmsim.scenario import Outcome, Scenario

SCENARIOS = Path(__file__).parent.parent / "scenarios"
NAMES = ["swarm-overlay", "swarm-encrypted-overlay", "pitfall-overlay-mtu", "pitfall-blocked-gossip",
         "pitfall-blocked-vxlan"]


def play(name: str) -> list[Outcome]:
    sc = Scenario.load(SCENARIOS / f"{name}.yaml")
    return list(sc.play(sc.build()))


def step(outcomes: list[Outcome], text: str, nth: int = 0) -> Outcome:
    """The nth outcome whose step text starts with `text`."""
    found = [o for o in outcomes if o.step.text.startswith(text)]
    assert len(found) > nth, f"no step {text!r}"
    return found[nth]


@pytest.mark.parametrize("name", NAMES)
def test_scenario_meets_its_expectations(name: str) -> None:
    sc = Scenario.load(SCENARIOS / f"{name}.yaml")
    assert sc.description and "facts" in sc.description, "the description cites the facts"
    assert any(s.expect for s in sc.steps)
    failed = [(o.step.text, o.failures) for o in sc.play(sc.build()) if o.failures]
    assert not failed, failed


def test_swarm_overlay_peer_arrives_by_gossip_then_vxlan() -> None:
    out = play("swarm-overlay")
    # c2 starts at 0.44 ms; its entry reaches host-A through networkdb only, within the next
    # gossip round (200 ms)
    assert not step(out, "host-B $ docker run -itd --network ovnet --name c2").result.trace.filter("overlay:peer")
    adds = step(out, "wait 1s").result.trace.filter("overlay:peer", "add", host="host-A")
    adds = [e for e in adds if "10.1.0.3" in e.reason]
    assert len(adds) == 1 and "networkdb gossip (overlay_peer_table)" in adds[0].reason
    assert "dst 192.168.0.3 on vxlan0" in adds[0].reason
    assert 0.0 < adds[0].t < 0.25
    ping = step(out, "c1 # ping -c 1 10.1.0.3").result
    enc = ping.trace.filter("vxlan:encap", "encap", host="host-A")
    assert enc and "VNI 4097" in enc[0].reason and "192.168.0.3:4789" in enc[0].reason
    assert ping.trace.filter("vxlan:decap", "decap", host="host-B")


def test_encrypted_overlay_sends_esp_and_never_cleartext_vxlan() -> None:
    out = play("swarm-encrypted-overlay")
    r = step(out, "c1 # ping -c 1 10.0.1.3").result
    enc = r.trace.filter("xfrm:out", "encrypt", host="host-A")
    assert enc and "AES-GCM; 134 -> 160 bytes" in enc[0].reason  # 26 bytes of ESP
    assert r.trace.filter("xfrm:in", "decrypt", host="host-B")
    big = step(out, "c1 # ping -c 1 -M do -s 1396").result
    assert "1474 -> 1500 bytes" in big.trace.filter("xfrm:out", "encrypt", host="host-A")[0].reason
    assert not big.trace.filter("ip:fragment")
    spi = enc[0].reason.split("ESP spi ")[1].split()[0]
    assert f"proto esp spi {spi} reqid 13681891 mode transport" in step(out, "host-A $ ip xfrm state").result.stdout


def test_mtu_pitfall_drops_on_the_underlay_and_the_fix_fits() -> None:
    out = play("pitfall-overlay-mtu")
    lost = step(out, "c1 # ping -c 1 -W 2 -M do -s 1400").result
    drops = lost.trace.filter("wire:mtu", "drop")
    assert drops and "1478-byte frame exceeds the segment MTU 1400" in drops[0].reason
    assert not lost.trace.filter("icmp:error"), "a black hole: nothing tells the sender"
    post = step(out, "c1 # curl -s -m 5").result
    assert post.trace.filter("tcp:retransmit") and post.trace.filter("wire:mtu", "drop")
    fixed = step(out, "d1 # curl -s -m 5").result
    assert not fixed.trace.filter("wire:mtu") and not fixed.trace.filter("tcp:retransmit")


def test_blocked_gossip_leaves_no_peer_and_the_fix_brings_it_back() -> None:
    out = play("pitfall-blocked-gossip")
    blocked = step(out, "wait 10s").result.trace
    assert blocked.filter("gossip:member", "dead", host="host-A")
    dels = [e for e in blocked.filter("overlay:peer", "del", host="host-A") if "10.0.1.3" in e.reason]
    assert dels, "host-A drops c2 with the dead node's entries"
    assert not [e for e in blocked.filter("overlay:peer", "add", host="host-B") if "10.0.1.2" in e.reason]
    ping = step(out, "c1 # ping -c 2 -W 1 10.0.1.3").result
    assert ping.trace.filter("vxlan:arp", "drop", host="host-A")
    assert not ping.trace.filter("vxlan:encap")
    healed = step(out, "wait 35s").result.trace
    back = [e for e in healed.filter("overlay:peer", "add") if "10.0.1." in e.reason]
    assert {e.host for e in back} == {"host-A", "host-B"}


def test_blocked_vxlan_keeps_the_peers_and_drops_in_input() -> None:
    out = play("pitfall-blocked-vxlan")
    r = step(out, "c1 # ping -c 2 -W 1 10.0.1.3").result
    assert len(r.trace.filter("vxlan:encap", "encap", host="host-A")) == 2
    drops = r.trace.filter("nf:filter:INPUT", "drop", host="host-B")
    assert len(drops) == 2 and "-A INPUT -p udp -m udp --dport 4789 -j DROP" in drops[0].reason
    assert not r.trace.filter("vxlan:decap")
    assert not r.trace.filter("overlay:peer", "del"), "the control plane is untouched"
