"""The swarm control plane: SWIM gossip as memberlist implements it, and libnetwork's networkdb.

See `api.py` for the contract between the parts (cluster, transports, networkdb, studies).
"""
