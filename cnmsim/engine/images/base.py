"""What an image is to the simulated engine: its config (what `docker inspect IMAGE` shows under
Config) and, for images whose default command is a server, a small model of that server.

    img = Image("nginx", ["latest", "1.27"], exposed_ports=["80/tcp"], cmd=[...], app=start_nginx)
    handle = img.start(AppContext(place, env, cmd, log))   # background simpy processes
    ctx.stop()                                               # `docker stop`: the app's stop hooks

The engine builds the AppContext when the container starts: `env` is the image's Env overlaid with
`docker run -e`, `cmd` the effective Cmd (the image's, or the words after the image name), `log`
receives each line the app writes ("stdout"/"stderr") for `docker logs`.  An app model checks
`cmd` itself: when the user replaced the command (`docker run nginx sh`), start() returns None and
the engine runs that command as it would for a tool image (busybox, alpine ...).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import simpy

    from cnmsim.place import Place
    from cnmsim.shell.registry import Proc

PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"  # every image here


@dataclass
class AppContext:
    """What an app model gets from the engine when its container starts."""

    place: Place  # the container's sandbox: namespace, files (/etc/hosts, resolv.conf ...), hostname
    env: dict[str, str]
    cmd: list[str]
    log: Callable[[str, str], None]  # (stream "stdout" | "stderr", line without newline)
    tty: bool = False  # `docker run -t`: programs line-buffer their stdout
    on_exit: Callable[[int], None] | None = None  # the engine's: the main process ended with a code
    stop_hooks: list[Callable[[], None]] = field(default_factory=list)
    graceful: bool = True  # False when stopped by SIGKILL (no shutdown messages)

    @property
    def sim(self) -> simpy.Environment:
        return self.place.ns.kernel.ctx.env

    @property
    def now(self) -> float:
        """Simulated seconds since the Unix epoch (the lab starts at 1970-01-01 00:00:00 UTC)."""
        return float(self.sim.now)

    def out(self, line: str) -> None:
        self.log("stdout", line)

    def err(self, line: str) -> None:
        self.log("stderr", line)

    def on_stop(self, hook: Callable[[], None]) -> None:
        """Run `hook` when the container stops (hooks run last-registered first)."""
        self.stop_hooks.append(hook)

    def stop(self, graceful: bool = True) -> None:
        """The container is stopping: run the stop hooks once (`docker stop`/`kill`)."""
        self.graceful = graceful
        hooks, self.stop_hooks = self.stop_hooks, []
        for hook in reversed(hooks):
            hook()

    def exit(self, code: int) -> None:
        """The app's main process ended by itself: stop everything, tell the engine."""
        self.stop()
        if self.on_exit is not None:
            self.on_exit(code)

    def process(self, gen: Generator[Any, Any, Any]) -> simpy.Process:
        """Start a background simpy process that `stop()` interrupts."""
        proc = self.sim.process(gen)

        def halt() -> None:
            if proc.is_alive and proc is not self.sim.active_process:
                proc.interrupt("stop")
        self.on_stop(halt)
        return proc

    def proc(self, *argv: str) -> Proc:
        """A process context in the container, for the resolver (netutil.getaddrinfo) and sockets."""
        from cnmsim.shell.registry import Proc

        return Proc(self.place.host.lab, self.place, list(argv) or ["app"])


@dataclass
class Image:
    """One image: the fields of its config the engine and `docker inspect` use, and its app."""

    name: str  # the repository's familiar name: "nginx", "chrch/docker-pets"
    tags: list[str] = field(default_factory=lambda: ["latest"])
    exposed_ports: list[str] = field(default_factory=list)  # "80/tcp", "8301/udp"
    cmd: list[str] = field(default_factory=list)
    env: list[str] = field(default_factory=lambda: [PATH])
    entrypoint: list[str] = field(default_factory=list)
    working_dir: str = ""
    flavour: str = "iputils"  # tool output style in the container: "iputils" or "busybox"
    labels: dict[str, str] = field(default_factory=dict)
    volumes: list[str] = field(default_factory=list)
    stop_signal: str = ""  # "" is SIGTERM
    healthcheck: list[str] = field(default_factory=list)  # ["CMD-SHELL", "curl ..."]
    files: dict[str, str] = field(default_factory=dict)  # image content the container starts with
    missing: frozenset[str] = frozenset()  # commands the real image lacks (the simulator keeps them)
    size: int = 0  # bytes, about what `docker images` shows for this version
    aliases: list[str] = field(default_factory=list)  # other repository names for the same image
    app: Callable[[AppContext], Any] | None = None

    @property
    def id(self) -> str:
        """A fixed sha256-looking image ID: the sha256 of the name (`docker images` shows 12)."""
        return hashlib.sha256(self.name.encode()).hexdigest()

    @property
    def short_id(self) -> str:
        return self.id[:12]

    def env_dict(self) -> dict[str, str]:
        return dict(e.split("=", 1) if "=" in e else (e, "") for e in self.env)

    def start(self, ctx: AppContext) -> Any:
        """Start the image's app (background simpy processes); None when there is nothing to run."""
        return self.app(ctx) if self.app is not None else None
