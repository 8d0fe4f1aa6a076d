"""The images the simulated engine can run, and the registry that names them.

    from cnmsim.engine.images import AppContext, lookup, run_error
    image = lookup("nginx:latest")          # None -> print run_error("...") and exit RUN_EXIT
    image.start(AppContext(place, env, cmd, log))
Built-in: nginx, consul (hashicorp/consul), chrch/docker-pets, busybox, alpine, nicolaka/netshoot,
ubuntu, debian.  More come from the entry-point group `cnmsim.images` (see registry.py).
"""

from cnmsim.engine.images.base import AppContext, Image
from cnmsim.engine.images.registry import (
    IMAGES,
    PULL_EXIT,
    RUN_EXIT,
    daemon_error,
    familiar,
    load_builtin,
    lookup,
    parse_ref,
    pull_error,
    register,
    run_error,
)

load_builtin()

__all__ = ["IMAGES", "PULL_EXIT", "RUN_EXIT", "AppContext", "Image", "daemon_error", "familiar",
           "lookup", "parse_ref", "pull_error", "register", "run_error"]
