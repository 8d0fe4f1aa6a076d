"""iptables' errors: the message, the exit status, and how each tool words it.

iptables reports a bad command line as a PARAMETER_PROBLEM (exit 2) with its version prefix and
a `Try ... --help` hint; a refusal by the kernel (or nft's cache) is exit 1 with `iptables: `
and no hint; a batch the kernel rejects at commit time is exit 4.  iptables-restore words the
same errors with its own name and the line number.  `IptError.render(prog, line)` builds each
form, so one parser serves `iptables`, `iptables-restore` and the kernel api.
"""

from __future__ import annotations

from cnmsim.kernel.api import KernelError

VERSION = "v1.8.9 (nf_tables)"

PARAM = "param"  # `PROG v1.8.9 (nf_tables): MSG` + hint (exit 2)
BARE = "bare"  # `MSG` + hint, no prefix (`Bad argument `foo'`)
KERNEL = "kernel"  # `iptables: MSG` (exit 1), e.g. `No chain/target/match by that name.`
COMMIT = "commit"  # `PROG v1.8.9 (nf_tables):  RULE_APPEND failed (...)` (exit 4), no hint
FATAL = "fatal"  # `PROG v1.8.9 (nf_tables): MSG`, no hint (`table 'foo' does not exist`)


class IptError(Exception):
    """One iptables error; `kind` says how a tool prints it, `status` is its exit code."""

    def __init__(self, msg: str, status: int = 2, kind: str = PARAM) -> None:
        super().__init__(msg)
        self.msg = msg
        self.status = status
        self.kind = kind

    def render(self, prog: str = "iptables", line: int | None = None) -> str:
        """The text the tool prints to stderr (without the final newline)."""
        hint = f"Try `{prog} -h' or '{prog} --help' for more information."
        at = f"\nError occurred at line: {line}" if line is not None else ""
        if self.kind == PARAM:
            return f"{prog} {VERSION}: {self.msg}{at}\n{hint}"
        if self.kind == BARE:
            return f"{self.msg}{at}\n{hint}"
        if self.kind == COMMIT:  # nft's batch error: restore names the line of the command
            return f"{prog} {VERSION}: " + (f"\nline {line}: {self.msg}" if line else f" {self.msg}")
        if self.kind == FATAL:
            return f"{prog} {VERSION}: {self.msg}"
        if line is not None:  # iptables-restore: a kernel refusal names the line
            return f"{prog}: line {line} failed: {self.msg}" if self.msg else f"{prog}: line {line} failed"
        return f"iptables: {self.msg}"


class IptablesError(KernelError):
    """What `iptables-restore` raises through the kernel api: the full text and exit status."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message, "EINVAL")
        self.status = status


def param(msg: str) -> IptError:
    return IptError(msg, 2, PARAM)


def bad_argument(arg: str) -> IptError:
    return IptError(f"Bad argument `{arg}'", 2, BARE)


def kernel(msg: str) -> IptError:
    return IptError(msg, 1, KERNEL)


def busy(op: str, what: str) -> IptError:
    """nft's commit-time refusal, e.g. `CHAIN_DEL failed (Device or resource busy): chain X`."""
    return IptError(f"{op} failed (Device or resource busy): {what}", 4, COMMIT)
