"""Cases shared by test_iptables_text.py and test_iptables_real.py.

Docker's rulesets as engine.md (sections 1.2-1.9) gives them, and iptables' error messages
and exit statuses as the real iptables 1.8.9 (nf_tables) prints them (test_iptables_real.py
replays these on the real tool, so they stay true).
"""

from __future__ import annotations

from cnmsim.netfilter.model import BUILTIN_CHAINS

# ------------------------------------------------------------------ Docker's layouts (engine.md)
DOCKER_LAYOUTS: dict[str, str] = {
    "1.2 new daemon": """
# filter
-P INPUT ACCEPT
-P FORWARD ACCEPT
-P OUTPUT ACCEPT
-N DOCKER
-N DOCKER-BRIDGE
-N DOCKER-CT
-N DOCKER-FORWARD
-N DOCKER-INTERNAL
-N DOCKER-USER
-A FORWARD -j DOCKER-USER
-A FORWARD -j DOCKER-FORWARD
-A DOCKER ! -i docker0 -o docker0 -j DROP
-A DOCKER-BRIDGE -o docker0 -j DOCKER
-A DOCKER-CT -o docker0 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A DOCKER-FORWARD -j DOCKER-CT
-A DOCKER-FORWARD -j DOCKER-INTERNAL
-A DOCKER-FORWARD -j DOCKER-BRIDGE
-A DOCKER-FORWARD -i docker0 -j ACCEPT
# nat
-N DOCKER
-A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER
-A OUTPUT ! -d 127.0.0.0/8 -m addrtype --dst-type LOCAL -j DOCKER
-A POSTROUTING -s 172.17.0.0/16 ! -o docker0 -j MASQUERADE
""",
    "1.3 user bridge with a published port": """
# filter
-A FORWARD -j DOCKER-USER
-A FORWARD -j DOCKER-FORWARD
-A DOCKER -d 192.0.2.2/32 ! -i bridge1 -o bridge1 -p tcp -m tcp --dport 80 -j ACCEPT
-A DOCKER ! -i docker0 -o docker0 -j DROP
-A DOCKER ! -i bridge1 -o bridge1 -j DROP
-A DOCKER-BRIDGE -o docker0 -j DOCKER
-A DOCKER-BRIDGE -o bridge1 -j DOCKER
-A DOCKER-CT -o docker0 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A DOCKER-CT -o bridge1 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A DOCKER-FORWARD -j DOCKER-CT
-A DOCKER-FORWARD -j DOCKER-INTERNAL
-A DOCKER-FORWARD -j DOCKER-BRIDGE
-A DOCKER-FORWARD -i docker0 -j ACCEPT
-A DOCKER-FORWARD -i bridge1 -j ACCEPT
# nat
-A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER
-A OUTPUT ! -d 127.0.0.0/8 -m addrtype --dst-type LOCAL -j DOCKER
-A POSTROUTING -s 192.0.2.0/24 ! -o bridge1 -j MASQUERADE
-A POSTROUTING -s 172.17.0.0/16 ! -o docker0 -j MASQUERADE
-A DOCKER ! -i bridge1 -p tcp -m tcp --dport 8080 -j DNAT --to-destination 192.0.2.2:80
# raw
-A PREROUTING -d 192.0.2.2/32 ! -i bridge1 -j DROP
-A PREROUTING -d 127.0.0.1/32 ! -i lo -p tcp -m tcp --dport 8080 -j DROP
""",
    "1.4 icc disabled": """
# filter
-A DOCKER-FORWARD -i bridge1 -o bridge1 -j DROP
-A DOCKER-FORWARD -i bridge1 ! -o bridge1 -j ACCEPT
""",
    "1.5 internal networks": """
# filter
-A DOCKER-FORWARD -i bridgeICC -o bridgeICC -j ACCEPT
-A DOCKER-FORWARD -i bridgeNoICC -o bridgeNoICC -j DROP
-A DOCKER-INTERNAL ! -s 198.51.100.0/24 -o bridgeNoICC -j DROP
-A DOCKER-INTERNAL ! -d 198.51.100.0/24 -i bridgeNoICC -j DROP
-A DOCKER-INTERNAL ! -s 192.0.2.0/24 -o bridgeICC -j DROP
-A DOCKER-INTERNAL ! -d 192.0.2.0/24 -i bridgeICC -j DROP
""",
    "1.6 userland proxy disabled": """
# nat
-A OUTPUT -m addrtype --dst-type LOCAL -j DOCKER
-A POSTROUTING -o bridge1 -m addrtype --src-type LOCAL -j MASQUERADE
-A POSTROUTING -s 192.0.2.0/24 ! -o bridge1 -j MASQUERADE
-A POSTROUTING -s 192.0.2.2/32 -d 192.0.2.2/32 -p tcp -m tcp --dport 80 -j MASQUERADE
-A DOCKER -p tcp -m tcp --dport 8080 -j DNAT --to-destination 192.0.2.2:80
""",
    "1.7 embedded DNS in a container": """
# nat
-A OUTPUT -d 127.0.0.11/32 -j DOCKER_OUTPUT
-A POSTROUTING -d 127.0.0.11/32 -j DOCKER_POSTROUTING
-A DOCKER_OUTPUT -d 127.0.0.11/32 -p tcp -m tcp --dport 53 -j DNAT --to-destination 127.0.0.11:41233
-A DOCKER_OUTPUT -d 127.0.0.11/32 -p udp -m udp --dport 53 -j DNAT --to-destination 127.0.0.11:36455
-A DOCKER_POSTROUTING -s 127.0.0.11/32 -p tcp -m tcp --sport 41233 -j SNAT --to-source :53
-A DOCKER_POSTROUTING -s 127.0.0.11/32 -p udp -m udp --sport 36455 -j SNAT --to-source :53
# mangle
-A POSTROUTING -p sctp -m sctp --sport 80 -j CHECKSUM --checksum-fill
""",
    "1.8 classic (<= 27.x)": """
# filter
-P FORWARD DROP
-N DOCKER
-N DOCKER-ISOLATION-STAGE-1
-N DOCKER-ISOLATION-STAGE-2
-N DOCKER-USER
-A FORWARD -j DOCKER-USER
-A FORWARD -j DOCKER-ISOLATION-STAGE-1
-A FORWARD -o docker0 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A FORWARD -o docker0 -j DOCKER
-A FORWARD -i docker0 ! -o docker0 -j ACCEPT
-A FORWARD -i docker0 -o docker0 -j ACCEPT
-A DOCKER -d 172.17.0.2/32 ! -i docker0 -o docker0 -p tcp -m tcp --dport 80 -j ACCEPT
-A DOCKER-ISOLATION-STAGE-1 -i docker0 ! -o docker0 -j DOCKER-ISOLATION-STAGE-2
-A DOCKER-ISOLATION-STAGE-1 -j RETURN
-A DOCKER-ISOLATION-STAGE-2 -o docker0 -j DROP
-A DOCKER-ISOLATION-STAGE-2 -j RETURN
-A DOCKER-USER -j RETURN
# nat
-A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER
-A OUTPUT ! -d 127.0.0.0/8 -m addrtype --dst-type LOCAL -j DOCKER
-A POSTROUTING -s 172.17.0.0/16 ! -o docker0 -j MASQUERADE
-A POSTROUTING -s 172.17.0.2/32 -d 172.17.0.2/32 -p tcp -m tcp --dport 80 -j MASQUERADE
-A DOCKER -i docker0 -j RETURN
-A DOCKER ! -i docker0 -p tcp -m tcp --dport 8080 -j DNAT --to-destination 172.17.0.2:80
""",
    "1.9 swarm ingress": """
# filter
-A DOCKER-FORWARD -j DOCKER-INGRESS
-A DOCKER-FORWARD -i docker_gwbridge -o docker_gwbridge -j DROP
-A DOCKER-FORWARD -i docker_gwbridge ! -o docker_gwbridge -j ACCEPT
-A DOCKER-INGRESS -p tcp -m tcp --dport 8080 -j ACCEPT
-A DOCKER-INGRESS -p tcp -m tcp --sport 8080 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A DOCKER-INGRESS -j RETURN
# nat
-A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER-INGRESS
-A OUTPUT -m addrtype --dst-type LOCAL -j DOCKER-INGRESS
-A POSTROUTING -o docker_gwbridge -m addrtype --src-type LOCAL -j MASQUERADE
-A POSTROUTING -s 172.18.0.0/16 ! -o docker_gwbridge -j MASQUERADE
-A DOCKER-INGRESS -p tcp -m tcp --dport 8080 -j DNAT --to-destination 172.18.0.2:8080
-A DOCKER-INGRESS -j RETURN
""",
}
SAVE_ORDER = ("mangle", "raw", "filter", "nat")


def layout_tables(layout: str) -> dict[str, list[str]]:
    """The `-P/-N/-A` lines of a layout, per table."""
    tables: dict[str, list[str]] = {}
    table = "filter"
    for line in layout.strip().splitlines():
        if line.startswith("# "):
            table = line[2:]
        else:
            tables.setdefault(table, []).append(line)
    return tables


def restore_text(layout: str) -> str:
    """The layout as iptables-save prints it: what iptables-restore gets and save gives back."""
    out = []
    for table, lines in sorted(layout_tables(layout).items(), key=lambda kv: SAVE_ORDER.index(kv[0])):
        policy = {w[1]: w[2] for w in (x.split() for x in lines if x.startswith("-P "))}
        rules = [x for x in lines if x.startswith("-A ")]
        users = {x.split()[1] for x in lines if x.startswith("-N ")} | {x.split()[1] for x in rules}
        users |= {x.split()[-1] for x in rules if x.split()[-2] == "-j" and x.split()[-1].isupper()
                  and x.split()[-1].startswith("DOCKER")}
        users -= set(BUILTIN_CHAINS[table])
        out.append(f"*{table}")
        out += [f":{c} {policy.get(c, 'ACCEPT')} [0:0]" for c in BUILTIN_CHAINS[table]]
        out += [f":{c} - [0:0]" for c in sorted(users)]
        out += rules + ["COMMIT"]
    return "".join(x + "\n" for x in out)


def strip_comments(text: str) -> str:
    return "".join(x + "\n" for x in text.splitlines() if not x.startswith("#"))


# ------------------------------------------------------------------ errors, as the real tool words them
ERRORS = [  # (argv, exit status, stderr) checked against iptables 1.8.9 (nf_tables)
    ("-A INPUT foo", 2, "Bad argument `foo'\nTry `iptables -h' or 'iptables --help' for more information."),
    ("-A INPUT -s 999.1.1.1 -j ACCEPT", 2, "iptables v1.8.9 (nf_tables): host/network `999.1.1.1' not found"),
    ("-A INPUT -p tcp --dportx 1", 2, 'iptables v1.8.9 (nf_tables): unknown option "--dportx"'),
    ("-A INPUT -j FOO", 2, "iptables v1.8.9 (nf_tables): Chain 'FOO' does not exist"),
    ("-A INPUT -j NOPE --bad", 2, 'iptables v1.8.9 (nf_tables): unknown option "--bad"'),
    ("-A INPUT -m foo", 2, "iptables v1.8.9 (nf_tables): Couldn't load match `foo':No such file or directory\n"),
    ("-A INPUT -p tcp --dport 99999", 2, "iptables v1.8.9 (nf_tables): invalid port/service `99999' specified"),
    ("-A INPUT --dport 80", 2, 'iptables v1.8.9 (nf_tables): unknown option "--dport"'),
    ("-A INPUT -p xyz", 2, 'iptables v1.8.9 (nf_tables): unknown protocol "xyz" specified'),
    ("-A INPUT -s 10.0.0.1/33", 2, "iptables v1.8.9 (nf_tables): invalid mask `33' specified"),
    ("-A INPUT -o eth0", 2, "iptables v1.8.9 (nf_tables): Can't use -o with INPUT\n"),
    ("-A INPUT -m tcp --dport 80", 2, "iptables v1.8.9 (nf_tables): TCP match requires '-p tcp'"),
    ("-A INPUT -p tcp --dport 1 --dport 2", 2, "iptables v1.8.9 (nf_tables): Only one `--destination-port' allowed"),
    ("-A INPUT -m conntrack --ctstate FOO", 2, 'iptables v1.8.9 (nf_tables): Bad ctstate "FOO"'),
    ("-A INPUT -m comment ! --comment x", 2,
     'iptables v1.8.9 (nf_tables): comment: option "--comment" cannot be inverted.\n'),
    ("-A INPUT -m statistic --mode nth --every 3", 2,
     'iptables v1.8.9 (nf_tables): statistic: option "--every" also requires "--packet".\n'),
    ("-A INPUT -p icmp --icmp-type echo", 2,
     "iptables v1.8.9 (nf_tables): Ambiguous ICMP type `echo': `echo-reply' or `echo-request'?"),
    ("-t nat -A PREROUTING -j DNAT --to-destination 1.2.3.4:80", 2,
     "iptables v1.8.9 (nf_tables): Need TCP, UDP, SCTP or DCCP with port specification"),
    ("-A INPUT -j MARK", 2,
     "iptables v1.8.9 (nf_tables): MARK: One of the --set-xmark, --{and,or,xor,set}-mark options is required"),
    ("-A INPUT -j ACCEPT -j DROP", 2, "iptables v1.8.9 (nf_tables): multiple -j flags not allowed"),
    ("-A INPUT ! ! -s 1.2.3.4", 2, "iptables v1.8.9 (nf_tables): multiple consecutive ! not allowed"),
    ("-A INPUT -p tcp -m multiport --dports 1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16", 2,
     "iptables v1.8.9 (nf_tables): too many ports specified"),
    ("-A INPUT -D INPUT 1", 2, "iptables v1.8.9 (nf_tables): Cannot use -D with -A"),
    ("-L -s 1.2.3.4", 2, "iptables v1.8.9 (nf_tables): Illegal option `-s' with this command"),
    ("-N -foo", 2, "iptables v1.8.9 (nf_tables): chain name not allowed to start with `-'"),
    ("-N DNAT", 2, "iptables v1.8.9 (nf_tables): chain name may not clash with target name"),
    ("-D INPUT 0", 2, "iptables v1.8.9 (nf_tables): Invalid rule number `0'"),
    ("-A FOO -j ACCEPT", 1, "iptables: No chain/target/match by that name."),
    ("-N INPUT", 1, "iptables: Chain already exists."),
    ("-I INPUT 3 -j ACCEPT", 1, "iptables: Index of insertion too big."),
    ("-D INPUT 2", 1, "iptables: Index of deletion too big."),
    ("-R INPUT 2 -j ACCEPT", 1, "iptables: Index of replacement too big."),
    ("-C INPUT -j DROP", 1, "iptables: Bad rule (does a matching rule exist in that chain?)."),
    ("-P X ACCEPT", 1, "iptables: Bad built-in chain name."),
    ("-P INPUT FOO", 1, "iptables: Bad policy name. Run `dmesg' for more information."),
    ("-X INPUT", 4, "iptables v1.8.9 (nf_tables):  CHAIN_DEL failed (Device or resource busy): chain INPUT"),
    ("-A INPUT -j DNAT --to-destination 1.2.3.4", 4,
     "iptables v1.8.9 (nf_tables):  RULE_APPEND failed (Invalid argument): rule in chain INPUT"),
    ("-t nat -A OUTPUT -j DROP", 2, 'iptables v1.8.9 (nf_tables): \nThe "nat" table is not intended for '
     "filtering, the use of DROP is therefore inhibited.\n\n"),
    ("-t foo -L", 3, "iptables v1.8.9 (nf_tables): table 'foo' does not exist\n"
     "Perhaps iptables or your kernel needs to be upgraded."),
]
ERRORS += [  # the extensions of iptables_cases.EXTENSIONS, refusing
    ("-A INPUT -m limit ! --limit 3/hour", 2,
     'iptables v1.8.9 (nf_tables): limit: option "--limit" cannot be inverted.\n'),
    ("-A INPUT -m limit --limit 7/x", 2, 'iptables v1.8.9 (nf_tables): bad rate "7/x"\''),
    ("-A INPUT -m limit --limit 2/minutes", 2, 'iptables v1.8.9 (nf_tables): bad rate "2/minutes"\''),
    ("-A INPUT -m limit --limit 20000/s", 2, 'iptables v1.8.9 (nf_tables): Rate too fast "20000/s"'),
    ("-A INPUT -m limit --limit-burst 10001", 2, "iptables v1.8.9 (nf_tables): limit: bad value for option "
     '"--limit-burst", or out of range (0-10000).\n'),
    ("-A INPUT -m limit --limit 1/s --limit 2/s", 2,
     'iptables v1.8.9 (nf_tables): limit: option "--limit" can only be used once.\n'),
    ("-A INPUT -m iprange", 2,
     "iptables v1.8.9 (nf_tables): iprange match: You must specify `--src-range' or `--dst-range'"),
    ("-A INPUT -m iprange --src-range 1.2.3.4-foo", 2,
     'iptables v1.8.9 (nf_tables): iprange: Bad value for "--src-range" option: "foo"'),
    ("-A INPUT -m iprange --dst-range 1.2.3.4/24", 2,
     'iptables v1.8.9 (nf_tables): iprange: Bad value for "--dst-range" option: "1.2.3.4/24"'),
    ("-A INPUT -m length", 2, 'iptables v1.8.9 (nf_tables): length: option "--length" must be specified\n'),
    ("-A INPUT -m length --length 70000", 2, 'iptables v1.8.9 (nf_tables): length: bad value for option '
     '"--length" near "70000", or out of range (0-65535).\n'),
    ("-A INPUT -m length --length 1-5", 2, 'iptables v1.8.9 (nf_tables): length: Argument to "--length" has '
     'unexpected characters near "-5".\n'),
    ("-A INPUT -m length --length 5:5:5", 2,
     'iptables v1.8.9 (nf_tables): length: Too many components for option "--length" (max: 2)\n'),
    ("-A INPUT -m pkttype --pkt-type outgoing", 2, "iptables v1.8.9 (nf_tables): Bad packet type 'outgoing'"),
    ("-A INPUT -m pkttype", 2, 'iptables v1.8.9 (nf_tables): pkttype: option "--pkt-type" must be specified\n'),
    ("-A INPUT -m mac --mac-source 00:11:22:33:44", 2,
     "iptables v1.8.9 (nf_tables): Invalid MAC address specified."),
    ("-A INPUT -m mac --mac-source 001:11:22:33:44:55", 2,
     "iptables v1.8.9 (nf_tables): Invalid MAC address specified."),
    ("-A OUTPUT -m mac --mac-source 00:11:22:33:44:55", 4,
     "iptables v1.8.9 (nf_tables):  RULE_APPEND failed (Invalid argument): rule in chain OUTPUT"),
    ("-A INPUT -m connmark --mark 1/foo", 2, "iptables v1.8.9 (nf_tables): connmark: bad integer value for "
     'option "--mark", or out of range.\n'),
    ("-A INPUT -m connmark", 2, 'iptables v1.8.9 (nf_tables): connmark: option "--mark" must be specified\n'),
    ("-A INPUT -m ttl", 2, "iptables v1.8.9 (nf_tables): TTL match: You must specify one of `--ttl-eq', "
     "`--ttl-lt', `--ttl-gt"),
    ("-A INPUT -m ttl ! --ttl-lt 10", 2,
     'iptables v1.8.9 (nf_tables): ttl: option "--ttl-lt" cannot be inverted.\n'),
    ("-A INPUT -m ttl --ttl-eq 256", 2, "iptables v1.8.9 (nf_tables): ttl: bad value for option "
     '"--ttl-eq", or out of range (0-255).\n'),
    ("-A INPUT -m ttl --ttl-eq 1 --ttl 5", 2,
     'iptables v1.8.9 (nf_tables): ttl: option "--ttl-eq" can only be used once.\n'),
    ("-A INPUT -m ttl --ttl-gt 5 --ttl-eq 3", 2, 'iptables v1.8.9 (nf_tables): ttl: option "--ttl-gt" cannot '
     'be used together with "--ttl-eq".\n'),
    ("-A INPUT -m ttl --ttl-eq 1 --ttl-lt 1 --ttl-gt 1", 2, 'iptables v1.8.9 (nf_tables): ttl: option '
     '"--ttl-lt" cannot be used together with "--ttl-eq".\n'),
    ("-t mangle -A PREROUTING -j CONNMARK", 2, "iptables v1.8.9 (nf_tables): CONNMARK target: No operation "
     "specified"),
    ("-t mangle -A PREROUTING -j CONNMARK --mask 0xff", 2,
     "iptables v1.8.9 (nf_tables): CONNMARK target: No operation specified"),
    ("-t mangle -A PREROUTING -j CONNMARK --save-mark --restore-mark", 2, "iptables v1.8.9 (nf_tables): "
     'CONNMARK: option "--save-mark" cannot be used together with "--restore-mark".\n'),
    ("-t mangle -A PREROUTING -j CONNMARK --restore-mark --xor-mark 1 --set-mark 2", 2, "iptables v1.8.9 "
     '(nf_tables): CONNMARK: option "--set-mark" cannot be used together with "--restore-mark".\n'),
    ("-t mangle -A PREROUTING -j CONNMARK --save-mark --nfmask 1 --mask 0xff", 2, "iptables v1.8.9 "
     '(nf_tables): CONNMARK: option "--nfmask" cannot be used together with "--mask".\n'),
    ("-t mangle -A PREROUTING -j CONNMARK --set-mark foo", 2, "iptables v1.8.9 (nf_tables): CONNMARK: bad "
     'integer value for option "--set-mark", or out of range.\n'),
    ("-t mangle -A PREROUTING -j CONNMARK --and-mark foo", 2, "iptables v1.8.9 (nf_tables): CONNMARK: bad "
     'value for option "--and-mark", or out of range (0-4294967295).\n'),
    ("-t mangle -A PREROUTING -j CONNMARK --save-mark --left-shift-mark 33", 2, "iptables v1.8.9 (nf_tables): "
     'CONNMARK: bad value for option "--left-shift-mark", or out of range (0-32).\n'),
    ("-t mangle -A PREROUTING -j CONNMARK --restore-mark --right-shift-mark 32", 4,
     "iptables v1.8.9 (nf_tables):  RULE_APPEND failed (Invalid argument): rule in chain PREROUTING"),
    ("-t mangle -A PREROUTING -j CONNMARK ! --save-mark", 2,
     'iptables v1.8.9 (nf_tables): CONNMARK: option "--save-mark" cannot be inverted.\n'),
    ("-t mangle -A INPUT -j TTL", 2, "iptables v1.8.9 (nf_tables): TTL: You must specify an action"),
    ("-t mangle -A INPUT -j TTL --ttl-dec 0", 2, "iptables v1.8.9 (nf_tables): TTL: bad value for option "
     '"--ttl-dec", or out of range (1-255).\n'),
    ("-t mangle -A INPUT -j TTL --ttl-set 256", 2, "iptables v1.8.9 (nf_tables): TTL: bad value for option "
     '"--ttl-set", or out of range (0-255).\n'),
    ("-t mangle -A INPUT -j TTL --ttl-inc 1 --ttl-dec 1", 2, "iptables v1.8.9 (nf_tables): TTL: option "
     '"--ttl-dec" cannot be used together with "--ttl-inc".\n'),
    ("-t mangle -A INPUT -j TTL --ttl-set 1 --ttl-dec 1 --ttl-inc 1", 2, "iptables v1.8.9 (nf_tables): TTL: "
     'option "--ttl-set" cannot be used together with "--ttl-inc".\n'),
    ("-t mangle -A INPUT -j TTL ! --ttl-set 1", 2,
     'iptables v1.8.9 (nf_tables): TTL: option "--ttl-set" cannot be inverted.\n'),
    ("-A INPUT -j TTL --ttl-set 5", 4,
     "iptables v1.8.9 (nf_tables):  RULE_APPEND failed (Invalid argument): rule in chain INPUT"),
    ("-t nat -A PREROUTING -j TTL --ttl-set 5", 4,
     "iptables v1.8.9 (nf_tables):  RULE_APPEND failed (Invalid argument): rule in chain PREROUTING"),
    ("-N TTL", 2, "iptables v1.8.9 (nf_tables): chain name may not clash with target name"),
]
# on a fresh namespace no table exists yet, so a command needing a chain finds none
FRESH_ERRORS = [
    ("-D INPUT 1", 1, "iptables: No chain/target/match by that name."),
    ("-X INPUT", 1, "iptables: No chain/target/match by that name."),
    ("-E INPUT foo", 1, "iptables: No chain/target/match by that name."),
    ("-D INPUT -j ACCEPT", 1, "iptables: Bad rule (does a matching rule exist in that chain?)."),
]
SETUP = "-A INPUT -j ACCEPT"  # creates the filter table: ERRORS are met with it in place
HINT = "\nTry `iptables -h' or 'iptables --help' for more information."


def expected_stderr(status: int, text: str) -> str:
    return text + (HINT if status == 2 and not text.startswith("Bad argument") else "")


ALL_ERRORS = [(SETUP, *e) for e in ERRORS] + [("", *e) for e in FRESH_ERRORS]


RESTORE_ERRORS = [  # (input, exit status, stderr)
    ("*filter\n:FOO - [0:0]\n-A FOO -j BAR\nCOMMIT\n", 2,
     "iptables-restore v1.8.9 (nf_tables): Chain 'BAR' does not exist\nError occurred at line: 4\n"
     "Try `iptables-restore -h' or 'iptables-restore --help' for more information."),
    ("*filter\n-A INPUT -p tcp --dport 80 -j ACCEPT\n-A INPUT -s 999.1.1.1 -j ACCEPT\nCOMMIT\n", 2,
     "iptables-restore v1.8.9 (nf_tables): host/network `999.1.1.1' not found\nError occurred at line: 3\n"
     "Try `iptables-restore -h' or 'iptables-restore --help' for more information."),
    ("*filter\n-A INPUT -j ACCEPT\n", 1, "iptables-restore: COMMIT expected at line 3"),
    ("*foo\nCOMMIT\n", 2, "iptables-restore v1.8.9 (nf_tables): iptables-restore: line 1 table name 'foo' "
     "invalid\nError occurred at line: 1\nTry `iptables-restore -h' or 'iptables-restore --help' for more "
     "information."),
    ("-A INPUT -j ACCEPT\nCOMMIT\n", 1, "iptables-restore: line 1 failed"),
    ("*filter\n:INPUT FOO [0:0]\nCOMMIT\n", 1, "iptables-restore: line 2 failed: Bad policy name."),
    ("*filter\nfoo bar\nCOMMIT\n", 2, "Bad argument `foo'\nError occurred at line: 2\n"
     "Try `iptables-restore -h' or 'iptables-restore --help' for more information."),
    ("*filter\n-A NOPE -j ACCEPT\nCOMMIT\n", 1,
     "iptables-restore: line 2 failed: No chain/target/match by that name."),
    ("*filter\n:A - [0:0]\n-A INPUT -j A\n-X A\nCOMMIT\n", 4,
     "iptables-restore v1.8.9 (nf_tables): \nline 4: CHAIN_DEL failed (Device or resource busy): chain A"),
    ("*filter\n-t filter -A INPUT -j ACCEPT\nCOMMIT\n", 2,
     "iptables-restore v1.8.9 (nf_tables): The -t option cannot be used in iptables-restore.\n\n"
     "Error occurred at line: 2\nTry `iptables-restore -h' or 'iptables-restore --help' for more information."),
]


# ------------------------------------------------------------------ more extensions, as the real tool prints them
EXTENSIONS = [  # (table, `-A ...` as typed, as `iptables -S` prints it, the `-L -n` text of its modules)
    ("filter", "-A INPUT -m limit --limit 1/s -j ACCEPT", "-A INPUT -m limit --limit 1/sec -j ACCEPT",
     "limit: avg 1/sec burst 5"),
    ("filter", "-A INPUT -m limit --limit 5/minute --limit-burst 10", "-A INPUT -m limit --limit 5/min "
     "--limit-burst 10", "limit: avg 5/min burst 10"),
    ("filter", "-A INPUT -m limit", "-A INPUT -m limit --limit 3/hour", "limit: avg 3/hour burst 5"),
    ("filter", "-A INPUT -m limit --limit 600/m --limit-burst 0", "-A INPUT -m limit --limit 10/sec",
     "limit: avg 10/sec burst 5"),
    ("filter", "-A INPUT -m limit --limit 7/h --limit-burst 5", "-A INPUT -m limit --limit 7/hour",
     "limit: avg 7/hour burst 5"),
    ("filter", "-A INPUT -m limit --limit 100/day", "-A INPUT -m limit --limit 100/day",
     "limit: avg 100/day burst 5"),
    ("filter", "-A INPUT -m limit --limit 2", "-A INPUT -m limit --limit 2/sec", "limit: avg 2/sec burst 5"),
    ("filter", "-A INPUT -m limit --limit 120/min", "-A INPUT -m limit --limit 2/sec",
     "limit: avg 2/sec burst 5"),
    ("filter", "-A INPUT -m limit --limit 1000/hour", "-A INPUT -m limit --limit 1000/hour",
     "limit: avg 1000/hour burst 5"),
    ("filter", "-A INPUT -m limit --limit 10000/s --limit-burst 0x10", "-A INPUT -m limit --limit 10000/sec "
     "--limit-burst 16", "limit: avg 10000/sec burst 16"),
    ("filter", "-A INPUT -m limit --limit 13/second", "-A INPUT -m limit --limit 13/sec",
     "limit: avg 13/sec burst 5"),
    ("filter", "-A INPUT -p tcp -m limit --limit 1/s --dport 80", "-A INPUT -p tcp -m limit --limit 1/sec "
     "-m tcp --dport 80", "limit: avg 1/sec burst 5 tcp dpt:80"),
    ("filter", "-A INPUT -m iprange --src-range 10.0.0.1-10.0.0.9 -j ACCEPT",
     "-A INPUT -m iprange --src-range 10.0.0.1-10.0.0.9 -j ACCEPT", "source IP range 10.0.0.1-10.0.0.9"),
    ("filter", "-A INPUT -m iprange ! --dst-range 10.0.0.1-10.0.0.9 --src-range 01.2.3.4",
     "-A INPUT -m iprange --src-range 1.2.3.4-1.2.3.4 ! --dst-range 10.0.0.1-10.0.0.9",
     "source IP range 1.2.3.4-1.2.3.4 destination IP range ! 10.0.0.1-10.0.0.9"),
    ("filter", "-A INPUT -m iprange --dst-range 10.1-10.2", "-A INPUT -m iprange --dst-range 10.1.0.0-10.2.0.0",
     "destination IP range 10.1.0.0-10.2.0.0"),
    ("filter", "-A INPUT -m length --length 100", "-A INPUT -m length --length 100", "length 100"),
    ("filter", "-A INPUT -m length ! --length 100:200", "-A INPUT -m length ! --length 100:200",
     "length !100:200"),
    ("filter", "-A INPUT -m length --length :200", "-A INPUT -m length --length 0:200", "length 0:200"),
    ("filter", "-A INPUT -m length --length 0x10:", "-A INPUT -m length --length 16:65535", "length 16:65535"),
    ("filter", "-A INPUT -m length --length 300:200", "-A INPUT -m length --length 300:200", "length 300:200"),
    ("filter", "-A INPUT -m length --length 5:5", "-A INPUT -m length --length 5", "length 5"),
    ("filter", "-A INPUT -m pkttype --pkt-type unicast -j ACCEPT",
     "-A INPUT -m pkttype --pkt-type unicast -j ACCEPT", "PKTTYPE = unicast"),
    ("filter", "-A INPUT -m pkttype ! --pkt-type BCAST", "-A INPUT -m pkttype ! --pkt-type broadcast",
     "PKTTYPE != broadcast"),
    ("filter", "-A INPUT -m pkttype --pkt-type mcast", "-A INPUT -m pkttype --pkt-type multicast",
     "PKTTYPE = multicast"),
    ("filter", "-A INPUT -m pkttype --pkt-type host", "-A INPUT -m pkttype --pkt-type unicast",
     "PKTTYPE = unicast"),
    ("filter", "-A INPUT -m pkttype --pkt-type OtherHost", "-A INPUT -m pkttype --pkt-type otherhost",
     "PKTTYPE = otherhost"),
    ("filter", "-A INPUT -m mac --mac-source 00:11:22:33:44:55 -j ACCEPT",
     "-A INPUT -m mac --mac-source 00:11:22:33:44:55 -j ACCEPT", "MAC 00:11:22:33:44:55"),
    ("filter", "-A INPUT -m mac ! --mac-source AA:bb:CC:dd:EE:ff", "-A INPUT -m mac ! --mac-source "
     "aa:bb:cc:dd:ee:ff", "MAC ! aa:bb:cc:dd:ee:ff"),
    ("filter", "-A INPUT -m mac --mac-source 0:1:2:3:4:5", "-A INPUT -m mac --mac-source 00:01:02:03:04:05",
     "MAC 00:01:02:03:04:05"),
    ("filter", "-A INPUT -m connmark --mark 1 -j ACCEPT", "-A INPUT -m connmark --mark 0x1 -j ACCEPT",
     "connmark match  0x1"),
    ("filter", "-A INPUT -m connmark ! --mark 16/0xff", "-A INPUT -m connmark ! --mark 0x10/0xff",
     "connmark match ! 0x10/0xff"),
    ("filter", "-A INPUT -m connmark --mark 0x10/0xffffffff", "-A INPUT -m connmark --mark 0x10",
     "connmark match  0x10"),
    ("filter", "-A INPUT -m connmark --mark 5/0", "-A INPUT -m connmark --mark 0x5/0x0",
     "connmark match  0x5/0x0"),
    ("filter", "-A INPUT -m ttl --ttl-eq 64 -j ACCEPT", "-A INPUT -m ttl --ttl-eq 64 -j ACCEPT",
     "TTL match TTL == 64"),
    ("filter", "-A INPUT -m ttl ! --ttl 64", "-A INPUT -m ttl ! --ttl-eq 64", "TTL match TTL != 64"),
    ("filter", "-A INPUT -m ttl --ttl-lt 10", "-A INPUT -m ttl --ttl-lt 10", "TTL match TTL < 10"),
    ("filter", "-A INPUT -m ttl --ttl-gt 0x10", "-A INPUT -m ttl --ttl-gt 16", "TTL match TTL > 16"),
    ("filter", "-A FORWARD -m limit --limit 1/d --limit-burst 7 -m ttl --ttl-lt 3 -m length ! --length 1:9 "
     "-m mac --mac-source 02:00:00:00:00:01", "-A FORWARD -m limit --limit 1/day --limit-burst 7 -m ttl "
     "--ttl-lt 3 -m length ! --length 1:9 -m mac --mac-source 02:00:00:00:00:01",
     "limit: avg 1/day burst 7 TTL match TTL < 3 length !1:9 MAC 02:00:00:00:00:01"),
    ("filter", "-A FORWARD -j CONNMARK --save-mark", "-A FORWARD -j CONNMARK --save-mark --nfmask 0xffffffff "
     "--ctmask 0xffffffff", "CONNMARK save"),
    ("mangle", "-A PREROUTING -j CONNMARK --restore-mark", "-A PREROUTING -j CONNMARK --restore-mark "
     "--nfmask 0xffffffff --ctmask 0xffffffff", "CONNMARK restore"),
    ("mangle", "-A PREROUTING -j CONNMARK --set-mark 1", "-A PREROUTING -j CONNMARK --set-xmark 0x1/0xffffffff",
     "CONNMARK set 0x1"),
    ("mangle", "-A PREROUTING -j CONNMARK --set-mark 0x10/0xff", "-A PREROUTING -j CONNMARK --set-xmark "
     "0x10/0xff", "CONNMARK xset 0x10/0xff"),
    ("mangle", "-A PREROUTING -j CONNMARK --set-xmark 5", "-A PREROUTING -j CONNMARK --set-xmark 0x5/0xffffffff",
     "CONNMARK set 0x5"),
    ("mangle", "-A PREROUTING -j CONNMARK --and-mark 5", "-A PREROUTING -j CONNMARK --set-xmark 0x0/0xfffffffa",
     "CONNMARK and 0x5"),
    ("mangle", "-A PREROUTING -j CONNMARK --or-mark 5", "-A PREROUTING -j CONNMARK --set-xmark 0x5/0x5",
     "CONNMARK or 0x5"),
    ("mangle", "-A PREROUTING -j CONNMARK --xor-mark 5", "-A PREROUTING -j CONNMARK --set-xmark 0x5/0x0",
     "CONNMARK xor 0x5"),
    ("mangle", "-A PREROUTING -j CONNMARK --set-mark 0", "-A PREROUTING -j CONNMARK --set-xmark 0x0/0xffffffff",
     "CONNMARK and 0x0"),
    ("mangle", "-A PREROUTING -j CONNMARK --save-mark --mask 0xff", "-A PREROUTING -j CONNMARK --save-mark "
     "--nfmask 0xff --ctmask 0xff", "CONNMARK save mask 0xff"),
    ("mangle", "-A PREROUTING -j CONNMARK --save-mark --ctmask 0xf0 --nfmask 0xff", "-A PREROUTING -j CONNMARK "
     "--save-mark --nfmask 0xff --ctmask 0xf0", "CONNMARK save nfmask 0xff ctmask ~0xf0"),
    ("mangle", "-A PREROUTING -j CONNMARK --restore-mark --nfmask 0xff", "-A PREROUTING -j CONNMARK "
     "--restore-mark --nfmask 0xff --ctmask 0xffffffff", "CONNMARK restore ctmask 0xffffffff nfmask ~0xff"),
    ("mangle", "-A PREROUTING -j CONNMARK --save-mark --right-shift-mark 2 --left-shift-mark 4",
     "-A PREROUTING -j CONNMARK --save-mark --nfmask 0xffffffff --ctmask 0xffffffff --left-shift-mark 4",
     "CONNMARK save left-shift-mark 4"),
    ("mangle", "-A PREROUTING -j CONNMARK --restore-mark --right-shift-mark 8 --mask 0xff00",
     "-A PREROUTING -j CONNMARK --restore-mark --nfmask 0xff00 --ctmask 0xff00 --right-shift-mark 8",
     "CONNMARK restore mask 0xff00 right-shift-mark 8"),
    ("mangle", "-A PREROUTING -j CONNMARK --set-mark 1 --mask 0xff", "-A PREROUTING -j CONNMARK --set-xmark "
     "0x1/0xff", "CONNMARK xset 0x1/0xff"),
    ("mangle", "-A PREROUTING -j CONNMARK --ctmask 0xff --set-xmark 1/2", "-A PREROUTING -j CONNMARK "
     "--set-xmark 0x1/0x2", "CONNMARK xset 0x1/0x2"),
    ("mangle", "-A PREROUTING -j TTL --ttl-dec 2", "-A PREROUTING -j TTL --ttl-dec 2", "TTL decrement by 2"),
    ("mangle", "-A INPUT -j TTL --ttl-set 0x20", "-A INPUT -j TTL --ttl-set 32", "TTL set to 32"),
    ("mangle", "-A FORWARD -j TTL --ttl-set 1", "-A FORWARD -j TTL --ttl-set 1", "TTL set to 1"),
    ("mangle", "-A OUTPUT -j TTL --ttl-set 0", "-A OUTPUT -j TTL --ttl-set 0", "TTL set to 0"),
    ("mangle", "-A POSTROUTING -j TTL --ttl-inc 3", "-A POSTROUTING -j TTL --ttl-inc 3", "TTL increment by 3"),
    ("nat", "-A PREROUTING -j CONNMARK --save-mark --nfmask 0x1", "-A PREROUTING -j CONNMARK --save-mark "
     "--nfmask 0x1 --ctmask 0xffffffff", "CONNMARK save nfmask 0x1 ctmask ~0xffffffff"),
    ("raw", "-A OUTPUT -m connmark --mark 7 -j CONNMARK --or-mark 8", "-A OUTPUT -m connmark --mark 0x7 "
     "-j CONNMARK --set-xmark 0x8/0x8", "connmark match  0x7 CONNMARK or 0x8"),
]
