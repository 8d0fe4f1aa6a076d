"""A rule's `-A CHAIN ...` text for traces, as iptables-save prints it.

The text layer's formatter (cnmsim.netfilter.format) is used when it offers `rule_spec`; this
minimal renderer of the model's canonical values is the fallback.
"""

from __future__ import annotations

from cnmsim.netfilter.model import Rule


def _neg(flag: bool) -> str:
    return "! " if flag else ""


def fallback_spec(chain: str, rule: Rule) -> str:
    parts = [f"-A {chain}"]
    for opt, val, neg in (("-s", rule.src, rule.src_neg), ("-d", rule.dst, rule.dst_neg),
                          ("-i", rule.iif, rule.iif_neg), ("-o", rule.oif, rule.oif_neg),
                          ("-p", rule.proto, rule.proto_neg)):
        if val is not None:
            parts.append(f"{_neg(neg)}{opt} {val}")
    if rule.fragment is not None:
        parts.append(f"{_neg(not rule.fragment)}-f")
    for m in rule.matches:
        parts.append(f"-m {m.module}")
        for o in m.options:
            parts.append(" ".join([f"{_neg(o.neg)}{o.name}", *o.values]))
    t = rule.target
    if t is not None:
        parts.append(f"{'-g' if t.goto else '-j'} {t.name}")
        for o in t.options:
            parts.append(" ".join([f"{_neg(o.neg)}{o.name}", *o.values]))
    return " ".join(parts)


def rule_spec(chain: str, rule: Rule) -> str:
    """`-A CHAIN <matches> -j TARGET`, by the text layer when it can, else by fallback_spec."""
    try:
        from cnmsim.netfilter import format as fmt
    except ImportError:
        return fallback_spec(chain, rule)
    fn = getattr(fmt, "rule_spec", None)
    if fn is None:
        return fallback_spec(chain, rule)
    try:
        text = fn(chain, rule)
    except (TypeError, ValueError, AttributeError, KeyError):
        return fallback_spec(chain, rule)
    return text if text.startswith("-A ") else f"-A {chain} {text}".rstrip()
