"""The image's server as a real process in the container's namespace (real mode's containerd).

    app = start_real_app(ctx, image)   # None when the image has no app or the user replaced Cmd
    ctx.stop(graceful)                 # the engine's `docker stop`/`kill`: SIGTERM/StopSignal/SIGKILL

`start_real_app` spawns `ip netns exec SANDBOX python -m cnmsim.kernel.real.appserver ...`, which
runs the image's own model (cnmsim.engine.images: nginx, consul, chrch/docker-pets) over real
sockets. The process sees the container's /etc/hosts and /etc/resolv.conf (bind-mounted by
`ip netns exec`), so its lookups go through 127.0.0.11, the real embedded DNS.

Threads here never touch the engine: output lines and the process's end reach it through
`lab.post`, drained on the engine's thread. The same module gives the child the means to run
the models' simpy generators on real time (`WallClock`, `drive`, `immediate`).
"""

from __future__ import annotations

import collections
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import IO, Any, TypeVar

import simpy

from cnmsim.engine.images.base import AppContext, Image
from cnmsim.engine.images.consul import agent_args, start_consul
from cnmsim.engine.images.nginx import entrypoint_lines, runs_nginx, start_nginx
from cnmsim.engine.images.pets import pets_scripts, start_pets
from cnmsim.kernel.real.exec import netns_argv, write_etc

T = TypeVar("T")
STOP_WAIT = 3.0  # seconds a stopping process gets after its signal before SIGKILL
# A native nginx or consul binds within milliseconds of exec; this Python stand-in needs ~0.5 s to
# import. `docker run` returns once the stand-in says it has started (its listeners bound), so
# a transcript's next line meets the server as it would meet the real one. Bounded, for safety.
READY_WAIT = 10.0
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

# The image models that run for real, and how each decides that the command is its own.
PROGRAMS: dict[Callable[..., Any], Callable[[list[str]], bool]] = {
    start_nginx: runs_nginx,
    start_consul: lambda cmd: agent_args(cmd) is not None,
    start_pets: lambda cmd: any(pets_scripts(cmd)),
}


# ---------------------------------------------------------------- sim generators on real time
@dataclass(frozen=True)
class Sleep:
    """What `WallClock.timeout(delay)` gives a model to yield: wait `delay` real seconds."""

    delay: float


def drive(gen: Generator[Any, Any, T], interrupted: threading.Event | None = None) -> T:
    """Run a model's generator to its end on this thread: each yielded Sleep is a real sleep;
    `interrupted` set during one throws simpy.Interrupt into it (as a simpy process sees it).
    Anything else yielded means the code waits for simulated packets: an error here."""
    value: Any = None
    throw: BaseException | None = None
    while True:
        try:
            item = gen.throw(throw) if throw is not None else gen.send(value)
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]
        throw = None
        if not isinstance(item, Sleep):
            gen.close()
            raise RuntimeError(f"a real-mode model waited for {item!r}, which only the simulation has")
        if interrupted is None:
            time.sleep(item.delay)
        elif interrupted.wait(item.delay):
            throw = simpy.Interrupt("stop")


def immediate(value: T) -> Generator[Any, Any, T]:
    """A generator that returns `value` without yielding: blocking real I/O where the shared
    model code says `yield from`."""
    if False:  # pragma: no cover  (makes this a generator)
        yield
    return value


class Task:
    """A model's background process (AppContext.process) on a daemon thread."""

    def __init__(self, gen: Generator[Any, Any, Any]) -> None:
        self.gen = gen
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._run, name="app-process", daemon=True)

    @property
    def is_alive(self) -> bool:
        return self.thread.is_alive()

    def interrupt(self, cause: Any = None) -> None:
        self.stopped.set()

    def _run(self) -> None:
        try:
            drive(self.gen, self.stopped)
        except Exception:  # noqa: BLE001  (a crashed model thread: its traceback, as Python prints it)
            import traceback

            traceback.print_exc()


class WallClock:
    """What the image models use of simpy's Environment, on the machine's clock and threads."""

    active_process: Any = None

    @property
    def now(self) -> float:
        return time.time()

    def timeout(self, delay: float, value: Any = None) -> Sleep:
        return Sleep(float(delay))

    def process(self, gen: Generator[Any, Any, Any]) -> Task:
        task = Task(gen)
        task.thread.start()
        return task


# ---------------------------------------------------------------- the engine's side
class RealApp:
    """One running app process: its output goes to `ctx.log`, its end to `ctx.exit`."""

    def __init__(self, ctx: AppContext, proc: subprocess.Popen[bytes], stop_signal: int) -> None:
        self.ctx, self.proc, self.stop_signal = ctx, proc, stop_signal
        self.lab = ctx.place.host.lab
        self.stopping = False
        self._lines: collections.deque[tuple[str, str]] = collections.deque()
        self._lock = threading.Lock()
        self._flush_posted = False
        assert proc.stdout is not None and proc.stderr is not None
        self._readers = [threading.Thread(target=self._read, args=(name, pipe), daemon=True,
                                          name=f"app-{name}")
                         for name, pipe in (("stdout", proc.stdout), ("stderr", proc.stderr))]
        for t in self._readers:
            t.start()
        threading.Thread(target=self._watch, name="app-wait", daemon=True).start()

    @property
    def pid(self) -> int:
        return self.proc.pid

    # ------------------------------------------------------------ threads (no engine calls)
    def _read(self, stream: str, pipe: IO[bytes]) -> None:
        for raw in pipe:
            self._lines.append((stream, raw.decode(errors="replace").rstrip("\r\n")))
            with self._lock:
                if self._flush_posted:
                    continue
                self._flush_posted = True
            self.lab.post(self.flush)

    def _watch(self) -> None:
        code = self.proc.wait()
        for t in self._readers:
            t.join()
        self.lab.post(lambda: self._ended(128 - code if code < 0 else code))

    # ------------------------------------------------------------ the engine's thread
    def flush(self) -> None:
        """Hand the lines read so far to `docker logs`."""
        with self._lock:
            self._flush_posted = False
        while self._lines:
            stream, line = self._lines.popleft()
            self.ctx.log(stream, line)

    def _ended(self, code: int) -> None:
        self.flush()
        if not self.stopping:  # it ended by itself: the container exits with its status
            self.ctx.exit(code)

    def stop(self, graceful: bool = True) -> None:
        """The stop signal (SIGKILL when not graceful), SIGKILL after STOP_WAIT; its last words
        (nginx's shutdown notices) are in the logs when this returns."""
        if self.stopping:
            return
        self.stopping = True
        if self.proc.poll() is None:
            self.proc.send_signal(self.stop_signal if graceful else signal.SIGKILL)
            try:
                self.proc.wait(STOP_WAIT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for t in self._readers:
            t.join(1.0)
        self.flush()


def app_argv(image: Image, ctx: AppContext, startup_sleep: float | None = None) -> list[str]:
    """The appserver command line for this container."""
    argv = [sys.executable, "-m", "cnmsim.kernel.real.appserver", "--image", image.name,
            "--hostname", ctx.place.hostname]
    for k, v in ctx.env.items():
        argv += ["--env", f"{k}={v}"]
    if ctx.tty:
        argv.append("--tty")
    if startup_sleep is not None:  # tests only: the engine keeps the image's own sleep
        argv += ["--startup-sleep", str(startup_sleep)]
    return [*argv, "--", *ctx.cmd]


def start_real_app(ctx: AppContext, image: Image, startup_sleep: float | None = None) -> RealApp | None:
    """Start the image's server in the container's namespace; None when it has none or the
    command was replaced (the engine then runs the command itself, as in the simulation)."""
    wants = PROGRAMS.get(image.app) if image.app is not None else None
    if wants is None or not wants(ctx.cmd):
        return None
    place = ctx.place
    real = place.ns.real_name
    write_etc(real, place.files)
    files = json.dumps(dict(place.files)).encode()  # the container's files as the process starts
    if image.app is start_nginx:  # the entrypoint's edit of default.conf stays in the container
        entrypoint_lines(place.files)
    ready_r, ready_w = os.pipe()
    server = app_argv(image, ctx, startup_sleep)
    server[server.index("--"):server.index("--")] = ["--ready-fd", str(ready_w)]
    argv = netns_argv(real, server)
    argv[0] = shutil.which(argv[0]) or argv[0]
    env = {**ctx.env, "HOSTNAME": place.hostname, "PYTHONPATH": ROOT, "PYTHONUNBUFFERED": "1"}
    try:
        proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, env=env, start_new_session=True,
                                pass_fds=(ready_w,))
    finally:
        os.close(ready_w)
    assert proc.stdin is not None
    try:
        proc.stdin.write(files)
        proc.stdin.close()
    except BrokenPipeError:
        pass  # it died at once: the watcher reports its status
    try:  # one byte when started; EOF when it died first
        select.select([ready_r], [], [], READY_WAIT)
    finally:
        os.close(ready_r)
    stop = getattr(signal, image.stop_signal or "SIGTERM", signal.SIGTERM)
    app = RealApp(ctx, proc, stop)
    ctx.on_stop(lambda: app.stop(ctx.graceful))
    return app
