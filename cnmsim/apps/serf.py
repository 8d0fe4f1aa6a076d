"""`serf members [-status=S] [-name=REGEXP]`: a host's memberlist view, as HashiCorp serf (also
built on memberlist) prints it: name, address:port, status; columns padded as columnize does
with two spaces between them (serf/command/members.go)."""

from __future__ import annotations

import re

from cnmsim.shell.registry import Proc, command


@command("serf")
def serf(proc: Proc) -> int:
    from cnmsim.swarm.gossip.lab import member_rows

    args = proc.args
    if not args or args[0] != "members":
        proc.err("usage: serf members [-status=alive|failed|left] [-name=REGEXP]")
        return 1
    g = getattr(proc.lab, "gossip", None)
    if g is None or proc.place.host.name not in g.hosts or proc.place.container is not None:
        proc.err("Error connecting to Serf agent: dial tcp 127.0.0.1:7373: connect: connection refused")
        return 1
    status = name = None
    for a in args[1:]:
        k, _, v = a.lstrip("-").partition("=")
        if k == "status":
            status = v
        elif k == "name":
            name = v
        else:
            proc.err(f"flag provided but not defined: {a}")
            return 1
    rows = [r for r in member_rows(g, proc.place.host.name)
            if (status is None or re.fullmatch(status, r[2])) and (name is None or re.search(name, r[0]))]
    if not rows:
        return 0
    widths = [max(len(r[i]) for r in rows) for i in range(2)]
    for r in rows:
        proc.out(f"{r[0]:<{widths[0]}}  {r[1]:<{widths[1]}}  {r[2]}")
    return 0
