"""iptables rulesets as text and data: the interface between the engine and netfilter.

The engine hands rules to a namespace as `iptables-restore` text; the simulated kernel parses
it into a `Ruleset` (model.py) and evaluates it (cnmsim.kernel.sim.nf); the real backend hands
the same text to iptables-restore.  `iptables-save` prints the model back, byte for byte.
"""
