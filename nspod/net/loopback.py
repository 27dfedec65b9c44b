"""Bring up `lo` in a fresh network namespace (it starts down)."""


def loopback_up():
    from pyroute2 import IPRoute

    with IPRoute() as ip:
        (lo,) = ip.link_lookup(ifname="lo")
        ip.link("set", index=lo, state="up")
