"""The built-in network drivers: bridge, host, null (none) and macvlan."""
