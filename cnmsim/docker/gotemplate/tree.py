"""The parse tree of Go's text/template (parse/node.go).

str() is each node's String(), used in error messages.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cnmsim.docker.gotemplate.gofmt import go_quote


@dataclass(slots=True)
class _Text:
    pos: int
    text: str

    def __str__(self) -> str:
        return self.text


@dataclass(slots=True)
class _Field:
    pos: int
    ident: list[str]

    def __str__(self) -> str:
        return "".join("." + i for i in self.ident)


@dataclass(slots=True)
class _Var:
    pos: int
    ident: list[str]

    def __str__(self) -> str:
        return ".".join(self.ident)


@dataclass(slots=True)
class _Ident:
    pos: int
    name: str

    def __str__(self) -> str:
        return self.name


@dataclass(slots=True)
class _Literal:
    """Dot, nil, a bool or a string: ``text`` is how it was written."""

    pos: int
    kind: str  # "dot", "nil", "bool", "string"
    text: str
    value: Any = None

    def __str__(self) -> str:
        return self.text


@dataclass(slots=True)
class _Number:
    pos: int
    text: str
    int_val: int | None = None  # set when the constant is an integer that fits int64
    uint_ok: bool = False
    float_val: float | None = None
    complex_val: complex | None = None

    def __str__(self) -> str:
        return self.text


@dataclass(slots=True)
class _Chain:
    pos: int
    node: Any
    fields: list[str]

    def __str__(self) -> str:
        head = f"({self.node})" if isinstance(self.node, _Pipe) else str(self.node)
        return head + "".join("." + f for f in self.fields)


@dataclass(slots=True)
class _Command:
    pos: int
    args: list[Any] = field(default_factory=list)

    def __str__(self) -> str:
        return " ".join(f"({a})" if isinstance(a, _Pipe) else str(a) for a in self.args)


@dataclass(slots=True)
class _Pipe:
    pos: int
    line: int
    decl: list[_Var] = field(default_factory=list)
    is_assign: bool = False
    cmds: list[_Command] = field(default_factory=list)

    def __str__(self) -> str:
        head = ""
        if self.decl:
            head = ", ".join(map(str, self.decl)) + (" = " if self.is_assign else " := ")
        return head + " | ".join(map(str, self.cmds))


@dataclass(slots=True)
class _Action:
    pos: int
    line: int
    pipe: _Pipe

    def __str__(self) -> str:
        return "{{" + str(self.pipe) + "}}"


@dataclass(slots=True)
class _List:
    pos: int
    nodes: list[Any] = field(default_factory=list)

    def __str__(self) -> str:
        return "".join(map(str, self.nodes))


@dataclass(slots=True)
class _Branch:
    """An if, range or with block."""

    kind: str
    pos: int
    line: int
    pipe: _Pipe
    list: _List
    else_list: _List | None

    def __str__(self) -> str:
        tail = "{{else}}" + str(self.else_list) if self.else_list is not None else ""
        return f"{{{{{self.kind} {self.pipe}}}}}{self.list}{tail}{{{{end}}}}"


@dataclass(slots=True)
class _TemplateCall:
    pos: int
    line: int
    name: str
    pipe: _Pipe | None

    def __str__(self) -> str:
        tail = f" {self.pipe}" if self.pipe is not None else ""
        return f"{{{{template {go_quote(self.name)}{tail}}}}}"


@dataclass(slots=True)
class _Control:
    """break, continue, and the end/else markers the parser hands back to its caller."""

    kind: str
    pos: int
    line: int = 0

    def __str__(self) -> str:
        return "{{" + self.kind + "}}"
