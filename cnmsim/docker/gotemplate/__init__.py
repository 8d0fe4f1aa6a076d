"""Go's text/template as the docker CLI runs it for ``--format``.

The lexer, parser and executor follow golang/go src/text/template (parse/lex.go, parse/parse.go,
exec.go, funcs.go) closely enough to give Go's output and Go's error text: a bad template raises
TemplateError (``template: :1: unexpected "}" in operand``), a failing one ExecError
(``template: :1:2: executing "" at <.Foo>: map has no entry for key "Foo"``). The docker CLI adds
its own prefix (``template parsing error: ``) for both.

Functions are Go's builtins plus docker/cli templates/templates.go (json, split, join, title,
lower, upper, pad, truncate); HEADER_FUNCS are docker's identity versions used for table headers.
Python data stands for Go values as described in cnmsim.docker.jsonout (dict = map, GoStruct,
GoMap, GoNil, JSONNumber). Values are printed as fmt.Sprint does (see gofmt).

The package follows Go's files: lex (parse/lex.go), tree (parse/node.go), parser (parse/parse.go),
exec (exec.go), funcs (funcs.go and docker's templates.go), gofmt (fmt and strconv.Quote),
template (Template, parse, render, strip_table), errors (TemplateError, ExecError).
"""

from cnmsim.docker.gotemplate.errors import ExecError, TemplateError
from cnmsim.docker.gotemplate.funcs import DOCKER_FUNCS, HEADER_FUNCS, is_true
from cnmsim.docker.gotemplate.gofmt import go_quote, go_sprint, go_sprintf, go_sprintln
from cnmsim.docker.gotemplate.template import Template, parse, render, strip_table

__all__ = ["TemplateError", "ExecError", "Template", "parse", "render", "strip_table",
           "DOCKER_FUNCS", "HEADER_FUNCS", "is_true", "go_quote", "go_sprint", "go_sprintf",
           "go_sprintln"]
