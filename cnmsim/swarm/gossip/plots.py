"""Figures of gossip studies: infection curve, detection CDF, messages per host.

Each function takes one `StudyResult` or several (overlaid) and returns a matplotlib `Figure`
built without pyplot (no global state, renders with Agg: `fig.savefig("x.png")`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from matplotlib.figure import Figure

# GossipInterval and GossipNodes of the presets (facts §1.1), for Serf's model curve
_GOSSIP = {"lan": (0.2, 3), "wan": (0.5, 4), "local": (0.1, 3)}


def _many(results: Any) -> list[Any]:
    return list(results) if isinstance(results, Sequence) else [results]


def _label(r: Any) -> str:
    p = r.params
    lg = "" if p.get("lifeguard", True) else ", no lifeguard"
    loss = f", loss {p['loss']:g}" if p.get("loss") else ""
    return f"n={p['nodes']} {p.get('config', '')}{loss}{lg} seed {p.get('seed', 0)}"


def serf_model(n: int, interval: float = 0.2, fanout: int = 3, loss: float = 0.0,
               t_max: float = 5.0, steps: int = 200) -> tuple[list[float], list[float]]:
    """Serf's convergence simulator (facts §5): fraction informed after t seconds."""
    c = 0.5 * fanout * (1 - loss)
    ts = [t_max * i / steps for i in range(steps + 1)]
    return ts, [1 / (1 + (n + 1) * math.exp(-c * t / interval)) for t in ts]


def infection_curve(results: Any, model: bool = True) -> Figure:
    """Fraction of nodes that know the broadcast against seconds since it was sent; with
    Serf's logistic model for the first result's size when `model`."""
    rs = _many(results)
    fig = Figure(figsize=(6.4, 4.0))
    ax = fig.add_subplot()
    t_max = 1.0
    for r in rs:
        ts, fr = r.infection
        if ts:
            ax.step(ts, fr, where="post", label=_label(r))
            t_max = max(t_max, ts[-1])
    if model and rs:
        p = rs[0].params
        interval, fanout = _GOSSIP.get(p.get("config", "lan"), _GOSSIP["lan"])
        interval = p.get("gossip_interval", interval)
        fanout = p.get("gossip_nodes", fanout)
        ts, fr = serf_model(p["nodes"], interval, fanout, p.get("loss", 0.0), t_max * 1.1)
        ax.plot(ts, fr, "k--", lw=1, label="Serf model")
    ax.set_xlabel("seconds since the broadcast")
    ax.set_ylabel("fraction of nodes informed")
    ax.set_ylim(0, 1.02)
    ax.set_title("Dissemination of one broadcast")
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    return fig


def detection_cdf(results: Any) -> Figure:
    """CDF over (crash, observer) pairs of the seconds until the observer declared it dead."""
    fig = Figure(figsize=(6.4, 4.0))
    ax = fig.add_subplot()
    for r in _many(results):
        d = sorted(r.detection)
        if d:
            total = max(len(d), (r.params["nodes"] - len(r.crashed)) * max(1, len(r.crashed)))
            ax.step([0.0, *d], [0.0, *((i + 1) / total for i in range(len(d)))],
                    where="post", label=_label(r))
    ax.set_xlabel("seconds since the crash")
    ax.set_ylabel("fraction of nodes that declared it dead")
    ax.set_ylim(0, 1.02)
    ax.set_title("Failure detection")
    ax.grid(alpha=0.3)
    if ax.lines:
        ax.legend(fontsize="small")
    return fig


def messages_per_host(results: Any) -> Figure:
    """Messages sent per second by each host (sorted), one line per result."""
    fig = Figure(figsize=(6.4, 4.0))
    ax = fig.add_subplot()
    for r in _many(results):
        dur = r.params.get("duration") or 1.0
        rates = sorted((x / dur for x in r.sent_per_node), reverse=True)
        if rates:
            ax.plot(range(len(rates)), rates, label=_label(r))
            ax.axhline(r.metrics.get("msgs_per_node_per_s", math.nan), ls=":", lw=1,
                       color=ax.lines[-1].get_color())
    ax.set_xlabel("host (sorted by load)")
    ax.set_ylabel("messages sent per second")
    ax.set_title("Messages per host (dotted: mean)")
    ax.grid(alpha=0.3)
    if ax.lines:
        ax.legend(fontsize="small")
    return fig
