"""Start a process that belongs to no pod: detached from the caller.

The node network's holder and its uplink serve every pod, so they must not
be the children of one pod's watchdog (a child subreaper, which would inherit
them as orphans and have to reap them). We fork twice with the watchdog's
subreaper attribute cleared: the grandchild's parent exits at once and it is
re-parented to the next subreaper above, the node holder, which reaps it
whenever it ends (else to init).
"""
import os
import traceback


def spawn_detached(child_main, drop_mounts_under=None):
    """Run child_main() in a detached grandchild (its own session); return
    the grandchild's pid. child_main must exec or exit.

    drop_mounts_under: the caller's mount namespace holds mounts of its own
    (a watchdog's: the pod's tmpfs volumes). The grandchild gets a mount
    namespace of its own without the mounts under this path, so that it does
    not keep them alive after the pod is gone."""
    import prctl

    was_subreaper = prctl.get_child_subreaper()
    r, w = os.pipe2(os.O_CLOEXEC)
    if was_subreaper:
        prctl.set_child_subreaper(0)
    try:
        mid = os.fork()
        if mid == 0:
            status = 1
            try:
                os.close(r)
                os.setsid()
                pid = os.fork()
                if pid == 0:
                    os.close(w)
                    try:
                        if drop_mounts_under:
                            _drop_mounts(str(drop_mounts_under))
                        child_main()
                    except BaseException:
                        traceback.print_exc()
                    os._exit(127)
                os.write(w, b"%d" % pid)
                status = 0
            finally:
                os._exit(status)
        os.close(w)
        w = None
        data = os.read(r, 32)
        os.waitpid(mid, 0)
    finally:
        os.close(r)
        if w is not None:
            os.close(w)
        if was_subreaper:
            prctl.set_child_subreaper(1)
    if not data:
        raise OSError("could not start a detached process")
    return int(data)


def _drop_mounts(under):
    """A copy of our mount namespace, minus every mount at or below `under`."""
    from . import mounts
    from .libc import call, cstr
    from .namespaces import unshare

    unshare("mnt")
    mounts.make_private("/")
    points = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            point = line.split()[4].replace("\\040", " ")
            if point == under or point.startswith(under.rstrip("/") + "/"):
                points.append(point)
    for point in sorted(points, key=len, reverse=True):
        try:
            call("umount2", cstr(point), mounts.MNT_DETACH)
        except OSError:
            pass  # gone with a parent already
