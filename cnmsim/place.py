"""A place a transcript line can run in: a host's root namespace, or a container's sandbox."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cnmsim.host import Host
    from cnmsim.kernel.sim.netns import SimNetns


@dataclass
class Place:
    name: str
    host: Host
    ns: SimNetns
    files: dict[str, str] = field(default_factory=dict)  # /etc/hosts, /etc/resolv.conf ...
    flavour: str = "iputils"  # tool output style: "iputils" (Debian host) or "busybox" (busybox/alpine image)
    container: Any = None  # the engine's container object, when this is a container
    cwd: str = "/"

    @property
    def hostname(self) -> str:
        return self.files.get("/etc/hostname", self.name).strip()

    def in_ns(self, ns: SimNetns, name: str | None = None) -> Place:
        """The same place seen from another namespace (`ip netns exec`, `nsenter --net`)."""
        return Place(name or self.name, self.host, ns, self.files, self.flavour, self.container, self.cwd)
