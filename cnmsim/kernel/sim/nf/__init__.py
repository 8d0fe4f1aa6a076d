"""The netfilter datapath of the simulated kernel: iptables tables, conntrack and NAT.

    engine.py     attach(ns): one hook function per table at Linux's priorities, ipt_do_table
    view.py       the packet fields a hook reads, parsed once per hook call
    compile.py    rules -> predicates over a view, once per ruleset generation (+ matches.py)
    targets.py    ACCEPT/DROP/REJECT/LOG/MARK/TRACE/NOTRACK ... and the NAT targets
    conntrack.py  per-namespace connection tracking (tuples, TCP/UDP/ICMP state, timeouts)
    nat.py        NAT bindings on conntrack entries and the packet rewrites they cause
    ipset.py      per-namespace ipsets (hash:net, hash:ip) for `-m set`
    explain.py    trace sentences, with Docker's chains explained in words
"""
