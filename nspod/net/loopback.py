"""Bring up `lo` in a fresh network namespace (it starts down)."""
from . import rtnl


def loopback_up():
    with rtnl.Rtnl() as ip:
        ip.do(rtnl.set_up(ip.link_index("lo"), "lo"))
