"""The swarm service scenarios play through with every expectation met: Docker Pets on an overlay,
service discovery, the routing mesh and host-mode publishing (scenarios/swarm-pets-overlay,
swarm-service-discovery, swarm-routing-mesh, swarm-host-mode).  Each is played once per module;
a few checks then read the traces the expectations cannot express (where IPVS chose, which
replicas served)."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import pytest

from cnmsim.result import Result
from cnmsim.scenario import Scenario

SCENARIOS = Path(__file__).parent.parent / "scenarios"
NAMES = ("swarm-pets-overlay", "swarm-service-discovery", "swarm-routing-mesh", "swarm-host-mode")
TOKEN = re.compile(r"--token (SWMTKN-1-\S+)")


@cache
def played(name: str) -> tuple[tuple[str, Result | None, tuple[str, ...]], ...]:
    """(step text, result, failed expectations) of every step of the scenario, played once."""
    sc = Scenario.load(SCENARIOS / f"{name}.yaml")
    lab = sc.build()
    return tuple((o.step.text, o.result, tuple(o.failures)) for o in sc.play(lab))


def result(name: str, text: str, nth: int = 0) -> Result:
    """The result of the nth step whose text contains `text`."""
    found = [r for t, r, _ in played(name) if text in t and r is not None]
    assert len(found) > nth, f"{name}: no step {text!r}"
    return found[nth]


def chosen(r: Result, place: str) -> list[str]:
    """The real servers IPVS picked at `place` for new connections in this result's trace."""
    return [m.group(1) for e in r.trace if e.stage == "ipvs:schedule" and e.place == place
            for m in [re.search(r"real server (\d+\.\d+\.\d+\.\d+):", e.reason)] if m]


@pytest.mark.parametrize("name", NAMES)
def test_scenario_meets_its_expectations(name: str) -> None:
    steps = played(name)
    failed = [(text, fails) for text, _, fails in steps if fails]
    if failed and "swarm join" in failed[0][0]:
        pytest.fail(f"{name}: the join token changed; put the one `docker swarm join-token -q worker` "
                    f"prints into the scenario ({failed[0]})")
    assert not failed, failed
    sc = Scenario.load(SCENARIOS / f"{name}.yaml")
    assert sum(1 for s in sc.steps if s.expect) >= 10, "a scenario states what it shows"
    assert "facts engine.md" in sc.description and len(sc.description) > 400
    tokens = {m.group(1) for s in sc.steps for m in [TOKEN.search(s.line)] if m}
    assert len(tokens) == 1, "one literal worker token per scenario"


def test_pets_mesh_enters_host_a_and_web_reaches_db_through_its_vip() -> None:
    # host-A runs db only: its ingress_sbox sends the laptop's connection to web's task on host-B
    r = result("swarm-pets-overlay", "laptop $ curl -s -i http://192.168.0.2:8000/")
    assert chosen(r, "host-A[ingress-sbox]") == ["10.0.0.5"]  # web.1 on ingress
    assert any(e.stage == "vxlan:decap" and e.host == "host-B" for e in r.trace)
    # the vote: web (host-B) asks consul through db's VIP, balanced in host-B's lb-petsOverlay
    r = result("swarm-pets-overlay", "vote=b")
    assert set(chosen(r, "host-B[lb-petsOverlay]")) == {"10.0.1.3"}
    assert any(e.stage == "vxlan:encap" and e.host == "host-B" and "192.168.0.2:4789" in e.reason
               for e in r.trace)


def test_discovery_vip_round_robin_and_upstream_forwarding() -> None:
    first = result("swarm-service-discovery", "wget -q -O - http://myservice/", 0)
    second = result("swarm-service-discovery", "wget -q -O - http://myservice/", 1)
    picks = chosen(first, "host-A[lb-mynet]") + chosen(second, "host-A[lb-mynet]")
    assert sorted(picks) == ["10.0.1.3", "10.0.1.4"]
    fwd = result("swarm-service-discovery", "nslookup docker.com")
    assert any(e.stage == "dns:forward" for e in fwd.trace)
    assert not any(e.stage == "dns:forward" for e in result("swarm-service-discovery", "nslookup myservice").trace)


def test_routing_mesh_spreads_from_a_node_without_replica() -> None:
    curls = [r for t, r, _ in played("swarm-routing-mesh") if t.startswith("laptop $ curl") and "192.168.0.4" in t]
    assert len(curls) == 4
    picks = [ip for r in curls for ip in chosen(r, "host-C[ingress-sbox]")]
    assert sorted(picks) == ["10.0.0.6", "10.0.0.6", "10.0.0.7", "10.0.0.7"]
    # host-C runs no task: nothing of the connection is delivered to a container there
    assert not any(e.host == "host-C" and e.ns.startswith("app.") for r in curls for e in r.trace)


def test_host_mode_bypasses_ipvs() -> None:
    r = result("swarm-host-mode", "laptop $ curl -s http://192.168.0.2:8080/")
    assert r.exit_code == 0
    assert not any(e.stage.startswith("ipvs:") for e in r.trace)
    assert any(e.stage == "nat:dnat" and e.place == "host-A" for e in r.trace)
