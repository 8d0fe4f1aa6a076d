"""Images that start no server: their command is a shell, which the engine runs as any command
(`docker run busybox` exits at once without a terminal; `docker run -it busybox` is a shell).

busybox and alpine answer in busybox's words (ping, ip, nc, nslookup, wget are its applets);
nicolaka/netshoot is alpine with the full tools (iputils, iproute2, curl, tcpdump ...); ubuntu
and debian are the minimal images, whose real versions lack ping, ip and curl (`missing`).
Sources: the images' Dockerfiles (docker-library busybox/alpine/debian/ubuntu, nicolaka/netshoot).
"""

from __future__ import annotations

from cnmsim.engine.images.base import PATH, Image
from cnmsim.engine.images.registry import register

NO_NET_TOOLS = frozenset({"ping", "ip", "ss", "curl", "wget", "nc", "tcpdump", "traceroute",
                          "nslookup", "dig", "ifconfig", "iptables"})

BUSYBOX = register(Image(
    "busybox", tags=["latest", "1.37", "1.37.0", "1.36", "1.36.1", "stable", "glibc", "musl", "uclibc"],
    cmd=["sh"], flavour="busybox", size=4_270_000,
    missing=frozenset({"curl", "tcpdump", "dig", "ss", "iptables"})))

ALPINE = register(Image(
    "alpine", tags=["latest", "3.21", "3.21.0", "3", "3.20", "3.19", "edge"],
    cmd=["/bin/sh"], flavour="busybox", size=7_830_000,
    missing=frozenset({"curl", "tcpdump", "dig", "ss", "iptables"})))

NETSHOOT = register(Image(
    "nicolaka/netshoot", tags=["latest", "v0.13"], cmd=["zsh"], env=[PATH, "HOSTNAME=netshoot"],
    working_dir="/root", flavour="iputils", size=447_000_000))

UBUNTU = register(Image(
    "ubuntu", tags=["latest", "24.04", "noble", "22.04", "jammy"], cmd=["/bin/bash"],
    labels={"org.opencontainers.image.ref.name": "ubuntu", "org.opencontainers.image.version": "24.04"},
    size=78_100_000, missing=NO_NET_TOOLS))

DEBIAN = register(Image(
    "debian", tags=["latest", "12", "bookworm", "bookworm-slim", "12-slim", "stable"], cmd=["bash"],
    size=117_000_000, missing=NO_NET_TOOLS))
