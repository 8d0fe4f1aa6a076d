"""The bridge driver's iptables rules in the classic layout (Docker Engine <= 27.x, libnetwork 20.10).

Chains DOCKER, DOCKER-ISOLATION-STAGE-1/2 and DOCKER-USER; per network rules inserted at the top
of FORWARD (so the newest network's rules come first) and MASQUERADE inserted at the top of
nat POSTROUTING.  Rule order and text follow libnetwork 20.10's setup_ip_tables.go,
iptables/iptables.go (ProgramChain, Forward) and firewall_linux.go, as shown in
facts/engine.md §1.8.  Other engine versions get their own module beside this one.
"""

from __future__ import annotations

from cnmsim.engine.iptables import Iptables

USER = "DOCKER-USER"
ISO1, ISO2 = "DOCKER-ISOLATION-STAGE-1", "DOCKER-ISOLATION-STAGE-2"


class ClassicFirewall:
    """Programs one host's root namespace the way libnetwork 20.10 did."""

    def __init__(self, ipt: Iptables, hairpin: bool = False) -> None:
        self.ipt = ipt
        self.hairpin = hairpin  # --userland-proxy=false

    # ------------------------------------------------------------ driver init
    def setup_chains(self) -> None:
        """setupIPChains: the DOCKER chains and the isolation chains ending in RETURN."""
        ipt = self.ipt
        ipt.ensure_chain("nat", "DOCKER")
        ipt.ensure_chain("filter", "DOCKER")
        ipt.ensure_chain("filter", ISO1)
        ipt.ensure_chain("filter", ISO2)
        ipt.append("filter", ISO1, "-j RETURN")
        ipt.append("filter", ISO2, "-j RETURN")

    def arrange_user_chain(self) -> None:
        """controller.arrangeUserFilterRule: DOCKER-USER exists, ends in RETURN, is jumped to first."""
        self.ipt.ensure_chain("filter", USER)
        self.ipt.append("filter", USER, "-j RETURN")
        self.ipt.ensure_first("filter", "FORWARD", f"-j {USER}")

    # ------------------------------------------------------------ networks
    def _net_rules(self, br: str, subnet: str, icc: bool, masq: bool) -> list[tuple[str, str, str, bool]]:
        """(table, chain, rule, insert) in the order setupIPTablesInternal programs them."""
        rules = []
        if masq:
            rules.append(("nat", "POSTROUTING", f"-s {subnet} ! -o {br} -j MASQUERADE", True))
        if masq and not self.hairpin:
            rules.append(("nat", "DOCKER", f"-i {br} -j RETURN", True))
        if self.hairpin:
            rules.append(("nat", "POSTROUTING", f"-o {br} -m addrtype --src-type LOCAL -j MASQUERADE", True))
        rules.append(self._icc(br, icc))
        rules.append(("filter", "FORWARD", f"-i {br} ! -o {br} -j ACCEPT", True))
        return rules

    @staticmethod
    def _icc(br: str, icc: bool) -> tuple[str, str, str, bool]:
        """setIcc: ICC on inserts ACCEPT, ICC off appends DROP."""
        return ("filter", "FORWARD", f"-i {br} -o {br} -j {'ACCEPT' if icc else 'DROP'}", icc)

    def _chain_rules(self, br: str) -> list[tuple[str, str, str, bool]]:
        """ProgramChain for the nat and filter DOCKER chains."""
        out = "-m addrtype --dst-type LOCAL -j DOCKER"
        if not self.hairpin:
            out = "! -d 127.0.0.0/8 " + out
        return [
            ("nat", "PREROUTING", "-m addrtype --dst-type LOCAL -j DOCKER", False),
            ("nat", "OUTPUT", out, False),
            ("filter", "FORWARD", f"-o {br} -j DOCKER", True),
            ("filter", "FORWARD", f"-o {br} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT", True),
        ]

    @staticmethod
    def _internal_rules(br: str, subnet: str, icc: bool) -> list[tuple[str, str, str, bool]]:
        """setupInternalNetworkRules: no way in or out of the subnet, only ICC."""
        return [
            ("filter", ISO1, f"! -d {subnet} -i {br} -j DROP", True),
            ("filter", ISO1, f"! -s {subnet} -o {br} -j DROP", True),
            ClassicFirewall._icc(br, icc),
        ]

    @staticmethod
    def _isolation_rules(br: str) -> list[tuple[str, str, str, bool]]:
        """setINC: leaving this bridge for another one goes to STAGE-2, which drops it there."""
        return [
            ("filter", ISO1, f"-i {br} ! -o {br} -j {ISO2}", True),
            ("filter", ISO2, f"-o {br} -j DROP", True),
        ]

    def network_rules(self, br: str, subnet: str, icc: bool, masq: bool, internal: bool
                      ) -> list[tuple[str, str, str, bool]]:
        if internal:
            return self._internal_rules(br, subnet, icc)
        return self._net_rules(br, subnet, icc, masq) + self._chain_rules(br) + self._isolation_rules(br)

    def add_network(self, br: str, subnet: str, icc: bool, masq: bool, internal: bool) -> None:
        for table, chain, rule, insert in self.network_rules(br, subnet, icc, masq, internal):
            (self.ipt.insert if insert else self.ipt.append)(table, chain, rule)
        self.ipt.ensure_first("filter", "FORWARD", f"-j {ISO1}")

    def remove_network(self, br: str, subnet: str, icc: bool, masq: bool, internal: bool) -> None:
        shared = {("nat", "PREROUTING"), ("nat", "OUTPUT")}  # the jumps to DOCKER stay with the chain
        for table, chain, rule, _ in self.network_rules(br, subnet, icc, masq, internal):
            if (table, chain) not in shared:
                self.ipt.delete(table, chain, rule)

    # ------------------------------------------------------------ published ports
    def port_rules(self, br: str, proto: str, host_ip: str, host_port: int, ip: str, port: int
                   ) -> list[tuple[str, str, str]]:
        """iptables.Forward: DNAT in nat DOCKER, ACCEPT in filter DOCKER, hairpin MASQUERADE."""
        dst = "" if host_ip in ("0.0.0.0", "") else f"-d {host_ip}/32 "
        not_in = "" if self.hairpin else f"! -i {br} "
        return [
            ("nat", "DOCKER", f"{dst}{not_in}-p {proto} -m {proto} --dport {host_port} "
                              f"-j DNAT --to-destination {ip}:{port}"),
            ("filter", "DOCKER", f"-d {ip}/32 ! -i {br} -o {br} -p {proto} -m {proto} --dport {port} -j ACCEPT"),
            ("nat", "POSTROUTING", f"-s {ip}/32 -d {ip}/32 -p {proto} -m {proto} --dport {port} -j MASQUERADE"),
        ]

    def map_port(self, br: str, proto: str, host_ip: str, host_port: int, ip: str, port: int) -> None:
        for table, chain, rule in self.port_rules(br, proto, host_ip, host_port, ip, port):
            self.ipt.append(table, chain, rule)

    def unmap_port(self, br: str, proto: str, host_ip: str, host_port: int, ip: str, port: int) -> None:
        for table, chain, rule in self.port_rules(br, proto, host_ip, host_port, ip, port):
            self.ipt.delete(table, chain, rule)

    # ------------------------------------------------------------ legacy links (ICC off)
    def link_rules(self, br: str, parent: str, child: str, proto: str, port: int) -> list[str]:
        return [f"-s {parent}/32 -d {child}/32 -i {br} -o {br} -p {proto} -m {proto} --dport {port} -j ACCEPT",
                f"-s {child}/32 -d {parent}/32 -i {br} -o {br} -p {proto} -m {proto} --sport {port} -j ACCEPT"]
