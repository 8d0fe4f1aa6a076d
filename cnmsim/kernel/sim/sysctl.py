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
VS_DEFAULTS: dict[str, str] = {
    # /proc/sys/net/ipv4/vs: IPVS is built in (ip_vs_ctl.c vs_vars; host-sized sync_qlen_max and
    # est_cpulist are left out)
    "net.ipv4.vs.am_droprate": "10",
    "net.ipv4.vs.amemthresh": "1024",
    "net.ipv4.vs.backup_only": "0",
    "net.ipv4.vs.cache_bypass": "0",
    "net.ipv4.vs.conn_reuse_mode": "1",
    "net.ipv4.vs.conntrack": "0",
    "net.ipv4.vs.drop_entry": "0",
    "net.ipv4.vs.drop_packet": "0",
    "net.ipv4.vs.est_nice": "0",
    "net.ipv4.vs.expire_nodest_conn": "0",
    "net.ipv4.vs.expire_quiescent_template": "0",
    "net.ipv4.vs.ignore_tunneled": "0",
    "net.ipv4.vs.nat_icmp_send": "0",
    "net.ipv4.vs.pmtu_disc": "1",
    "net.ipv4.vs.run_estimation": "1",
    "net.ipv4.vs.schedule_icmp": "0",
    "net.ipv4.vs.secure_tcp": "0",
    "net.ipv4.vs.sloppy_sctp": "0",
    "net.ipv4.vs.sloppy_tcp": "0",
    "net.ipv4.vs.snat_reroute": "1",
    "net.ipv4.vs.sync_persist_mode": "0",
    "net.ipv4.vs.sync_ports": "1",
    "net.ipv4.vs.sync_refresh_period": "0",
    "net.ipv4.vs.sync_retries": "0",
    "net.ipv4.vs.sync_sock_size": "0",
    "net.ipv4.vs.sync_threshold": "3\t50",
    "net.ipv4.vs.sync_version": "1",
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
