"""chrch/docker-pets:1.0, "Docker Pets as a Service" (github.com/mark-church/docker-pets, web/):
a Flask 0.10 app on 5000 (app.py) and its admin console on 7000 (admin.py), started by the
image's shell-form CMD `python app.py & python admin.py` in /app (alpine 3.4, Python 2).

app.py, as the image runs it:
- prints "Starting web container <hostname>" (Python 2 block-buffers a pipe, so `docker logs`
  shows it only for `docker run -t`);
- with DB ("name" or "host:port", port 8500 by default) it sleeps 5 s, then reads consul's key
  `hits` and, when missing, sets hits, Cats, Dogs and Whales to "0"; when consul cannot be reached
  then, the uncaught exception's traceback goes to stderr and nothing listens on 5000;
- serves through Werkzeug's dev server (HTTP/1.0, one log line per request on stderr):
  GET /       without DB: a random dog, no counter; with DB but no `vote` cookie: 302 to /vote;
              with the cookie: a random pet of that kind and hits += 1 in consul (a GET and a PUT,
              each with its own DNS lookup of DB), the page saying "<n> Pets Served" and the
              container's hostname; consul unreachable: 500 (Flask logs nothing outside debug);
  GET /vote   the voting page, Set-Cookie vote=<option A>; POST /vote (name, vote=a|b|c): the
              vote goes to consul, 302 to / with the cookie;
  /health     GET: "OK" (or 500 "NOT OK"); PUT {"healthy": "False"} toggles; GET /kill too.
admin.py: GET / redirects to /admin, which shows the vote totals read from consul.
"""

from __future__ import annotations

import ast
import json
import random
import time
from collections.abc import Callable, Generator
from typing import Any
from urllib.parse import parse_qs

from cnmsim.apps.httpd import Request, Response, serve_http
from cnmsim.engine.images import pets_pages as pages
from cnmsim.engine.images.base import PATH, AppContext, Image
from cnmsim.engine.images.python_consul import ConsulError, ConsulKV
from cnmsim.engine.images.registry import register

VERSION = "1.0"
SERVER = "Werkzeug/0.11.15 Python/2.7.12"
STARTUP_SLEEP = 5.0  # app.py and admin.py: time.sleep(5) before talking to consul
REASONS = {200: "OK", 302: "FOUND", 400: "BAD REQUEST", 404: "NOT FOUND", 405: "METHOD NOT ALLOWED",
           500: "INTERNAL SERVER ERROR"}  # Werkzeug 0.11 upper-cases its status lines
HTML = ("Content-Type", "text/html; charset=utf-8")
PICTURES = {  # web/static/option_{a,b,c}/
    "a": [f"anigif_enhanced-buzz-{n}.gif" for n in (
        "18774-1381844645-6", "25158-1381844793-0", "26390-1381844163-18", "29111-1381845968-0",
        "31540-1381844535-8", "3391-1381844336-26", "3409-1381844582-13")],
    "b": [f"anigif_enhanced-buzz-{n}.gif" for n in (
        "12996-1386090648-41", "14140-1386090436-22", "14182-1386090558-25", "19342-1355608696-6")],
    "c": ["whale1.gif", "whale2.gif", "whale3.gif", "whale5.gif"],
}


def werkzeug_time(t: float) -> str:
    """BaseHTTPServer's log_date_time_string: 28/Nov/2026 10:00:00."""
    return time.strftime("%d/%b/%Y %H:%M:%S", time.gmtime(t))


def page(status: int, body: str, *headers: tuple[str, str]) -> Response:
    return Response(status, body.encode(), [HTML, *headers], REASONS[status])


def cookies(req: Request) -> dict[str, str]:
    jar = {}
    for part in req.headers.get("cookie", "").split(";"):
        k, sep, v = part.strip().partition("=")
        if sep:
            jar[k] = v.strip('"')
    return jar


class PetsApp:
    """app.py and admin.py of one container: their settings, consul client and handlers."""

    def __init__(self, ctx: AppContext, serve: Callable[..., Any] = serve_http,
                 kv: type[ConsulKV] = ConsulKV, startup_sleep: float = STARTUP_SLEEP) -> None:
        """`serve` starts an HTTP server and `kv` is the consul client class (real mode passes
        real-socket ones); startup_sleep is the image's time.sleep(5)."""
        self.ctx, self.hostname, env = ctx, ctx.place.hostname, ctx.env
        self.serve_http, self.startup_sleep = serve, startup_sleep
        self.options = {"a": env.get("OPTION_A", "Cats"), "b": env.get("OPTION_B", "Dogs"),
                        "c": env.get("OPTION_C", "Whales")}
        self.healthy = True
        self.rng = random.Random(self.hostname)
        self.kv: ConsulKV | None = None
        if env.get("DB"):
            host, _, port = env["DB"].partition(":")
            self.kv = kv(ctx.proc("python", "app.py"), host, int(port or 8500))

    def redirect(self, req: Request, to: str, *headers: tuple[str, str]) -> Response:
        host = req.headers.get("host", "0.0.0.0:5000")
        return page(302, pages.redirect_page(to), ("Location", f"http://{host}{to}"), *headers)

    def picture(self, vote: str) -> str | None:
        for letter, name in self.options.items():
            if vote == name:
                return f"./static/option_{letter}/{self.rng.choice(PICTURES[letter])}"
        return None  # app.py: "Error: no valid role" and sys.exit(1) inside the request

    # ------------------------------------------------------------ app.py (5000)
    def handle(self, req: Request) -> Generator[Any, Any, Response]:
        path = req.path.split("?", 1)[0]
        try:
            if path == "/" and req.method in ("GET", "HEAD"):
                return (yield from self.index(req))
            if path == "/vote" and req.method in ("GET", "HEAD", "POST"):
                return (yield from self.vote(req))
            if path == "/health" and req.method in ("GET", "HEAD", "PUT"):
                return self.health(req)
            if path == "/kill" and req.method in ("GET", "HEAD"):
                self.healthy = False
                return page(200, f"You have toggled web instance {self.hostname} to unhealthy")
            if path.startswith("/static/"):
                return self.static(path)
            if path in ("/", "/vote", "/health", "/kill"):
                return page(405, pages.error_page(405), ("Allow", "HEAD, OPTIONS, GET"))
            return page(404, pages.error_page(404))
        except (ConsulError, ValueError, TypeError, KeyError):
            return page(500, pages.error_page(500))

    def index(self, req: Request) -> Generator[Any, Any, Response]:
        voted = cookies(req).get("vote")
        if self.kv is None:
            vote = self.options["b"]
        elif voted is None:
            return self.redirect(req, "/vote")
        else:
            vote = voted
        url = self.picture(vote) if self.healthy else "../static/error.png"
        if url is None:
            raise ValueError(vote)
        hit_string = ""
        if self.kv is not None:
            hits = int((yield from self.kv.get("hits")))  # type: ignore[arg-type]
            yield from self.kv.put("hits", str(hits + 1))
            hit_string = f"{hits + 1} Pets Served"
        values = {"url": url, "hostname": self.hostname, "hit_string": hit_string, "version": VERSION}
        return page(200, pages.render(pages.PETS_HTML, values, show_block=self.kv is not None))

    def vote(self, req: Request) -> Generator[Any, Any, Response]:
        vote = self.options["a"]
        if req.method == "POST":
            form = parse_qs(req.body.decode(errors="replace"))
            if "vote" not in form or "name" not in form:
                return page(400, pages.error_page(400))
            if self.kv is None:
                raise ValueError("NameError: global name 'c' is not defined")
            yield from self.kv.get("hits")
            choice = form["vote"][0]
            vote = self.options.get(choice, choice)
            yield from self.kv.put(form["name"][0], vote)
            total = int((yield from self.kv.get(vote))) + 1  # type: ignore[arg-type]
            yield from self.kv.put(vote, str(total))
            return self.redirect(req, "/", ("Set-Cookie", f"vote={vote}; Path=/"))
        values = {f"option_{k}": v for k, v in self.options.items()}
        body = pages.render(pages.VOTE_HTML, {**values, "hostname": self.hostname, "vote": vote}, show_block=True)
        return page(200, body, ("Set-Cookie", f"vote={vote}; Path=/"))

    def health(self, req: Request) -> Response:
        if req.method != "PUT":
            return page(200, "OK") if self.healthy else page(500, "NOT OK")
        if "content-type" not in req.headers:
            return page(400, pages.error_page(400))
        if req.headers["content-type"] != "application/json":
            raise ValueError("View function did not return a response")
        self.healthy = ast.literal_eval(str(json.loads(req.body)["healthy"])) is True
        return page(200, "healthy" if self.healthy else "not healthy")

    def static(self, path: str) -> Response:
        folder, _, name = path[len("/static/"):].rpartition("/")
        if folder.startswith("option_") and name in PICTURES.get(folder[-1], []):
            return Response(200, b"GIF89a", [("Content-Type", "image/gif")], "OK")
        return page(404, pages.error_page(404))

    # ------------------------------------------------------------ admin.py (7000)
    def admin(self, req: Request) -> Generator[Any, Any, Response]:
        path = req.path.split("?", 1)[0]
        if path == "/":
            return self.redirect(req, "/admin")
        if path != "/admin":
            return page(404, pages.error_page(404))
        try:
            if self.kv is None:
                raise ValueError("NameError: global name 'c' is not defined")
            votes = {}
            for letter, name in self.options.items():
                votes[f"{letter}_votes"] = str(int((yield from self.kv.get(name))))  # type: ignore[arg-type]
        except (ConsulError, ValueError, TypeError):
            return page(500, pages.error_page(500))
        values = {f"option_{k}": v for k, v in self.options.items()}
        return page(200, pages.render(pages.ADMIN_HTML, {**values, **votes, "hostname": self.hostname}, show_block=True))

    # ------------------------------------------------------------ processes
    def log_request(self, req: Request, resp: Response, sent: int) -> None:
        """Werkzeug's request line on stderr (size is always '-' in Werkzeug 0.11)."""
        line = f"{req.method} {req.path} {req.version}"
        self.ctx.err(f'{req.client[0]} - - [{werkzeug_time(self.ctx.now)}] "{line}" {resp.status} -')

    def serve(self, port: int, handler: Any) -> None:
        srv = self.serve_http(self.ctx.place, port, handler, server=SERVER, on_request=self.log_request,
                              proto="HTTP/1.0")
        self.ctx.on_stop(srv.stop)
        self.ctx.err(f" * Running on http://0.0.0.0:{port}/ (Press CTRL+C to quit)")

    def app_py(self) -> Generator[Any, Any, None]:
        if self.ctx.tty:
            self.ctx.out(f"Starting web container {self.hostname}")
        if self.kv is not None:
            yield self.ctx.sim.timeout(self.startup_sleep)
            try:
                if (yield from self.kv.get("hits")) is None:
                    for key in ("hits", *self.options.values()):
                        yield from self.kv.put(key, "0")
            except ConsulError as e:
                for line in ("Traceback (most recent call last):", '  File "app.py", line 44, in <module>',
                             "    if c.kv.get('hits')[1] == None:", f"requests.exceptions.ConnectionError: {e}"):
                    self.ctx.err(line)
                return
        self.serve(5000, self.handle)

    def admin_py(self) -> Generator[Any, Any, None]:
        if self.kv is None:
            if self.ctx.tty:
                self.ctx.out("No DB given")
        else:
            yield self.ctx.sim.timeout(self.startup_sleep)
        self.serve(7000, self.admin)


def pets_scripts(cmd: list[str]) -> tuple[bool, bool]:
    """Whether the command runs app.py, admin.py (both False: the user replaced the command)."""
    line = " ".join(cmd)
    return "app.py" in line, "admin.py" in line


def start_pets(ctx: AppContext, serve: Callable[..., Any] = serve_http, kv: type[ConsulKV] = ConsulKV,
               startup_sleep: float = STARTUP_SLEEP) -> PetsApp | None:
    """`/bin/sh -c "python app.py & python admin.py"`; None when the command is something else.

    serve, kv and startup_sleep go to PetsApp (real mode passes real-socket ones)."""
    app_py, admin_py = pets_scripts(ctx.cmd)
    if not app_py and not admin_py:
        return None
    app = PetsApp(ctx, serve, kv, startup_sleep)
    if app_py:
        ctx.process(app.app_py())
    if admin_py:
        ctx.process(app.admin_py())
    return app


PETS = register(Image(
    "chrch/docker-pets", tags=["1.0", "latest"], exposed_ports=["5000/tcp"],
    cmd=["/bin/sh", "-c", "python app.py & python admin.py"], env=[PATH], working_dir="/app",
    healthcheck=["CMD-SHELL", "curl --fail http://localhost:5000/health || exit 1"],
    flavour="busybox", size=95_000_000, app=start_pets))
