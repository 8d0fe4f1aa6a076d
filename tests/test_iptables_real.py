"""The iptables text layer against the real iptables 1.8.9 (nf_tables) on this machine.

Every ruleset is loaded twice, into the simulator and with the real `iptables-restore` into a
fresh network namespace named `cnmtD<pid>...` (always deleted; nothing runs in the root
namespace), and then `iptables-save` (comment lines dropped), `iptables -S` and
`iptables -L -n -v --line-numbers` must print the same bytes.  The error table of
test_iptables_text.py is replayed on the real tool too.  Skips when not root or when iptables
or network namespaces are missing.
"""

from __future__ import annotations

import itertools
import os
import shlex
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from hypothesis import HealthCheck, assume, given, settings

from cnmsim import Lab
from cnmsim.netfilter.format import list_rules, save
from cnmsim.netfilter.listing import ListFormat, list_table
from cnmsim.netfilter.model import Ruleset
from cnmsim.netfilter.restore import restore
from tests.iptables_cases import (
    ALL_ERRORS,
    DOCKER_LAYOUTS,
    EXTENSIONS,
    RESTORE_ERRORS,
    expected_stderr,
    restore_text,
    strip_comments,
)
from tests.test_iptables_text import rulesets

pytestmark = pytest.mark.real

PREFIX = f"cnmtD{os.getpid() % 100000}"
_serial = itertools.count()
IPSETS = ("x", "a", "KUBE-X", "kube")


def _skip_unless_possible() -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root to create network namespaces for the real iptables")
    for tool in ("ip", "iptables", "iptables-restore", "iptables-save"):
        if shutil.which(tool) is None:
            pytest.skip(f"`{tool}` is not installed (apt-get install iptables iproute2)")
    r = subprocess.run(["iptables", "--version"], capture_output=True, text=True)
    if "v1.8.9 (nf_tables)" not in r.stdout:
        pytest.skip(f"the texts are iptables v1.8.9 (nf_tables)'s; this is {r.stdout.strip()!r}")


@contextmanager
def real_ns() -> Iterator[str]:
    """A fresh namespace (with the ipsets the rules name), deleted afterwards."""
    _skip_unless_possible()
    name = f"{PREFIX}{next(_serial)}"
    r = subprocess.run(["ip", "netns", "add", name], capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"cannot create a network namespace: {r.stderr.strip()}")
    try:
        if shutil.which("ipset"):
            for s in IPSETS:
                run(name, f"ipset create {s} hash:net")
        yield name
    finally:
        if shutil.which("ipset"):
            run(name, "ipset destroy")
        subprocess.run(["ip", "netns", "del", name], capture_output=True)


def run(ns: str, cmd: str, stdin: str = "") -> tuple[int, str, str]:
    r = subprocess.run(["ip", "netns", "exec", ns, *shlex.split(cmd)], input=stdin,
                       capture_output=True, text=True, timeout=60)
    return r.returncode, r.stdout, r.stderr


def listings(ns: str, rs: Ruleset, table: str) -> list[tuple[str, str, str]]:
    """(command, real output, simulated output) for the listing commands of one table."""
    out = []
    for flags, fmt in (("-n -v --line-numbers", ListFormat(True, True, False, True)),
                       ("-n", ListFormat(True)), ("-v -x", ListFormat(False, True, True))):
        cmd = f"iptables -t {table} -L {flags}"
        out.append((cmd, run(ns, cmd)[1], list_table(rs, table, f=fmt)))
    for chain in list(rs.tables[table].chains)[:2]:
        cmd = f"iptables -t {table} -L {chain} -n -v --line-numbers"
        out.append((cmd, run(ns, cmd)[1], list_table(rs, table, chain, f=ListFormat(True, True, False, True))))
    out.append((f"iptables -t {table} -S", run(ns, f"iptables -t {table} -S")[1], list_rules(rs, table)))
    return out


def compare_loaded(ns: str, text: str) -> None:
    code, _, err = run(ns, "iptables-restore", text)
    assert code == 0, err
    rs = restore(Ruleset(), text)
    assert strip_comments(run(ns, "iptables-save")[1]) == strip_comments(save(rs))
    for table in sorted(rs.present):
        for cmd, real, sim in listings(ns, rs, table):
            assert sim == real, cmd


@pytest.mark.parametrize("name", DOCKER_LAYOUTS)
def test_docker_layouts_print_the_same_as_the_real_kernel(name: str) -> None:
    with real_ns() as ns:
        compare_loaded(ns, restore_text(DOCKER_LAYOUTS[name]))


def test_the_extension_cases_are_what_the_real_tool_prints() -> None:
    """Each typed rule gives the real tool's `-S` line and `-L` text; then the whole set, loaded
    into both, prints the same save and listings (-n, -v, -x, --line-numbers)."""
    with real_ns() as ns:
        seen: dict[tuple[str, str], int] = {}
        for table, typed, saved, listed in EXTENSIONS:
            code, _, err = run(ns, f"iptables -t {table} {typed}")
            assert (code, err) == (0, ""), typed
            chain = typed.split()[1]
            n = seen[table, chain] = seen.get((table, chain), 0) + 1
            assert run(ns, f"iptables -t {table} -S {chain} {n}")[1] == saved + "\n"
            line = run(ns, f"iptables -t {table} -L {chain} {n} -n")[1]
            assert line.endswith(" " + listed + "\n"), (typed, line)
        compare_loaded(ns, "".join(
            f"*{t}\n" + "".join(s + "\n" for tb, _, s, _ in EXTENSIONS if tb == t) + "COMMIT\n"
            for t in ("mangle", "raw", "filter", "nat")))


@settings(max_examples=25, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(rulesets())
def test_random_rulesets_print_the_same_as_the_real_kernel(rs: Ruleset) -> None:
    text = save(rs)
    assume("-m ipvs" not in text)  # this kernel may lack xt_ipvs (RULE_APPEND fails)
    with real_ns() as ns:
        compare_loaded(ns, text)


@pytest.mark.parametrize(("setup", "argv", "status", "text"), ALL_ERRORS)
def test_the_error_table_is_the_real_tools(setup: str, argv: str, status: int, text: str) -> None:
    with real_ns() as ns:
        if setup:
            assert run(ns, f"iptables {setup}")[0] == 0
        code, _, err = run(ns, f"iptables {argv}")
        assert (code, err) == (status, expected_stderr(status, text) + "\n")


@pytest.mark.parametrize(("text", "status", "message"), RESTORE_ERRORS)
def test_the_restore_error_table_is_the_real_tools(text: str, status: int, message: str) -> None:
    with real_ns() as ns:
        assert run(ns, "iptables-restore", restore_text(DOCKER_LAYOUTS["1.8 classic (<= 27.x)"]))[0] == 0
        assert run(ns, "iptables-restore", text)[::2] == (status, message + "\n")


COMMANDS = """
iptables -N DOCKER
iptables -t nat -N DOCKER
iptables -A FORWARD -o docker0 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
iptables -I FORWARD -j DOCKER
iptables -A DOCKER -d 172.17.0.2 ! -i docker0 -o docker0 -p tcp --dport 80 -j ACCEPT
iptables -t nat -A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER
iptables -t nat -A DOCKER ! -i docker0 -p tcp --dport 8080 -j DNAT --to-destination 172.17.0.2:80
iptables -t nat -I POSTROUTING -s 172.17.0.0/16 ! -o docker0 -j MASQUERADE
iptables -A FORWARD -m comment --comment "a \\"b\\" c" -p udp -m multiport --dports domain,80:90 -j LOG --log-prefix "x: "
iptables -A FORWARD -m statistic --mode random --probability 0.2 -j MARK --set-mark 0x10/0xff
iptables -R FORWARD 3 -p icmp --icmp-type echo-request -j REJECT --reject-with icmp-host-prohibited
iptables -C FORWARD -p icmp -m icmp --icmp-type 8 -j REJECT --reject-with icmp-host-prohibited
iptables -D FORWARD -p icmp --icmp-type 8 -j REJECT --reject-with icmp-host-prohibited
iptables -A FORWARD -j NOPE
iptables -X DOCKER
iptables -P FORWARD DROP
iptables -E DOCKER DOCKER-2
iptables -L -n -v --line-numbers
iptables -t nat -L -n
iptables -L FORWARD 2 -n
iptables -S
iptables -t nat -S DOCKER
iptables-save -t nat
iptables -D FORWARD 9
iptables -F DOCKER-2
iptables -X DOCKER-2
iptables -D FORWARD 1
iptables -X
iptables-save
"""


def test_a_command_session_matches_the_real_tool_line_by_line() -> None:
    lab = Lab(seed=0)
    lab.add_host("h", address="192.168.0.2/24", docker=False)
    with real_ns() as ns:
        for line in COMMANDS.strip().splitlines():
            sim = lab.run("h", line)
            code, out, err = run(ns, line)
            if line.startswith("iptables-save"):
                out, sim_out = strip_comments(out), strip_comments(sim.stdout)
            else:
                sim_out = sim.stdout
            assert (sim.exit_code, sim_out, sim.stderr) == (code, out, err), line
