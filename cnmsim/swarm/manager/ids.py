"""Identifiers as swarmkit makes them, drawn from the lab's RNG only (same seed, same ids).

- `new_id`: swarmkit `identity.NewID` — 17 random bytes with the high bit set, written in base 36,
  characters 1..25: 25 lower-case alphanumerics (node, service, task and network ids).
- `join_token`: `ca.GenerateJoinToken` — "SWMTKN-1-" + the root CA digest (256 bits, base 36,
  zero-padded to 50) + "-" + a 128-bit secret (base 36, zero-padded to 25).  Worker and manager
  tokens share the digest and differ in the secret.
"""

from __future__ import annotations

import random

DIGITS = "0123456789abcdefghijklmnopqrstuvwxyz"
TOKEN_RE = r"SWMTKN-1-[0-9a-z]{50}-[0-9a-z]{25}"


def base36(n: int) -> str:
    """big.Int.Text(36)."""
    if n == 0:
        return "0"
    out = []
    while n:
        n, r = divmod(n, 36)
        out.append(DIGITS[r])
    return "".join(reversed(out))


def new_id(rng: random.Random) -> str:
    """identity.NewID: a 25-character base-36 id."""
    n = rng.getrandbits(136) | (1 << 135)
    return base36(n)[1:26]


def ca_digest(rng: random.Random) -> str:
    """The cluster root CA's digest as a join token carries it (50 base-36 digits)."""
    return base36(rng.getrandbits(256)).rjust(50, "0")


def join_token(digest: str, rng: random.Random) -> str:
    return f"SWMTKN-1-{digest}-{base36(rng.getrandbits(128)).rjust(25, '0')}"


def well_formed(token: str) -> bool:
    """ca.ParseJoinToken's shape check: four dash-separated parts, SWMTKN, version 1."""
    import re

    return re.fullmatch(TOKEN_RE, token) is not None


def networkdb_name(hostname: str, rng: random.Random) -> str:
    """NetworkDB's node name: hostname-<12 hex> (libnetwork agent.go, stringid.TruncateID)."""
    return f"{hostname}-{rng.getrandbits(48):012x}"
