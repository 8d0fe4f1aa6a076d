"""Where drivers come from: Python entry points, the same for built-in and third-party ones.

    [project.entry-points."cnmsim.network_drivers"]
    calico-like = "mypkg.driver:RoutedDriver"      # a class taking a DriverContext
    [project.entry-points."cnmsim.ipam_drivers"]
    table = "mypkg.ipam:TableIpam"

This is cnmsim's "remote driver" interface: the reference architecture's remote drivers and
remote IPAM plug-ins register with the engine by name and are then used with
`docker network create -d NAME` / `--ipam-driver NAME`.
"""

from __future__ import annotations

from importlib.metadata import entry_points
from typing import Any

NETWORK_GROUP = "cnmsim.network_drivers"
IPAM_GROUP = "cnmsim.ipam_drivers"
_cache: dict[str, dict[str, Any]] = {}


def available(group: str) -> dict[str, Any]:
    """name -> entry point of every installed plug-in of the group (loaded lazily)."""
    if group not in _cache:
        _cache[group] = {ep.name: ep for ep in entry_points(group=group)}
    return _cache[group]


def load(group: str, name: str) -> Any | None:
    ep = available(group).get(name)
    return None if ep is None else ep.load()


def refresh() -> None:
    """Forget what was found (after installing a plug-in package in a running interpreter)."""
    _cache.clear()
