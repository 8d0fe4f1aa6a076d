"""The docker CLI's output layer: Go templates, tabwriter tables, inspect JSON, humanised units.

Expected strings come from Go's documentation and tests (text/template doc.go and parse_test.go,
text/tabwriter's examples) and from docker/cli, docker/go-units and moby sources.
"""

from __future__ import annotations

import pytest

from cnmsim.docker import gotemplate, jsonout, table, units
from cnmsim.docker.gotemplate import ExecError, TemplateError, go_sprintf, render
from cnmsim.docker.jsonout import NIL_PTR, NIL_SLICE, GoMap, GoStruct, InspectError

CONTAINER = {
    "Name": "/web",
    "Args": ["-c", "sleep 1000"],
    "Config": {"Env": ["PATH=/usr/bin", "Q=a<b&c"], "Labels": {"com.x": "y", "a": "b"}},
    "State": {"Status": "running", "ExitCode": 0},
    "NetworkSettings": {"Networks": {
        "petsBridge": {"IPAddress": "172.18.0.2"}, "bridge": {"IPAddress": "172.17.0.2"}}},
}


# ------------------------------------------------------------------------------- templates
@pytest.mark.parametrize("tmpl, out", [
    ("{{.NetworkSettings.Networks.petsBridge.IPAddress}}", "172.18.0.2"),
    ("{{json .Config.Env}}", '["PATH=/usr/bin","Q=a<b&c"]'),  # docker's json: no HTML escaping
    ("{{range $k, $v := .NetworkSettings.Networks}}{{$k}} {{$v.IPAddress}};{{end}}",
     "bridge 172.17.0.2;petsBridge 172.18.0.2;"),  # maps range in key order
    ('{{index .Config.Labels "com.x"}}', "y"),
    ("{{range .Args}}{{.}} {{end}}", "-c sleep 1000 "),
    ("{{.Nope}}", "<no value>"),
    ("{{.Config.Nope.Deeper}}", "<no value>"),
    ('{{if eq .State.Status "running"}}up{{end}}', "up"),
    ('{{if eq .State.Status "exited"}}up{{else if .Name}}named{{else}}x{{end}}', "named"),
    ('{{join .Args ","}}', "-c,sleep 1000"),
    ("{{.Name | upper}}", "/WEB"),
    ('{{lower "ABC"}} {{title "hello docker-world"}}', "abc Hello Docker-World"),
    ('{{split "a:b:c" ":"}}', "[a b c]"),
    ('{{pad "x" 2 1}}|{{pad "" 2 1}}|{{truncate "abcdef" 3}}', "  x ||abc"),
    ("{{.Config}}", "map[Env:[PATH=/usr/bin Q=a<b&c] Labels:map[a:b com.x:y]]"),
    ("{{.State.ExitCode}} {{len .Args}} {{len .Config.Labels}}", "0 2 2"),
    ("{{with .State}}{{.Status}}{{end}}{{with .Nope}}x{{else}}none{{end}}", "runningnone"),
    ("{{range .Nope}}x{{else}}empty{{end}}", "empty"),
    ("{{$n := .Name}}{{range .Args}}{{$n}}{{end}} {{$.Name}}", "/web/web /web"),
    ("{{range $i, $a := .Args}}{{if $i}},{{end}}{{$a}}{{end}}", "-c,sleep 1000"),
    ('{{range .Args}}{{if eq . "-c"}}{{continue}}{{end}}{{.}}{{break}}{{end}}', "sleep 1000"),
    ("{{and 1 0}} {{or 0 \"\" \"z\"}} {{not .Nope}} {{lt 1 2}} {{ge \"b\" \"a\"}}", "0 z true true true"),
    ('{{print 1 2 "a" 3 "b"}}', "1 2a3b"),
    ('{{println "x" 1}}', "x 1\n"),
    ("{{1.5}} {{1e6}} {{'a'}} {{0x10}} {{true}} {{print nil}}", "1.5 1e+06 97 16 true <nil>"),
    # trim markers and comments (doc.go)
    ("{{23 -}} < {{- 45}}", "23<45"),
    ("a\n  {{- /* comment */ -}}\n  b", "ab"),
])
def test_template_output(tmpl: str, out: str) -> None:
    assert render(tmpl, CONTAINER) == out


@pytest.mark.parametrize("tmpl", [
    # the ten pipelines of text/template doc.go that all print "output" quoted
    '{{"\\"output\\""}}', '{{`"output"`}}', '{{printf "%q" "output"}}',
    '{{"output" | printf "%q"}}', '{{printf "%q" (print "out" "put")}}',
    '{{"put" | printf "%s%s" "out" | printf "%q"}}', '{{"output" | printf "%s" | printf "%q"}}',
    '{{with "output"}}{{printf "%q" .}}{{end}}',
    '{{with $x := "output" | printf "%q"}}{{$x}}{{end}}',
    '{{with $x := "output"}}{{printf "%q" $x}}{{end}}',
])
def test_go_doc_pipelines(tmpl: str) -> None:
    assert render(tmpl, None) == '"output"'


@pytest.mark.parametrize("tmpl, msg", [
    ("{{.Name}", 'template: :1: unexpected "}" in operand'),
    ("{{if .X}}", "template: :1: unexpected EOF"),
    ("{{end}}", "template: :1: unexpected {{end}}"),
    ("{{foo}}", 'template: :1: function "foo" not defined'),
    ("{{$x}}", 'template: :1: undefined variable "$x"'),
    ("{{}}", "template: :1: missing value for command"),
    ('{{"abc}}', "template: :1: unterminated quoted string"),
    ("line1\n{{", "template: :2: unclosed action"),
    ("{{.X (1 2 3}}", "template: :1: unclosed left paren"),
    ("{{.X 1 2 3 ) }}", "template: :1: unexpected right paren U+0029 ')'"),
    ("{{a#}}", "template: :1: bad character U+0023 '#'"),
    ("{{12|false}}", "template: :1: non executable command in pipeline stage 2"),
    ("{{range $k, .}}{{end}}", "template: :1: range can only initialize variables"),
    ("{{/*}}", "template: :1: unclosed comment"),
    ("{{range .}}{{end}} {{break}}", "template: :1: {{break}} outside {{range}}"),
])
def test_parse_errors(tmpl: str, msg: str) -> None:
    with pytest.raises(TemplateError) as e:
        gotemplate.parse(tmpl)
    assert str(e.value) == msg


@pytest.mark.parametrize("tmpl, msg", [
    ("{{index .Args 5}}", 'template: :1:2: executing "" at <index .Args 5>: '
                          "error calling index: index out of range: 5"),
    ("{{.Name.Foo}}", 'template: :1:7: executing "" at <.Name.Foo>: '
                      "can't evaluate field Foo in type string"),
    ('{{eq 1 "a"}}', 'template: :1:2: executing "" at <eq 1 "a">: '
                     "error calling eq: incompatible types for comparison: int and string"),
    ("{{range .Name}}{{end}}", 'template: :1:8: executing "" at <.Name>: '
                               "range can't iterate over /web"),
    ("{{json}}", 'template: :1:2: executing "" at <json>: wrong number of args for json: want 1 got 0'),
    ("{{upper 3}}", 'template: :1:8: executing "" at <3>: expected string; found 3'),
    ("{{.Name 1}}", 'template: :1:2: executing "" at <.Name>: Name is not a method but has arguments'),
    ("{{nil | print}}", 'template: :1:2: executing "" at <nil>: nil is not a command'),
])
def test_exec_errors(tmpl: str, msg: str) -> None:
    with pytest.raises(ExecError) as e:
        render(tmpl, CONTAINER)
    assert str(e.value) == msg


def test_missingkey_error_and_structs() -> None:
    with pytest.raises(ExecError, match='map has no entry for key "Foo"'):
        render("{{.State.Foo}}", CONTAINER, missingkey="error")
    row = GoStruct({"ID": "abc", "Label": lambda k: {"a": "1"}.get(k, "")},
                   "*formatter.ContainerContext")
    assert render('{{.ID}} {{.Label "a"}}|{{.Label "b"}}|{{.}}', row) == "abc 1||{abc}"
    with pytest.raises(ExecError, match="can't evaluate field Foo in type \\*formatter.ContainerContext"):
        render("{{.Foo}}", row)
    typed = GoStruct({"Cmd": NIL_SLICE, "Health": NIL_PTR, "Labels": GoMap({"a": "1"})})
    assert render('{{.Cmd}}|{{.Health}}|{{index .Labels "zz"}}|{{.Labels.zz}}', typed) == \
        "[]|<nil>||<no value>"


def test_strip_table() -> None:
    assert gotemplate.strip_table("table {{.ID}}") == (" {{.ID}}", True)
    assert gotemplate.strip_table("{{.ID}}") == ("{{.ID}}", False)
    assert table.pre_format("table {{.ID}}\\t{{.Name}}") == ("{{.ID}}\t{{.Name}}", True)
    assert table.pre_format("json") == ("{{json .}}", False)


def test_sprintf_verbs() -> None:
    assert go_sprintf("%s|%d|%v|%q|%5d|%-5s|%05d|%x|%.2f", "a", 3, [1, "b"], "x\n", 42, "ab", -42,
                      255, 3.14159) == 'a|3|[1 b]|"x\\n"|   42|ab   |-0042|ff|3.14'
    assert go_sprintf("%d %s", "x") == "%!d(string=x) %!s(MISSING)"
    assert go_sprintf("%s", "a", 1) == "a%!(EXTRA int=1)"


# ------------------------------------------------------------------------------- tables
NETWORKS = [GoStruct({"ID": i, "Name": n, "Driver": d, "Scope": "local"})
            for i, n, d in (("7fca4eb8c647", "bridge", "bridge"), ("9f904ee27bf5", "host", "host"),
                            ("cf03ee007fb4", "none", "null"))]
NETWORK_HEADERS = {"ID": "NETWORK ID", "Name": "NAME", "Driver": "DRIVER", "Scope": "SCOPE"}


def test_network_ls_table() -> None:
    out = table.format_rows("table {{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}",
                            NETWORK_HEADERS, NETWORKS)
    assert out == ("NETWORK ID     NAME      DRIVER    SCOPE\n"
                   "7fca4eb8c647   bridge    bridge    local\n"
                   "9f904ee27bf5   host      host      local\n"
                   "cf03ee007fb4   none      null      local\n")


def test_docker_ps_table_widths() -> None:
    row = ["f1e5a9b5c3d2", "nginx", units.command_column("/docker-entrypoint.sh nginx -g 'daemon off;'"),
           units.ago(97, 100), units.container_status(100, running=True, started_at=98),
           units.displayable_ports([{"IP": "0.0.0.0", "PrivatePort": 80, "PublicPort": 8080, "Type": "tcp"},
                                    {"IP": "::", "PrivatePort": 80, "PublicPort": 8080, "Type": "tcp"}]),
           "web"]
    out = table.tabwrite([["CONTAINER ID", "IMAGE", "COMMAND", "CREATED", "STATUS", "PORTS", "NAMES"], row])
    assert out == (
        "CONTAINER ID   IMAGE     COMMAND                  CREATED         STATUS         "
        "PORTS                                   NAMES\n"
        'f1e5a9b5c3d2   nginx     "/docker-entrypoint.…"   3 seconds ago   Up 2 seconds   '
        "0.0.0.0:8080->80/tcp, :::8080->80/tcp   web\n")


def test_plain_format_and_errors() -> None:
    assert table.format_rows("{{.Name}}: {{.ID}}", NETWORK_HEADERS, NETWORKS[:2]) == \
        "bridge: 7fca4eb8c647\nhost: 9f904ee27bf5\n"
    # header functions leave column names alone, pad still pads
    assert table.format_rows("table {{.Name | upper}}\t{{pad .Scope 1 0}}", NETWORK_HEADERS, NETWORKS[:1]) == \
        "NAME       SCOPE\nBRIDGE     local\n"
    with pytest.raises(table.FormatError) as e:
        table.format_rows("{{.ID}", NETWORK_HEADERS, NETWORKS)
    assert str(e.value) == 'template parsing error: template: :1: unexpected "}" in operand'
    with pytest.raises(table.FormatError, match="can't evaluate field Foo in type struct"):
        table.format_rows("{{.Foo}}", NETWORK_HEADERS, NETWORKS)


def test_tabwriter_semantics() -> None:
    # text/tabwriter's doc comment: b and c are in distinct columns, d and e in none
    assert table.tabwrite_text("aaaa\tbbb\td\naa\tb\tdd\na\t\naa\tcccc\teee\n", 0, 8, 1, ".") == \
        "aaaa.bbb.d\naa...b...dd\na....\naa...cccc.eee\n"
    # ExampleWriter_Init: tab padding with a tab stop of 8
    assert table.tabwrite_text("a\tb\tc\td\t.\n123\t12345\t1234567\t123456789\t.\n\n", 0, 8, 0, "\t") == \
        "a\tb\tc\td\t\t.\n123\t12345\t1234567\t123456789\t.\n\n"
    # columns are at least 10 wide (minwidth) and the last cell is never padded
    assert table.tabwrite([["A", "B"], ["x", "y"]]) == "A         B\nx         y\n"
    assert table.string_width("日本") == 4


# ------------------------------------------------------------------------------- units
@pytest.mark.parametrize("secs, text", [
    (0, "Less than a second"), (0.99, "Less than a second"), (1, "1 second"), (1.9, "1 second"),
    (2, "2 seconds"), (59.9, "59 seconds"), (60, "About a minute"), (119, "About a minute"),
    (120, "2 minutes"), (3599, "59 minutes"), (3600, "About an hour"), (5399, "About an hour"),
    (5400, "2 hours"), (47 * 3600, "47 hours"), (47.5 * 3600, "2 days"), (13 * 86400, "13 days"),
    (14 * 86400, "2 weeks"), (59 * 86400, "8 weeks"), (60 * 86400, "2 months"),
    (729 * 86400, "24 months"), (730 * 86400, "2 years"),
])
def test_human_duration(secs: float, text: str) -> None:
    assert units.human_duration(secs) == text


def test_status_and_sizes() -> None:
    assert units.container_status(100, running=True, started_at=95) == "Up 5 seconds"
    assert units.container_status(200, running=True, started_at=100) == "Up About a minute"
    assert units.container_status(100, running=True, started_at=0, paused=True) == "Up About a minute (Paused)"
    assert units.container_status(100, running=True, started_at=90, health="starting") == \
        "Up 10 seconds (health: starting)"
    assert units.container_status(100, started_at=10, finished_at=97, exit_code=137) == \
        "Exited (137) 3 seconds ago"
    assert units.container_status(100) == "Created"
    assert units.ago(40, 100) == "About a minute ago"
    assert units.size_column(2, 21_500_000) == "2B (virtual 21.5MB)"
    assert units.bytes_size(1.5 * 2**30) == "1.5GiB"


def test_ports() -> None:
    ports = [{"IP": "0.0.0.0", "PrivatePort": 5000, "PublicPort": 8000, "Type": "tcp"},
             {"PrivatePort": 80, "Type": "tcp"}, {"PrivatePort": 81, "Type": "tcp"},
             {"PrivatePort": 443, "Type": "tcp"}, {"PrivatePort": 53, "Type": "udp"},
             {"IP": "0.0.0.0", "PrivatePort": 9000, "PublicPort": 9000, "Type": "tcp"},
             {"IP": "0.0.0.0", "PrivatePort": 9001, "PublicPort": 9001, "Type": "tcp"}]
    assert units.displayable_ports(ports) == (
        "80-81/tcp, 53/udp, 443/tcp, 0.0.0.0:9000-9001->9000-9001/tcp, 0.0.0.0:8000->5000/tcp")
    assert units.displayable_ports([{"IP": "::", "PrivatePort": 80, "PublicPort": 8080, "Type": "tcp"}],
                                   ipv6_brackets=True) == "[::]:8080->80/tcp"
    bindings = {"5000/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8000"}, {"HostIp": "::", "HostPort": "8000"}],
                "10000/tcp": [{"HostIp": "0.0.0.0", "HostPort": "10000"}],
                "9000/tcp": [{"HostIp": "0.0.0.0", "HostPort": "9000"}], "80/tcp": None}
    assert units.port_lines(bindings) == ["5000/tcp -> 0.0.0.0:8000", "5000/tcp -> [::]:8000",
                                          "9000/tcp -> 0.0.0.0:9000", "10000/tcp -> 0.0.0.0:10000"]
    assert units.port_lookup(bindings, "web", "5000") == ["0.0.0.0:8000", "[::]:8000"]
    with pytest.raises(units.PortError, match="^Error: No public port '80/tcp' published for web$"):
        units.port_lookup(bindings, "web", "80/tcp")


# ------------------------------------------------------------------------------- inspect JSON
def test_inspect_json() -> None:
    assert jsonout.inspect_json([]) == "[]\n"
    obj = GoStruct({"Name": "pets", "Id": "abc", "IPAM": GoStruct({"Options": None, "Config": []}),
                    "Labels": GoMap({"z": "1", "a": "<&>\u2028"}), "Containers": {}})
    assert jsonout.inspect_json([obj]) == (
        '[\n    {\n        "Name": "pets",\n        "Id": "abc",\n        "IPAM": {\n'
        '            "Options": null,\n            "Config": []\n        },\n'
        '        "Labels": {\n            "a": "<&>\\u2028",\n            "z": "1"\n        },\n'
        '        "Containers": {}\n    }\n]\n')
    # json.Marshal escapes HTML and sorts map keys; floats and controls as Go writes them
    assert jsonout.marshal({"b": 1.0, "a": "<x>&\x01", "c": 1e21}) == \
        '{"a":"\\u003cx\\u003e\\u0026\\u0001","b":1,"c":1e+21}'


def test_docker_inspect_flow() -> None:
    web = GoStruct({"Name": "/web", "State": GoStruct({"ExitCode": 0})})

    def lookup(ref: str) -> GoStruct:
        if ref == "web":
            return web
        raise InspectError(jsonout.no_such_object(ref))

    r = jsonout.docker_inspect(["web", "db"], lookup, "{{.Name}}")
    assert (r.stdout, r.stderr, r.exit_code) == ("/web\n", "Error: No such object: db\n", 1)
    r = jsonout.docker_inspect(["db"], lookup, "{{.Name}}")
    assert (r.stdout, r.exit_code) == ("\n", 1)
    r = jsonout.docker_inspect(["web"], lookup, "{{.Foo}}")  # typed, then raw with missingkey=error
    assert r.stderr == ('template parsing error: template: :1:2: executing "" at <.Foo>: '
                        'map has no entry for key "Foo"\n')
    r = jsonout.docker_inspect(["web"], lookup, "{{.Name}")
    assert (r.stdout, r.exit_code) == ("", 64)
    assert jsonout.network_not_found("x") == "Error response from daemon: network x not found"
