"""A lab on the real kernel: host namespaces cabled to underlay bridges, all under one prefix.

    <prefix>-underlay   one namespace holding a Linux bridge per segment ("lan", "wan" ...)
    <prefix>host-A      host-A's root namespace; its eth0 is a veth whose peer is a bridge port
    <prefix>host-A.<x>  namespaces created on host-A (`ip netns add x`, Docker's sandboxes)

Nothing is created in, or routed out of, the machine's own namespace: the underlay bridges have no
uplink, so no frame leaves the lab.  Cable properties the simulator models (latency, bandwidth,
loss) are not applied here: the veth/bridge underlay is ideal, and `verify` compares reachability,
rules, routes and addresses, not timing.
"""

from __future__ import annotations

import atexit
import contextlib
import weakref
from typing import TYPE_CHECKING, Any

from cnmsim.kernel.api import KernelError
from cnmsim.kernel.real.clean import new_prefix, require_root
from cnmsim.kernel.real.exec import drop_etc
from cnmsim.kernel.real.features import probe
from cnmsim.kernel.real.kernel import RealKernel
from cnmsim.kernel.real.nsenter import netns_path

if TYPE_CHECKING:
    from cnmsim.host import Host
    from cnmsim.lab import Lab

UNDERLAY = "-underlay"  # the underlay's "hostname": a host name never starts with '-'


class RealSegment:
    """One underlay segment: a bridge in the underlay namespace (no uplink, no address)."""

    def __init__(self, backend: RealBackend, name: str, mtu: int) -> None:
        self.backend, self.name, self.mtu = backend, name, mtu
        self.bridge = f"seg-{name}"[:15]
        def make(ipr: Any) -> int:
            ipr.link("add", ifname=self.bridge, kind="bridge")
            idx = ipr.link_lookup(ifname=self.bridge)[0]
            ipr.link("set", index=idx, mtu=mtu, state="up")
            return idx

        self.index = backend.underlay.root.call(make)
        self.ports: list[str] = []


class RealBackend:
    """The real-kernel side of one Lab: its prefix, underlay namespace and host kernels."""

    def __init__(self, lab: Lab) -> None:
        require_root()
        self.features = probe()
        self.prefix = new_prefix()
        self.kernels: list[RealKernel] = []
        self.underlay = RealKernel(self.prefix, UNDERLAY)
        self.kernels.append(self.underlay)
        self.closed = False
        self._finalizer = weakref.finalize(self, _close_all, self.kernels)
        atexit.register(self._finalizer)

    def new_kernel(self, hostname: str) -> RealKernel:
        k = RealKernel(self.prefix, hostname)
        self.kernels.append(k)
        return k

    def segment(self, name: str, mtu: int) -> RealSegment:
        return RealSegment(self, name, mtu)

    def add_nic(self, host: Host, segment: RealSegment, name: str, mac: str, mtu: int) -> None:
        """Cable `name` (eth0 ...) of `host` to the segment's bridge: a veth created in the underlay
        namespace with its peer placed directly in the host's root namespace."""
        port = f"h{self.kernels.index(host.kernel)}-{name}"[:15]
        if port in segment.ports:
            raise KernelError("RTNETLINK answers: File exists", "EEXIST")
        def cable(ipr: Any) -> None:
            ipr.link("add", ifname=port, kind="veth", mtu=mtu,
                     peer={"ifname": name, "net_ns_fd": netns_path(host.root.real_name),
                           "address": mac, "mtu": mtu})
            idx = ipr.link_lookup(ifname=port)[0]
            ipr.link("set", index=idx, master=segment.index, state="up")

        self.underlay.root.call(cable)
        segment.ports.append(port)

    def close(self) -> None:
        """Remove every namespace of the lab (and the /etc/netns files of its places)."""
        if self.closed:
            return
        self.closed = True
        self._finalizer()
        atexit.unregister(self._finalizer)
        for k in self.kernels:
            for real in k.real_names():
                drop_etc(real)

    def describe(self) -> dict[str, Any]:
        return {"prefix": self.prefix, "namespaces": [n for k in self.kernels for n in k.real_names()]}


def _close_all(kernels: list[RealKernel]) -> None:
    for k in reversed(kernels):
        with contextlib.suppress(Exception):
            k.close()
