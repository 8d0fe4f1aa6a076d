"""The engine's iptables client, after libnetwork's iptables package: exists / insert / append /
delete one rule, ensure a chain, all as iptables-restore text handed to the kernel api.

Rules are written in the canonical order `iptables -S` prints, so "does it exist" is a
comparison with the `iptables-save` lines, as `iptables -C` would answer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cnmsim.kernel import api


class Iptables:
    """One namespace's tables, as the engine sees them."""

    def __init__(self, ns: api.Netns) -> None:
        self.ns = ns

    def _lines(self, table: str) -> list[str]:
        return self.ns.iptables_save(table).splitlines()

    def chain_exists(self, table: str, chain: str) -> bool:
        return any(line.split(" ", 1)[0] == f":{chain}" for line in self._lines(table))

    def exists(self, table: str, chain: str, rule: str) -> bool:
        return f"-A {chain} {rule}" in self._lines(table)

    def rules(self, table: str, chain: str) -> list[str]:
        """The chain's rules as `iptables -S` prints them, without the `-A CHAIN ` prefix."""
        head = f"-A {chain} "
        return [line[len(head):] for line in self._lines(table) if line.startswith(head)]

    def restore(self, table: str, *lines: str) -> None:
        self.ns.iptables_restore(f"*{table}\n" + "".join(f"{x}\n" for x in lines) + "COMMIT\n", noflush=True)

    def ensure_chain(self, table: str, chain: str) -> bool:
        """`iptables -t TABLE -N CHAIN` unless it exists; True when it was created."""
        if self.chain_exists(table, chain):
            return False
        self.restore(table, f"-N {chain}")
        return True

    def insert(self, table: str, chain: str, rule: str, pos: int | None = None) -> bool:
        """`-I CHAIN [POS] RULE` unless the rule is already there (libnetwork's programChainRule)."""
        if self.exists(table, chain, rule):
            return False
        self.restore(table, f"-I {chain} {pos} {rule}" if pos else f"-I {chain} {rule}")
        return True

    def append(self, table: str, chain: str, rule: str) -> bool:
        if self.exists(table, chain, rule):
            return False
        self.restore(table, f"-A {chain} {rule}")
        return True

    def delete(self, table: str, chain: str, rule: str) -> bool:
        if not self.exists(table, chain, rule):
            return False
        self.restore(table, f"-D {chain} {rule}")
        return True

    def policy(self, table: str, chain: str, target: str) -> None:
        self.restore(table, f"-P {chain} {target}")

    def ensure_first(self, table: str, chain: str, rule: str) -> None:
        """Delete then insert at the top: how the engine keeps `-j DOCKER-USER` first in FORWARD."""
        self.delete(table, chain, rule)
        self.restore(table, f"-I {chain} {rule}")
