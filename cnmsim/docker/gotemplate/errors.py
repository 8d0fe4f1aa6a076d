"""Go's text/template errors: a template that does not parse, and one that fails executing.

``str()`` is Go's message; the docker CLI adds its own prefix (``template parsing error: ``).
"""

from __future__ import annotations


class TemplateError(Exception):
    """A --format that does not parse; ``str()`` is Go's message."""


class ExecError(Exception):
    """A template that failed while executing; ``partial`` is what it wrote before failing."""

    def __init__(self, message: str, partial: str = "") -> None:
        super().__init__(message)
        self.partial = partial
