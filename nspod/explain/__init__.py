"""Learning mode, the picture part: `nspod explain POD` shows one pod as the
kernel sees it.

    picture = gather.picture(name)     what is true now, read from /proc, the
                                       cgroup files and the pod's network
                                       namespace (a dict: the `-o json` shape)
    text = draw.text(picture, colour)  the terminal picture
    dot = draw.dot(picture)            the same as a Graphviz graph

Gathering is apart from drawing so a later tutorial can check what it shows.
The parts: `procfs.py` reads processes (status, namespaces, mountinfo),
`mounts.py` names each mount from the pod's spec, `network.py` reads links,
addresses and routes in a short-lived child inside the pod's (and the node's)
network namespace, `cgroup.py` reads the limits and the usage.
"""
