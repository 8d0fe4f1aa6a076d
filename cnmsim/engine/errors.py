"""Refusals with the real engine's words.

The docker CLI prints a daemon refusal as `Error response from daemon: MESSAGE` and exits 1
(`docker run`/`create` exit 125 instead); the engine keeps the state it had before.
"""

from __future__ import annotations


class EngineError(Exception):
    """A request the engine refused; `str(e)` is the daemon's message (without the prefix)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status  # the HTTP status the API would answer with (404 not found, 409 conflict ...)


class NotFound(EngineError):
    def __init__(self, message: str) -> None:
        super().__init__(message, 404)


class Conflict(EngineError):
    def __init__(self, message: str) -> None:
        super().__init__(message, 409)


class Forbidden(EngineError):
    def __init__(self, message: str) -> None:
        super().__init__(message, 403)


def find_by_ref(items: list, ref: str, name_of: object, not_found: str, ambiguous: str) -> object:
    """The daemon's lookup of a network or container: full id, then name, then a unique id
    prefix; `not_found` / `ambiguous` are the messages ({ref} and {n} are filled in)."""
    for x in items:
        if x.id == ref:
            return x
    for x in items:
        if name_of(x) == ref:  # type: ignore[operator]
            return x
    pref = [x for x in items if ref and x.id.startswith(ref)]
    if len(pref) == 1:
        return pref[0]
    if len(pref) > 1:
        raise EngineError(ambiguous.format(ref=ref, n=len(pref)))
    raise NotFound(not_found.format(ref=ref))
