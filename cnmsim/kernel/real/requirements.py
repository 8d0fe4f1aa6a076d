"""What a scenario needs from the real kernel, read from its transcript before anything is built.

Real mode refuses a scenario up front, with what is missing, rather than failing half-way when
the engine first asks for a device the kernel cannot make:
- 802.1q sub-interfaces: `type vlan`, or a macvlan/ipvlan `parent=eth0.10`;
- IPVS: `ipvsadm`, or swarm services (their VIPs are IPVS virtual services);
- ESP: encrypted overlays (`--opt encrypted`), `ip xfrm`;
- dummy devices: `type dummy`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

NEEDS: list[tuple[str, re.Pattern[str]]] = [
    ("vlan", re.compile(r"\btype\s+vlan\b|\bparent=\w+\.\d+\b")),
    ("ipvs", re.compile(r"\bipvsadm\b|\bdocker\s+service\s+create\b")),
    ("esp", re.compile(r"\bencrypted\b|\bip\s+xfrm\b")),
    ("dummy", re.compile(r"\btype\s+dummy\b")),
]


def needed(lines: Iterable[str]) -> list[str]:
    """The kernel features the given transcript lines need, in NEEDS order."""
    text = "\n".join(lines)
    return [kind for kind, pat in NEEDS if pat.search(text)]


def refusal(lines: Iterable[str]) -> str | None:
    """Why this transcript cannot run on this machine's kernel, or None when it can."""
    from cnmsim.kernel.real.features import probe

    kinds = needed(lines)
    return probe().message(kinds) if kinds else None
