"""The set of used addresses of one pool, after moby's `internal/addrset` over `bitmap/sequence.go`.

Addresses are offsets from the pool's first address.  `add_any` finds the lowest free offset
in a range (`Bitmap.SetAny`/`SetAnyInRange`); with `serial` it starts after the offset handed
out last and wraps to the start of the range (`getAvailableFromCurrent`).  The "last handed
out" cursor moves on every any-allocation, serial or not, but not on a specific `add`
(`Bitmap.set`: `h.curr = ret + 1` only in the `any` branch).

Speed: a set of ints plus, per range start, a hint below which everything is used, so
sequential allocation is O(1) and a /8 costs no memory up front.
"""

from __future__ import annotations


class Allocated(Exception):
    """The offset is already in the set (addrset.ErrAllocated)."""


class NotAvailable(Exception):
    """No free offset in the range (addrset.ErrNotAvailable)."""


class AddrSet:
    """Used offsets of a pool of `size` addresses."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.used: set[int] = set()
        self.curr = 0  # the scan position for serial allocation (Bitmap.curr)
        self._hints: dict[int, int] = {}  # range start -> every offset in [start, hint) is used

    def __len__(self) -> int:
        return len(self.used)

    def __contains__(self, offset: int) -> bool:
        return offset in self.used

    def add(self, offset: int) -> None:
        """Mark one specific offset (a preferred address, the gateway, an aux address)."""
        if offset in self.used:
            raise Allocated(offset)
        self.used.add(offset)

    def remove(self, offset: int) -> None:
        """Unmark an offset; removing a free one is not an error (AddrSet.Remove)."""
        if offset not in self.used:
            return
        self.used.discard(offset)
        for start, hint in self._hints.items():
            if start <= offset < hint:
                self._hints[start] = offset

    def add_any(self, start: int = 0, end: int | None = None, serial: bool = False) -> int:
        """Mark and return the lowest free offset in [start, end] (from the cursor if serial)."""
        end = self.size - 1 if end is None else end
        if len(self.used) >= self.size:
            raise NotAvailable()
        hint = max(start, self._hints.get(start, start))
        found = None
        if serial and self.curr != 0 and self.curr > start:
            found = self._scan(max(self.curr, hint), end)
        if found is None:
            found = self._scan(hint, end)
            self._hints[start] = end + 1 if found is None else found + 1
        if found is None:
            raise NotAvailable()
        self.used.add(found)
        self.curr = found + 1
        return found

    def _scan(self, frm: int, end: int) -> int | None:
        used = self.used
        for offset in range(frm, end + 1):
            if offset not in used:
                return offset
        return None
