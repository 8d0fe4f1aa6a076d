"""Netfilter hook points sit where Linux has them (the netfilter packet-flow diagram)."""

from __future__ import annotations

from cnmsim import Lab
from tests.conftest import bridge_with_namespaces


class Recorder:
    """A hook engine that accepts everything and records (namespace, hook, in, out)."""

    def __init__(self, label: str, log: list) -> None:
        self.label, self.log = label, log

    def hook(self, name, frame, indev, outdev) -> bool:  # noqa: ANN001
        ip = frame.ip
        if ip is not None and ip.payload.__class__.__name__ == "ICMP":
            self.log.append((self.label, name, indev.name if indev else None,
                             outdev.name if outdev else None, ip.payload.type))
        return True


def record(lab: Lab) -> list:
    log: list = []
    h = lab["host-A"]
    for ns in h.kernel.all_namespaces():
        rec = Recorder(ns.name or "root", log)
        for hook in ("PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"):
            ns.nf.register(hook, 0, rec.hook, "recorder")
    return log


def echo_request_hooks(log: list) -> list:
    return [(ns, hook, i, o) for ns, hook, i, o, t in log if t == 8]


def test_bridged_traffic_skips_iptables_without_br_netfilter(bridged: Lab) -> None:
    bridged.run("host-A", "ip netns exec ns1 ping -c 1 10.0.0.3")
    log = record(bridged)
    assert bridged.run("host-A", "ip netns exec ns1 ping -c 1 10.0.0.3").ok
    assert echo_request_hooks(log) == [
        ("ns1", "OUTPUT", None, "eth0"), ("ns1", "POSTROUTING", None, "eth0"),
        ("ns2", "PREROUTING", "eth0", None), ("ns2", "INPUT", "eth0", None),
    ]


def test_bridge_nf_call_iptables_sends_bridged_frames_through_the_host_chains(bridged: Lab) -> None:
    bridged["host-A"].root.sysctl_set("net.bridge.bridge-nf-call-iptables", "1")
    bridged.run("host-A", "ip netns exec ns1 ping -c 1 10.0.0.3")
    log = record(bridged)
    assert bridged.run("host-A", "ip netns exec ns1 ping -c 1 10.0.0.3").ok
    assert echo_request_hooks(log) == [
        ("ns1", "OUTPUT", None, "eth0"), ("ns1", "POSTROUTING", None, "eth0"),
        ("root", "PREROUTING", "br0", None), ("root", "FORWARD", "br0", "br0"),
        ("root", "POSTROUTING", None, "br0"),
        ("ns2", "PREROUTING", "eth0", None), ("ns2", "INPUT", "eth0", None),
    ]


def test_routed_traffic_traverses_prerouting_forward_postrouting(lab: Lab) -> None:
    lab.add_host("host-A", address="192.168.0.2/24", docker=False)
    bridge_with_namespaces(lab, names=("ns1",), subnet="10.0.0", bridge="br0")
    bridge_with_namespaces(lab, names=("ns2",), subnet="10.0.1", bridge="br1")
    lab["host-A"].root.sysctl_set("net.ipv4.ip_forward", "1")
    lab.run("host-A", "ip netns exec ns1 ping -c 1 10.0.1.2")
    log = record(lab)
    assert lab.run("host-A", "ip netns exec ns1 ping -c 1 10.0.1.2").ok
    root = [x for x in echo_request_hooks(log) if x[0] == "root"]
    assert root == [("root", "PREROUTING", "br0", None), ("root", "FORWARD", "br0", "br1"),
                    ("root", "POSTROUTING", None, "br1")]


def test_traffic_to_the_host_itself_goes_through_input(bridged: Lab) -> None:
    bridged["host-A"].root.sysctl_set("net.bridge.bridge-nf-call-iptables", "1")
    bridged.run("host-A", "ip netns exec ns1 ping -c 1 10.0.0.1")
    log = record(bridged)
    assert bridged.run("host-A", "ip netns exec ns1 ping -c 1 10.0.0.1").ok
    root = [x for x in echo_request_hooks(log) if x[0] == "root"]
    # PREROUTING once (at the bridge port), then INPUT on the bridge device: no FORWARD
    assert root == [("root", "PREROUTING", "br0", None), ("root", "INPUT", "br0", None)]
    replies = [(ns, hook) for ns, hook, i, o, t in log if t == 0 and ns == "root"]
    assert replies == [("root", "OUTPUT"), ("root", "POSTROUTING")]


def test_hook_functions_run_in_priority_order_and_stop_at_a_drop(bridged: Lab) -> None:
    ns = bridged["host-A"].ns("ns2")
    calls: list[str] = []

    def fn(label: str, verdict: bool):  # noqa: ANN202
        def f(hook, frame, indev, outdev) -> bool:  # noqa: ANN001
            calls.append(label)
            return verdict
        return f

    ns.nf.register("INPUT", 0, fn("filter", True), "filter")
    ns.nf.register("INPUT", 98, fn("ipvs", False), "ipvs")
    ns.nf.register("INPUT", -150, fn("mangle", True), "mangle")
    ns.nf.register("INPUT", 200, fn("late", True), "late")
    r = bridged.run("host-A", "ip netns exec ns1 ping -c 1 -W 1 10.0.0.3")
    assert r.exit_code == 1  # the echo request was stolen at INPUT
    assert calls == ["mangle", "filter", "ipvs"]
    ns.nf.unregister("ipvs")
    assert bridged.run("host-A", "ip netns exec ns1 ping -c 1 10.0.0.3").ok
