"""Container probes (liveness, readiness, startup), as the kubelet's prober
runs them (pkg/kubelet/prober), inside the supervisor's one event loop.

    state.py       one probe's schedule and result arithmetic (pure: thresholds,
                   the startup gate, on-hold after a failure that kills)
    network.py     httpGet and tcpSocket checks on non-blocking sockets of the
                   loop, made in the node network (nodesockets.py)
    execcheck.py   exec checks (and exec hooks): nspod-exec joins the container
                   and runs the command with the probe's timeout
    manager.py     a pod's probes: starts them with each container instance,
                   runs what is due, turns results into ready/started, events
                   and liveness kills through its watchdog
"""
