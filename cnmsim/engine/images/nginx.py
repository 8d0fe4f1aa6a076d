"""The official nginx image (nginx 1.27.3 on Debian bookworm) as `docker run nginx` runs it.

- docker-entrypoint.sh's start-up lines on stdout, as the image prints them (its scripts echo to
  stdout); the 10-listen-on-ipv6 script edits default.conf once, so a restarted container says
  "IPv6 listen already enabled" instead;
- nginx's notices on stderr (the image links /var/log/nginx/error.log to /dev/stderr);
- port 80 serves /usr/share/nginx/html/index.html from the container's files (the welcome page
  unless someone replaced it), 404 elsewhere (cnmsim.apps.httpd);
- one access-log line per request on stdout (access.log -> /dev/stdout) in the image's `main`
  format, with the client address as it arrives: a published port reached through DNAT shows
  the real client, one reached through docker-proxy or SNAT shows the proxy's/gateway's address.
The real image has no ping, ip, ss, nc or tcpdump (Image.missing); the simulator keeps them.
Sources: nginxinc/docker-nginx mainline/debian (Dockerfile, docker-entrypoint.sh,
10-listen-on-ipv6-by-default.sh, nginx.conf), `docker inspect nginx:1.27.3`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Generator
from typing import Any

from cnmsim.apps.httpd import (
    NGINX_INDEX,
    NGINX_MTIME,
    NGINX_VERSION,
    Request,
    Response,
    nginx_handler,
    serve_http,
)
from cnmsim.engine.images.base import PATH, AppContext, Image
from cnmsim.engine.images.registry import register
from cnmsim.kernel.sim.ipv4 import OutputError

INDEX = "/usr/share/nginx/html/index.html"
CONF = "/etc/nginx/conf.d/default.conf"
IPV6_LISTEN = "    listen  [::]:80;\n"
WORKERS = (29, 30)  # worker_processes auto: one per CPU (a 2-CPU host)
KERNEL = "6.1.0-28-amd64"  # the Debian 12 host's kernel, as nginx's "OS:" notice shows it
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
DEFAULT_CONF = """server {
    listen       80;
    server_name  localhost;

    #access_log  /var/log/nginx/host.access.log  main;

    location / {
        root   /usr/share/nginx/html;
        index  index.html index.htm;
    }

    #error_page  404              /404.html;

    # redirect server error pages to the static page /50x.html
    #
    error_page   500 502 503 504  /50x.html;
    location = /50x.html {
        root   /usr/share/nginx/html;
    }

    # proxy the PHP scripts to Apache listening on 127.0.0.1:80
    #
    #location ~ \\.php$ {
    #    proxy_pass   http://127.0.0.1;
    #}

    # pass the PHP scripts to FastCGI server listening on 127.0.0.1:9000
    #
    #location ~ \\.php$ {
    #    root           html;
    #    fastcgi_pass   127.0.0.1:9000;
    #    fastcgi_index  index.php;
    #    fastcgi_param  SCRIPT_FILENAME  /scripts$fastcgi_script_name;
    #    include        fastcgi_params;
    #}

    # deny access to .htaccess files, if Apache's document root
    # concurs with nginx's one
    #
    #location ~ /\\.ht {
    #    deny  all;
    #}
}
"""
ENTRYPOINT_D = ("10-listen-on-ipv6-by-default.sh", "15-local-resolvers.envsh",
                "20-envsubst-on-templates.sh", "30-tune-worker-processes.sh")


def time_local(t: float) -> str:
    """nginx's $time_local in a UTC container: 28/Nov/2026:10:00:00 +0000."""
    g = time.gmtime(t)
    return f"{g.tm_mday:02d}/{MONTHS[g.tm_mon - 1]}/{g.tm_year}:{time.strftime('%H:%M:%S', g)} +0000"


def error_time(t: float) -> str:
    """The error log's timestamp: 2026/11/28 10:00:00."""
    return time.strftime("%Y/%m/%d %H:%M:%S", time.gmtime(t))


def access_line(req: Request, resp: Response, sent: int, t: float) -> str:
    """One line of the image's `main` log_format (nginx.conf)."""
    h = req.headers
    return (f'{req.client[0]} - - [{time_local(t)}] "{req.method} {req.path} {req.version}" '
            f'{resp.status} {sent} "{h.get("referer", "-")}" "{h.get("user-agent", "-")}" '
            f'"{h.get("x-forwarded-for", "-")}"')


def entrypoint_lines(files: dict[str, str]) -> list[str]:
    """What docker-entrypoint.sh prints before exec'ing nginx; edits default.conf as the
    10-listen-on-ipv6 script does (once: a restarted container finds the line already there)."""
    me, ipv6 = "/docker-entrypoint.sh", "10-listen-on-ipv6-by-default.sh"
    lines = [f"{me}: /docker-entrypoint.d/ is not empty, will attempt to perform configuration",
             f"{me}: Looking for shell scripts in /docker-entrypoint.d/"]
    for script in ENTRYPOINT_D:
        verb = "Sourcing" if script.endswith(".envsh") else "Launching"
        lines.append(f"{me}: {verb} /docker-entrypoint.d/{script}")
        if script == ipv6:
            conf = files.get(CONF, DEFAULT_CONF)
            if IPV6_LISTEN in conf:
                lines.append(f"{ipv6}: info: IPv6 listen already enabled")
            else:
                lines += [f"{ipv6}: info: Getting the checksum of {CONF}",
                          f"{ipv6}: info: Enabled listen on IPv6 in {CONF}"]
                files[CONF] = conf.replace("    listen       80;\n", "    listen       80;\n" + IPV6_LISTEN, 1)
    return lines + [f"{me}: Configuration complete; ready for start up"]


class NginxSite:
    """The default server, reading index.html from the container's files on each request."""

    def __init__(self, ctx: AppContext) -> None:
        self.ctx = ctx
        self.index, self.mtime = NGINX_INDEX, NGINX_MTIME

    def handle(self, req: Request) -> Response:
        page = self.ctx.place.files.get(INDEX, NGINX_INDEX)
        if page != self.index:  # someone wrote index.html: its mtime is now
            self.index, self.mtime = page, int(self.ctx.now)
        return nginx_handler(self.index, self.mtime)(req)  # type: ignore[return-value]

    def log(self, req: Request, resp: Response, sent: int) -> None:
        self.ctx.out(access_line(req, resp, sent, self.ctx.now))


def notice(ctx: AppContext, text: str, pid: int = 1) -> None:
    ctx.err(f"{error_time(ctx.now)} [notice] {pid}#{pid}: {text}")


def runs_nginx(cmd: list[str]) -> bool:
    """Whether the container's command is nginx itself (not replaced by the user)."""
    return bool(cmd) and cmd[0].rsplit("/", 1)[-1] in ("nginx", "nginx-debug")


def start_nginx(ctx: AppContext, serve: Callable[..., Any] = serve_http) -> Any:
    """`/docker-entrypoint.sh nginx -g 'daemon off;'`; None when the command is not nginx.

    Otherwise a handle (the server, or the context while nginx retries or prints its version
    and exits): the engine must not mistake a failing nginx for a command to run itself.
    `serve` starts the HTTP server (serve_http's signature; real mode passes a real one)."""
    if not runs_nginx(ctx.cmd):
        return None
    lines = entrypoint_lines(ctx.place.files)  # the scripts run (and edit default.conf) anyway
    if not ctx.env.get("NGINX_ENTRYPOINT_QUIET_LOGS"):
        for line in lines:
            ctx.out(line)
    if "-v" in ctx.cmd[1:]:
        ctx.err(f"nginx version: nginx/{NGINX_VERSION}")
        ctx.process(_exit_soon(ctx, 0))
        return ctx
    site = NginxSite(ctx)
    try:
        srv = serve(ctx.place, 80, site.handle, server=f"nginx/{NGINX_VERSION}", on_request=site.log)
    except OutputError:
        ctx.process(_cannot_bind(ctx))
        return ctx
    for text in ('using the "epoll" event method', f"nginx/{NGINX_VERSION}",
                 "built by gcc 12.2.0 (Debian 12.2.0-14)", f"OS: Linux {KERNEL}",
                 "getrlimit(RLIMIT_NOFILE): 1048576:1048576", "start worker processes"):
        notice(ctx, text)
    for pid in WORKERS:
        notice(ctx, f"start worker process {pid}")

    def shutdown() -> None:  # SIGQUIT (the image's StopSignal): graceful shutdown
        srv.stop()
        if not ctx.graceful:
            return
        notice(ctx, "signal 3 (SIGQUIT) received, shutting down")
        for pid in WORKERS:
            for text in ("gracefully shutting down", "exiting", "exit"):
                notice(ctx, text, pid)
        for pid in WORKERS:
            notice(ctx, f"signal 17 (SIGCHLD) received from {pid}")
            notice(ctx, f"worker process {pid} exited with code 0")
        notice(ctx, "exit")
    ctx.on_stop(shutdown)
    return srv


def _exit_soon(ctx: AppContext, code: int) -> Generator[Any, Any, None]:
    yield ctx.sim.timeout(0)
    ctx.exit(code)


def _cannot_bind(ctx: AppContext) -> Generator[Any, Any, None]:
    """Port 80 taken (a shared network namespace): nginx retries five times, then exits 1."""
    for _ in range(5):
        for addr in ("0.0.0.0:80", "[::]:80"):  # the entrypoint enabled `listen [::]:80` too
            msg = f"bind() to {addr} failed (98: Address already in use)"
            ctx.err(f"{error_time(ctx.now)} [emerg] 1#1: {msg}")
            ctx.err(f"nginx: [emerg] {msg}")
        yield ctx.sim.timeout(0.5)
    ctx.err(f"{error_time(ctx.now)} [emerg] 1#1: still could not bind()")
    ctx.err("nginx: [emerg] still could not bind()")
    ctx.exit(1)


NGINX = register(Image(
    "nginx", tags=["latest", "1.27.3", "1.27", "1", "mainline", "bookworm", "1.27.3-bookworm"],
    exposed_ports=["80/tcp"], cmd=["nginx", "-g", "daemon off;"], entrypoint=["/docker-entrypoint.sh"],
    env=[PATH, f"NGINX_VERSION={NGINX_VERSION}", "NJS_VERSION=0.8.7", "NJS_RELEASE=1~bookworm",
         "PKG_RELEASE=1~bookworm", "DYNPKG_RELEASE=1~bookworm"],
    labels={"maintainer": "NGINX Docker Maintainers <docker-maint@nginx.com>"}, stop_signal="SIGQUIT",
    files={INDEX: NGINX_INDEX, CONF: DEFAULT_CONF}, size=192_000_000,
    missing=frozenset({"ping", "ip", "ss", "nc", "tcpdump", "traceroute", "nslookup", "dig", "ifconfig"}),
    app=start_nginx))
