"""Build the same topology on this machine's kernel with `ip netns`, to compare with the sim.

Only namespaces named with a unique prefix are created, every command runs inside them (never
in the root namespace), and they are always deleted.  Tests using it are marked `real` and skip
when not root or when network namespaces (or a link type) are unavailable.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

PROBES = {"vxlan": "type vxlan id 1 dstport 4789", "macvlan": "link pv0 type macvlan mode bridge",
          "vlan": "link pv0 type vlan id 10"}


class RealNet:
    def __init__(self) -> None:
        self.prefix = f"cnmtB{os.getpid() % 100000}"
        self.made: list[str] = []

    def ns(self, name: str) -> str:
        full = self.prefix + name
        subprocess.run(["ip", "netns", "add", full], check=True, capture_output=True)
        self.made.append(full)
        return full

    def sh(self, script: str) -> None:
        """Run setup commands (each line); any failure fails the test."""
        for line in script.strip().splitlines():
            line = line.strip()
            if line:
                r = subprocess.run(line, shell=True, capture_output=True, text=True)
                assert r.returncode == 0, f"{line}: {r.stderr}"

    def run(self, ns: str, cmd: str) -> tuple[int, str, str]:
        """(exit status, stdout, stderr) of `cmd` inside namespace `ns`."""
        r = subprocess.run(f"ip netns exec {ns} {cmd}", shell=True, capture_output=True, text=True,
                           timeout=60)
        return r.returncode, r.stdout, r.stderr

    def supports(self, kind: str) -> bool:
        """Whether `ip link add ... type KIND` works here (8021q, say, may be missing)."""
        ns = self.ns(f"p{kind[:4]}")
        subprocess.run(["ip", "-n", ns, "link", "add", "pv0", "type", "veth", "peer", "name", "pv1"],
                       capture_output=True)
        args = PROBES.get(kind, f"type {kind}")
        r = subprocess.run(f"ip -n {ns} link add probe0 {args}", shell=True, capture_output=True)
        return r.returncode == 0

    def close(self) -> None:
        for n in reversed(self.made):
            subprocess.run(["ip", "netns", "del", n], capture_output=True)


@contextmanager
def real_netns(*kinds: str) -> Iterator[RealNet]:
    """A RealNet, or a skip when this machine cannot build it."""
    if os.geteuid() != 0 or shutil.which("ip") is None:
        pytest.skip("needs root and iproute2 to build namespaces on the real kernel")
    net = RealNet()
    try:
        try:
            net.ns("probe")
        except (subprocess.CalledProcessError, OSError):
            pytest.skip("network namespaces are not available here")
        for k in kinds:
            if not net.supports(k):
                pytest.skip(f"the real kernel here has no {k} support")
        yield net
    finally:
        net.close()


def ping_lines(out: str) -> list[str]:
    """The lines of ping output that do not depend on timing."""
    keep = []
    for line in out.splitlines():
        line = re.sub(r" time=[0-9.]+ ms", "", line)
        line = re.sub(r", time \d+ms", "", line)
        if line.startswith("rtt ") or not line.strip():
            continue
        keep.append(line)
    return keep
