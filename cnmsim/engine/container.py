"""A container as the engine keeps it: its config (what `docker run` asked for), its state and
its place in the lab (the sandbox namespace and the files /etc/hosts, /etc/resolv.conf ...)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cnmsim.engine.driverapi import PortBinding
    from cnmsim.engine.sandbox import Sandbox
    from cnmsim.place import Place


@dataclass
class NetRequest:
    """One network a container asks for (--network, or `docker network connect`)."""

    network: str
    ip: str | None = None
    aliases: list[str] = field(default_factory=list)


@dataclass
class ContainerConfig:
    image: str
    cmd: list[str] = field(default_factory=list)
    entrypoint: list[str] = field(default_factory=list)
    env: list[str] = field(default_factory=list)
    hostname: str = ""
    network_mode: str = "default"  # "default" = bridge; "host", "none", "container:X", a network
    networks: list[NetRequest] = field(default_factory=list)
    ports: list[PortBinding] = field(default_factory=list)
    publish_all: bool = False
    exposed: list[str] = field(default_factory=list)  # "80/tcp" (image + --expose)
    links: list[tuple[str, str]] = field(default_factory=list)  # (container, alias)
    dns: list[str] = field(default_factory=list)
    tty: bool = False
    interactive: bool = False
    auto_remove: bool = False
    labels: dict[str, str] = field(default_factory=dict)
    mac: str | None = None


@dataclass
class Container:
    id: str
    name: str
    config: ContainerConfig
    image: Any  # cnmsim.engine.images.base.Image
    created: float
    state: str = "created"  # created, running, exited
    started_at: float | None = None
    finished_at: float | None = None
    exit_code: int = 0
    restarts: int = 0
    pid: int = 0  # the main process's PID on the host (State.Pid), while running
    files: dict[str, str] | None = None  # its filesystem's files, made from the image at first start
    place: Place | None = None
    sandbox: Sandbox | None = None
    app: Any = None  # what image.start returned
    proc: Any = None  # the simpy process of the main command, when it is one
    logs: list[tuple[float, str, str]] = field(default_factory=list)  # (time, stream, line)
    endpoints: dict[str, Any] = field(default_factory=dict)  # network id -> Endpoint (while running)
    net_requests: list[NetRequest] = field(default_factory=list)  # networks it is connected to

    @property
    def short_id(self) -> str:
        return self.id[:12]

    @property
    def running(self) -> bool:
        return self.state == "running"

    @property
    def hostname(self) -> str:
        return self.config.hostname or self.short_id

    def log(self, stream: str, line: str, t: float) -> None:
        self.logs.append((t, stream, line))
