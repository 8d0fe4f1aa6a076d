"""Well-known port names, as Debian's /etc/services lists them (getservbyport for nc, tcpdump)."""

from __future__ import annotations

_BOTH = {53: "domain", 88: "kerberos", 111: "sunrpc", 161: "snmp", 162: "snmp-trap", 389: "ldap",
         853: "domain-s", 1194: "openvpn", 2049: "nfs", 5060: "sip", 5061: "sip-tls"}
TCP_SERVICES: dict[int, str] = _BOTH | {
    20: "ftp-data", 21: "ftp", 22: "ssh", 23: "telnet", 25: "smtp", 80: "http", 110: "pop3",
    143: "imap2", 443: "https", 445: "microsoft-ds", 873: "rsync", 1236: "rmtcfg", 3306: "mysql",
    5432: "postgresql", 6379: "redis", 6514: "syslog-tls", 8080: "http-alt", 9418: "git",
    11371: "hkp",
}
UDP_SERVICES: dict[int, str] = _BOTH | {
    67: "bootps", 68: "bootpc", 69: "tftp", 123: "ntp", 443: "https", 500: "isakmp",
    514: "syslog", 5353: "mdns",
}
BY_NAME: dict[tuple[str, str], int] = {(n, "tcp"): p for p, n in TCP_SERVICES.items()} | {
    (n, "udp"): p for p, n in UDP_SERVICES.items()} | {("www", "tcp"): 80, ("webcache", "tcp"): 8080}


def service_name(port: int, proto: str = "tcp") -> str | None:
    """getservbyport(port, proto): the service's name, or None."""
    return (TCP_SERVICES if proto == "tcp" else UDP_SERVICES).get(port)


def service_port(name: str, proto: str = "tcp") -> int | None:
    """getservbyname(name, proto): a port number, or None."""
    return BY_NAME.get((name, proto))
