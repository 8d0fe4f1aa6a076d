"""The `bpf` match (libxt_bpf.c, revision 1), which Docker's encrypted overlays use to pick the
VXLAN datagrams of one VNI (libnetwork drivers/overlay/bpf.go `matchVXLAN`):

    -p udp --dport 4789 -m bpf --bytecode "6,177 0 0 0,64 0 0 12,84 0 0 4294967040,21 1 0 1048832,6 0 0 0,6 0 0 4294967295"

`--bytecode` is a classic BPF program as `nfbpf_compile` prints it: the instruction count, then
`code jt jf k` per instruction, comma-separated; iptables-save prints it back quoted, `-L` as
`match bpf CODE JT JF K,...`.  The program runs on the packet from its IP header
(cnmsim.kernel.sim.nf.cbpf); `--object-pinned` (an eBPF object) is parsed but never matches.
"""

from __future__ import annotations

import re

from cnmsim.netfilter.errors import param
from cnmsim.netfilter.ext import Ctx, Ext, OptSpec
from cnmsim.netfilter.model import Option, Rule

MAX_INSNS = 64  # XT_BPF_MAX_NUM_INSTR
_HEAD = re.compile(r"\s*\+?(\d+)(.)", re.S)
_INSN = re.compile(r"\s*\+?(\d+)\s+\+?(\d+)\s+\+?(\d+)\s+\+?(\d+)")


def parse_program(text: str) -> list[tuple[int, int, int, int]]:
    """bpf_parse_string: `N,c jt jf k,...` -> the instructions (iptables' messages on errors)."""
    m = _HEAD.match(text)
    if m is None or m.group(2) != ",":
        raise param("bpf: error parsing program length")
    n = int(m.group(1)) & 0xFFFF
    if not n:
        raise param("bpf: illegal zero length program")
    if n > MAX_INSNS:
        raise param("bpf: number of instructions exceeds maximum")
    out: list[tuple[int, int, int, int]] = []
    pos = text.find(",")
    while pos >= 0 and pos + 1 < len(text):
        if len(out) >= n:
            raise param("bpf: real program length exceeds the encoded length parameter")
        ins = _INSN.match(text, pos + 1)
        if ins is None:
            raise param(f"bpf: error at instr {len(out)}")
        c, jt, jf, k = (int(x) for x in ins.groups())
        out.append((c & 0xFFFF, jt & 0xFF, jf & 0xFF, k & 0xFFFFFFFF))
        pos = text.find(",", pos + 1)
    if len(out) != n:
        raise param("bpf: parsed program length is less than the encoded length parameter")
    return out


def program_text(prog: list[tuple[int, int, int, int]]) -> str:
    """The canonical `N,c jt jf k,...` (bpf_save_code without the quotes)."""
    return f"{len(prog)}," + ",".join(f"{c} {jt} {jf} {k}" for c, jt, jf, k in prog)


def _bytecode(values: list[str], ctx: Ctx) -> tuple[str, ...]:
    return (program_text(parse_program(values[0])),)


def _finish(opts: dict[str, Option], ctx: Ctx) -> None:
    if ("--bytecode" in opts) == ("--object-pinned" in opts):
        raise param("bpf: one of --bytecode or --pinned is required")


def _desc(opts: dict[str, Option], numeric: bool, rule: Rule) -> str:
    """bpf_print_v1: no leading space (iptables -L glues it to the previous match), no count,
    and the NUL byte its `%c` tail prints after the last instruction."""
    if "--object-pinned" in opts:
        return f"match bpf pinned {opts['--object-pinned'].values[0]}"
    return "match bpf " + opts["--bytecode"].values[0].split(",", 1)[1] + "\0"


IPSEC_MATCHES: dict[str, Ext] = {"bpf": Ext("bpf", [
    OptSpec("--bytecode", invert=False, canon=_bytecode, quote=True),
    OptSpec("--object-pinned", invert=False),
], _finish, _desc)}
