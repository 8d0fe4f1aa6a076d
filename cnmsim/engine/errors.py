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
