"""Pod networking.

    podnet.py        a pod's network: attach/detach (watchdog), release (CLI), inspect
    node_network.py  the per-user node network: holder, bridge, lock, repair, removal
    ipam.py          addresses: the lease table and its arithmetic
    uplink.py        slirp4netns: start, and its API (port forwards)
    ports.py         published ports: test-bind, forward, record
    hosts.py         the pod's /etc/hosts and /etc/resolv.conf
    netlink.py       the netlink steps, in forked helpers inside the namespaces
    rtnl.py          a small rtnetlink client (stdlib sockets): the requests those steps make
    loopback.py      lo up in a new network namespace (the pause holder)
"""
