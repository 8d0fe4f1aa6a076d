"""A parsed template and docker's entry points (templates.Parse, Format.IsTable)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from cnmsim.docker.gotemplate.errors import ExecError
from cnmsim.docker.gotemplate.exec import _State
from cnmsim.docker.gotemplate.funcs import _BUILTINS, DOCKER_FUNCS, _as_func, _Func
from cnmsim.docker.gotemplate.parser import _Parser
from cnmsim.docker.jsonout import NO_VALUE


class Template:
    """A parsed template with docker's functions (templates.Parse)."""

    def __init__(self, text: str, funcs: Mapping[str, Callable[..., Any]] | None = None) -> None:
        self.text = text
        self.funcs: dict[str, _Func] = {**_BUILTINS, **DOCKER_FUNCS}
        self.funcs.update({k: _as_func(f) for k, f in (funcs or {}).items()})
        parser = _Parser(text, set(self.funcs))
        self.root = parser.parse()
        self.defs = parser.defs

    def execute(self, data: Any, *, missingkey: str = "default",
                funcs: Mapping[str, Any] | None = None) -> str:
        """Run the template on ``data``; ``missingkey`` is Go's option: default, zero or error.

        ``funcs`` replaces functions for this run (docker passes HEADER_FUNCS for headers).
        """
        fs = {**self.funcs, **{k: _as_func(f) for k, f in (funcs or {}).items()}}
        state = _State(self, NO_VALUE if data is None else data, missingkey, fs)
        try:
            state.walk(state.vars[0][1], self.root)
        except ExecError as e:
            e.partial = "".join(state.out)
            raise
        return "".join(state.out)


def parse(text: str, funcs: Mapping[str, Callable[..., Any]] | None = None) -> Template:
    """templates.Parse: the template with Go's builtins and docker's functions (+ ``funcs``)."""
    return Template(text, funcs)


def render(text: str, data: Any, *, missingkey: str = "default") -> str:
    """Parse and execute in one go (raises TemplateError or ExecError)."""
    return parse(text).execute(data, missingkey=missingkey)


def strip_table(fmt: str) -> tuple[str, bool]:
    """Format.IsTable and its strip: a leading ``table`` is cut off and reported."""
    return (fmt[len("table"):], True) if fmt.startswith("table") else (fmt, False)
