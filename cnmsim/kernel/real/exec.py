"""Start real programs inside a lab namespace, seeing the place's own /etc files.

`ip netns exec NAME CMD` enters the namespace and, in a private mount namespace, bind-mounts each
file of /etc/netns/NAME/ over /etc (ip-netns(8)): that is how a real ping inside a container
namespace reads the container's /etc/hosts and /etc/resolv.conf (127.0.0.11, the embedded DNS)
instead of the machine's.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Mapping

ETC_NETNS = "/etc/netns"
ETC_FILES = ("/etc/hosts", "/etc/resolv.conf")  # what a container's sandbox gets from the engine


def netns_argv(real_name: str, argv: list[str]) -> list[str]:
    """The argv that runs `argv` inside namespace `real_name` with its /etc/netns files."""
    return ["ip", "netns", "exec", real_name, *argv]


def write_etc(real_name: str, files: Mapping[str, str]) -> None:
    """Publish a place's /etc/hosts and /etc/resolv.conf for `ip netns exec` to bind-mount.

    Only files that exist on the machine can be bind-mounted over, so only ETC_FILES are written.
    """
    d = os.path.join(ETC_NETNS, real_name)
    os.makedirs(d, exist_ok=True)
    for path in ETC_FILES:
        text = files.get(path)
        if text is None:
            continue
        target = os.path.join(d, os.path.basename(path))
        try:
            with open(target) as f:
                if f.read() == text:
                    continue
        except FileNotFoundError:
            pass
        with open(target, "w") as f:
            f.write(text)


def drop_etc(real_name: str) -> None:
    shutil.rmtree(os.path.join(ETC_NETNS, real_name), ignore_errors=True)


def run(real_name: str, argv: list[str], stdin: str = "", timeout: float | None = None,
        env: Mapping[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run a program to completion inside the namespace; (exit code, stdout, stderr)."""
    return subprocess.run(netns_argv(real_name, argv), input=stdin, capture_output=True, text=True,
                          timeout=timeout, env=dict(env) if env is not None else None)
