"""Networking with pyroute2 (netlink). Imported lazily: pyroute2 costs ~100 ms."""
