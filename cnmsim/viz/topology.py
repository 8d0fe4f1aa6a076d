"""The lab as a graph: namespaces hold devices; veth pairs, bridge ports, stacked devices and
cables to underlay segments are the edges.  `draw_topology(lab)` renders it with matplotlib."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import networkx as nx

if TYPE_CHECKING:
    from cnmsim.lab import Lab

COLOURS = {"netns": "#dbe9f6", "bridge": "#f6c28b", "veth": "#b5d99c", "ether": "#c9c9c9",
           "segment": "#9ab3d5", "vxlan": "#e6a1c6", "macvlan": "#f2e394", "vlan": "#d5b8f0",
           "loopback": "#eeeeee", "dummy": "#eeeeee"}


def _dev_id(host: str, ns: str, dev: str) -> str:
    return f"{host}/{ns or '-'}/{dev}"


def topology_graph(lab: Lab, loopback: bool = False) -> nx.Graph:
    """Nodes: namespaces, devices and segments; edges say how they are joined (`kind` attribute)."""
    g = nx.Graph()
    for seg in lab.segments.values():
        g.add_node(f"segment:{seg.name}", kind="segment", label=seg.name)
    for hname, host in lab.hosts.items():
        for ns in host.kernel.all_namespaces():
            nid = f"{hname}/{ns.name or '-'}"
            g.add_node(nid, kind="netns", label=ns.label)
            for dev in ns.devices.values():
                if dev.kind == "loopback" and not loopback:
                    continue
                did = _dev_id(hname, ns.name, dev.name)
                addrs = [str(a.iface) for a in ns.addrs_of(dev) if a.scope != "host"]
                g.add_node(did, kind=dev.kind, label="\n".join([dev.name, *addrs]))
                g.add_edge(nid, did, kind="in")
                if dev.master is not None:
                    g.add_edge(did, _dev_id(hname, dev.master.ns.name, dev.master.name), kind="port")
                peer = getattr(dev, "peer", None)
                if peer is not None:
                    g.add_edge(did, _dev_id(hname, peer.ns.name, peer.name), kind="veth")
                lower = getattr(dev, "lower", None) or getattr(dev, "parent", None)
                if lower is not None:
                    g.add_edge(did, _dev_id(hname, lower.ns.name, lower.name), kind="stacked")
                port = getattr(dev, "port", None)
                if port is not None and hasattr(port, "segment"):
                    g.add_edge(did, f"segment:{port.segment.name}", kind="cable")
    return g


def draw_topology(lab: Lab, ax: Any = None, loopback: bool = False, path: str | None = None) -> Any:
    """Draw the lab; returns the matplotlib Axes (saved to `path` as PNG/SVG when given)."""
    import matplotlib

    if path is not None:
        matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    g = topology_graph(lab, loopback)
    if ax is None:
        _, ax = plt.subplots(figsize=(10, 7))
    pos = nx.spring_layout(g, seed=0, k=1.5 / max(len(g), 1) ** 0.5)  # seeded: the same drawing every run
    styles = {"veth": "solid", "port": "dashed", "cable": "solid", "stacked": "dotted", "in": "dotted"}
    for kind, style in styles.items():
        edges = [(u, v) for u, v, k in g.edges(data="kind") if k == kind]
        nx.draw_networkx_edges(g, pos, edgelist=edges, ax=ax, style=style,
                               width=2.0 if kind in ("veth", "cable") else 1.0,
                               edge_color="#555555" if kind != "in" else "#bbbbbb")
    colours = [COLOURS.get(k, "#dddddd") for _, k in g.nodes(data="kind")]
    nx.draw_networkx_nodes(g, pos, ax=ax, node_color=colours, node_size=1400, edgecolors="#333333")
    nx.draw_networkx_labels(g, pos, labels=dict(g.nodes(data="label")), ax=ax, font_size=7)
    ax.set_axis_off()
    if path is not None:
        ax.figure.savefig(path, bbox_inches="tight")
    return ax
