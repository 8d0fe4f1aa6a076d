"""The null driver behind the `none` network: a sandbox with only its loopback (drivers/null)."""

from __future__ import annotations

from cnmsim.engine.drivers.special import SpecialDriver


class NullDriver(SpecialDriver):
    name = "null"
