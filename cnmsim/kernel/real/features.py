"""What this machine's kernel and tools can do, found by trying it in a throwaway namespace.

A lab scenario names the kinds it needs (`Features.missing(["vxlan", "vlan"])`) and skips or
refuses with `Features.message(...)` ("the real kernel here has no 802.1q (vlan) support").
The probe runs once per process (`probe()` is cached) and takes a few tens of milliseconds.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field

from cnmsim.kernel import api

LABELS = {"vlan": "802.1q (vlan)", "ipvs": "IPVS (ip_vs)", "esp": "ESP (esp4)", "xfrm": "xfrm (IPsec)",
          "br_netfilter": "br_netfilter", "iptables": "iptables", "conntrack": "conntrack-tools"}
SPEC_KINDS = {api.Veth: "veth", api.Bridge: "bridge", api.Vxlan: "vxlan", api.Macvlan: "macvlan",
              api.Vlan: "vlan", api.Dummy: "dummy"}
LINK_PROBES: dict[str, api.LinkKind] = {  # in order: macvlan and vlan hang off pv0
    "veth": api.Veth("pv0", peer="pv1"), "bridge": api.Bridge("pbr0"), "dummy": api.Dummy("pd0"),
    "vxlan": api.Vxlan("pvx0", vni=1), "macvlan": api.Macvlan("pmv0", parent="pv0"),
    "vlan": api.Vlan("pv0.10", parent="pv0", vid=10)}
ESP_PROBE = ("ip xfrm state add src 10.0.0.1 dst 10.0.0.2 proto esp spi 0x100 mode transport "
             "enc cbc(aes) 0x0102030405060708090a0b0c0d0e0f10 auth hmac(sha256) 0x" + "0f" * 32)
NETLINK_XFRM = 6


@dataclass(frozen=True)
class Features:
    """The probe's answers; `errors` holds what the kernel said for each missing link kind."""

    veth: bool = False
    bridge: bool = False
    vxlan: bool = False
    macvlan: bool = False
    vlan: bool = False
    dummy: bool = False
    ipvs: bool = False
    xfrm: bool = False
    esp: bool = False
    iptables: str | None = None  # "nft" (iptables-nft), "legacy", or None: not installed
    conntrack: bool = False  # the conntrack tool
    br_netfilter: bool = False  # bridged IPv4 through iptables (net.bridge.bridge-nf-call-iptables)
    errors: dict[str, str] = field(default_factory=dict, compare=False)

    def has(self, kind: str) -> bool:
        return bool(getattr(self, kind))

    def missing(self, kinds: Iterable[str | type]) -> list[str]:
        """The kinds (names, or api link classes) this machine lacks, in the order given."""
        names = [SPEC_KINDS.get(k, str(k)) if isinstance(k, type) else k for k in kinds]  # type: ignore[call-overload]
        return [k for k in names if not self.has(k)]

    def message(self, kinds: Iterable[str | type]) -> str | None:
        """`the real kernel here has no 802.1q (vlan) support` (None when nothing is missing)."""
        gone = [LABELS.get(k, k) for k in self.missing(kinds)]
        if not gone:
            return None
        listed = gone[0] if len(gone) == 1 else ", ".join(gone[:-1]) + " or " + gone[-1]
        return f"the real kernel here has no {listed} support"


_lock = threading.Lock()
_cached: Features | None = None


def iptables_flavour() -> str | None:
    """`iptables -V`: v1.8.9 (nf_tables) -> "nft", (legacy) -> "legacy"."""
    if shutil.which("iptables") is None:
        return None
    out = subprocess.run(["iptables", "-V"], capture_output=True, text=True).stdout
    return "nft" if "nf_tables" in out else ("legacy" if "legacy" in out else None)


def _probe() -> Features:
    from cnmsim.kernel.api import KernelError
    from cnmsim.kernel.real.clean import new_prefix
    from cnmsim.kernel.real.kernel import RealKernel

    found: dict[str, bool] = {}
    errors: dict[str, str] = {}
    k = RealKernel(new_prefix(), "probe")
    try:
        ns = k.root
        for kind, spec in LINK_PROBES.items():
            try:
                ns.link_add(spec)
                found[kind] = True
            except KernelError as e:
                found[kind], errors[kind] = False, str(e)

        def inside() -> tuple[bool, bool]:
            try:
                socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_XFRM).close()
                xfrm = True
            except OSError:
                xfrm = False
            return xfrm, os.path.exists("/proc/sys/net/bridge/bridge-nf-call-iptables")

        from cnmsim.kernel.real.nsenter import in_netns

        found["xfrm"], found["br_netfilter"] = in_netns(ns.real_name, inside)
        found["esp"] = found["xfrm"] and shutil.which("ip") is not None and \
            ns.run(ESP_PROBE.split()).returncode == 0
    finally:
        k.close()
    found["ipvs"] = os.path.exists("/proc/net/ip_vs")
    return Features(**found, iptables=iptables_flavour(), conntrack=shutil.which("conntrack") is not None,
                    errors=errors)


def probe() -> Features:
    """The Features of this machine (probed once; needs root)."""
    global _cached
    with _lock:
        if _cached is None:
            _cached = _probe()
        return _cached
