"""The `docker` command: the CLI front end of the host's engine (cnmsim.docker)."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

from cnmsim.shell.registry import Proc, command


@command("docker")
def docker(proc: Proc) -> Generator[Any, Any, int]:
    from cnmsim.docker.cli import main

    return (yield from main(proc))
