"""The sysctls the simulated stack reads, with Linux's defaults."""

from __future__ import annotations

GLOBAL_DEFAULTS: dict[str, str] = {
    "net.ipv4.ip_forward": "0",
    "net.ipv4.ip_local_port_range": "32768\t60999",
    "net.ipv4.icmp_echo_ignore_all": "0",
    "net.ipv4.icmp_echo_ignore_broadcasts": "1",
    "net.ipv4.ip_default_ttl": "64",
    "net.ipv4.ip_no_pmtu_disc": "0",
    "net.ipv4.neigh.default.base_reachable_time_ms": "30000",
    "net.ipv4.neigh.default.gc_stale_time": "60",
    "net.ipv4.tcp_syn_retries": "6",
    "net.ipv4.tcp_synack_retries": "5",
    "net.ipv4.tcp_retries2": "15",
    "net.ipv4.tcp_fin_timeout": "60",
    "net.ipv4.ping_group_range": "0\t2147483647",
}
BRIDGE_DEFAULTS: dict[str, str] = {
    # present once br_netfilter is loaded; 0 here until an engine (dockerd) loads it
    "net.bridge.bridge-nf-call-iptables": "0",
    "net.bridge.bridge-nf-call-ip6tables": "0",
    "net.bridge.bridge-nf-call-arptables": "0",
}
CONF_DEFAULTS: dict[str, str] = {
    "forwarding": "0",
    "proxy_arp": "0",
    "rp_filter": "0",
    "route_localnet": "0",
    "arp_ignore": "0",
    "arp_announce": "0",
    "accept_local": "0",
}


def conf_key(dev: str, key: str) -> str:
    return f"net.ipv4.conf.{dev}.{key}"


def normalize(key: str) -> str:
    """`sysctl` accepts both net/ipv4/ip_forward and net.ipv4.ip_forward."""
    return key.replace("/", ".")
