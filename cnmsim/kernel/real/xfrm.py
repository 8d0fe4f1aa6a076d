"""The xfrm verbs on the real kernel: `ip xfrm state|policy` run inside the namespace (as the
iptables verbs run iptables-restore there), their listings parsed back into api records.

A kernel without ESP/AES-GCM (no esp4 or xfrm_user module) refuses the SA; its message
(`RTNETLINK answers: Protocol not supported` ...) comes back as a KernelError.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable
from typing import Any

from cnmsim.kernel import api
from cnmsim.kernel.api import KernelError

PROTOS = {"udp": 17, "tcp": 6, "icmp": 1, "esp": 50, "sctp": 132}


def _errno(msg: str) -> str:
    for text, name in (("File exists", "EEXIST"), ("No such process", "ESRCH"),
                       ("No such file", "ENOENT"), ("not supported", "EPROTONOSUPPORT")):
        if text in msg:
            return name
    return "EINVAL"


def state_args(st: api.XfrmState, full: bool = True) -> list[str]:
    args = ["src", st.src, "dst", st.dst, "proto", st.proto, "spi", f"0x{st.spi:08x}"]
    if st.mark is not None:
        args += ["mark", str(st.mark), "mask", str(st.mask)]
    if full:
        args += ["reqid", str(st.reqid), "mode", st.mode, "replay-window", str(st.replay_window),
                 "aead", st.aead, "0x" + st.key.hex(), str(st.icv_len)]
    return args


def policy_args(p: api.XfrmPolicy, full: bool = True) -> list[str]:
    args = ["src", p.src, "dst", p.dst]
    if p.proto:
        args += ["proto", str(p.proto)]
    if p.sport is not None:
        args += ["sport", str(p.sport)]
    if p.dport is not None:
        args += ["dport", str(p.dport)]
    args += ["dir", p.dir]
    if p.mark is not None:
        args += ["mark", str(p.mark), "mask", str(p.mask)]
    if full:
        args += ["priority", str(p.priority), "action", p.action]
        for t in p.tmpls:
            args += ["tmpl", "src", t.src, "dst", t.dst, "proto", t.proto]
            args += (["spi", f"0x{t.spi:08x}"] if t.spi else []) + ["reqid", str(t.reqid), "mode", t.mode]
    return args


def _blocks(text: str) -> list[list[str]]:
    out: list[list[str]] = []
    for line in text.splitlines():
        if line and not line[0].isspace():
            out.append([line.strip()])
        elif out and line.strip():
            out[-1].append(line.strip())
    return out


def parse_states(text: str) -> list[api.XfrmState]:
    """`ip xfrm state` (or `ip -s xfrm state`) back into records."""
    out = []
    for b in _blocks(text):
        kw: dict[str, Any] = {}
        m = re.match(r"src (\S+) dst (\S+)", b[0])
        if m is None:
            continue
        kw["src"], kw["dst"] = m.groups()
        for line in b[1:]:
            if m := re.match(r"proto (\S+) spi (0x[0-9a-f]+)\S* reqid (\d+)\S* mode (\S+)", line):
                kw.update(proto=m[1], spi=int(m[2], 16), reqid=int(m[3]), mode=m[4])
            elif m := re.match(r"aead (\S+) 0x([0-9a-f]+)(?: \(\d+ bits\))? (\d+)", line):
                kw.update(aead=m[1], key=bytes.fromhex(m[2]), icv_len=int(m[3]))
            elif m := re.match(r"mark (\S+)/(\S+)", line):
                kw.update(mark=int(m[1], 0), mask=int(m[2], 0))
            elif m := re.match(r"replay-window (\d+)", line):
                kw["replay_window"] = int(m[1])
            elif m := re.match(r"anti-replay context: seq (0x[0-9a-f]+), oseq (0x[0-9a-f]+)", line):
                kw.update(seq=int(m[1], 16), oseq=int(m[2], 16))
            elif m := re.match(r"(\d+)\(bytes\), (\d+)\(packets\)", line):
                kw.update(bytes=int(m[1]), packets=int(m[2]))
        if "spi" in kw:
            out.append(api.XfrmState(**kw))
    return out


def parse_policies(text: str) -> list[api.XfrmPolicy]:
    """`ip xfrm policy` back into records."""
    out = []
    for b in _blocks(text):
        m = re.match(r"src (\S+) dst (\S+)", b[0])
        if m is None:
            continue
        kw: dict[str, Any] = {"src": m[1], "dst": m[2]}
        if m := re.search(r"proto (\S+)", b[0]):
            kw["proto"] = PROTOS.get(m[1], int(m[1]) if m[1].isdigit() else 0)
        for key in ("sport", "dport"):
            if m := re.search(key + r" (\d+)", b[0]):
                kw[key] = int(m[1])
        tmpls: list[api.XfrmTmpl] = []
        for line in b[1:]:
            if m := re.match(r"dir (\S+)", line):
                kw["dir"] = m[1]
                if p := re.search(r"priority (\d+)", line):
                    kw["priority"] = int(p[1])
                if "action block" in line:
                    kw["action"] = "block"
            elif m := re.match(r"mark (\S+)/(\S+)", line):
                kw.update(mark=int(m[1], 0), mask=int(m[2], 0))
            elif m := re.match(r"tmpl src (\S+) dst (\S+)", line):
                tmpls.append(api.XfrmTmpl(m[1], m[2]))
            elif tmpls and (m := re.match(r"proto (\S+) (?:spi (0x[0-9a-f]+)\S* )?reqid (\d+)\S* mode (\S+)", line)):
                t = tmpls[-1]
                tmpls[-1] = api.XfrmTmpl(t.src, t.dst, m[1], int(m[2], 16) if m[2] else 0, int(m[3]), m[4])
        out.append(api.XfrmPolicy(tmpls=tuple(tmpls), **kw))
    return out


class XfrmVerbs:
    """Mixin of RealNetns: needs `run(argv)` (a tool run inside the namespace)."""

    run: Callable[..., subprocess.CompletedProcess[str]]

    def _ip(self, *args: str, stats: bool = False) -> str:
        r = self.run(["ip", *(["-s"] if stats else []), "xfrm", *args])
        if r.returncode != 0:
            msg = r.stderr.strip() or f"ip xfrm failed ({r.returncode})"
            raise KernelError(msg, _errno(msg))
        return r.stdout

    def xfrm_state_add(self, state: api.XfrmState) -> None:
        self._ip("state", "add", *state_args(state))

    def xfrm_state_del(self, state: api.XfrmState) -> None:
        self._ip("state", "delete", *state_args(state, full=False))

    def xfrm_state_list(self) -> list[api.XfrmState]:
        return parse_states(self._ip("state", "list", stats=True))

    def xfrm_policy_add(self, policy: api.XfrmPolicy, *, update: bool = False) -> None:
        self._ip("policy", "update" if update else "add", *policy_args(policy))

    def xfrm_policy_del(self, policy: api.XfrmPolicy) -> None:
        self._ip("policy", "delete", *policy_args(policy, full=False))

    def xfrm_policy_list(self) -> list[api.XfrmPolicy]:
        return parse_policies(self._ip("policy", "list"))
