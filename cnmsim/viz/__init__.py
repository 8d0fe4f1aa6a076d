"""Drawings of a lab: topology graphs (networkx + matplotlib)."""

from cnmsim.viz.topology import draw_topology, topology_graph

__all__ = ["draw_topology", "topology_graph"]
