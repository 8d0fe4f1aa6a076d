"""Devices stacked on a lower device (macvlan, 802.1q): carrier, MTU limit and `@lower` follow it."""

from __future__ import annotations

from cnmsim.kernel.sim.devices.base import NetDevice


class StackedDevice(NetDevice):
    """A device whose `lower` carries its frames (netif_stacked_transfer_operstate)."""

    lower: NetDevice

    @property
    def lower_up(self) -> bool:
        return self.admin_up and self.lower.running

    @property
    def max_mtu(self) -> int:
        return self.lower.mtu

    def link_desc(self) -> tuple[str | None, int | None, bool]:
        return self.lower.name, self.lower.ifindex, self.lower.ns is not self.ns
