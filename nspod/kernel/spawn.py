"""Fork a child into a new or existing PID namespace.

A PID namespace applies to the children a process forks after unshare/setns,
and a process may switch its own `pid_for_children` only once. So we fork an
intermediate that enters the namespace and forks the real child, then exits;
the child is re-parented to us because we are a child subreaper. Our own
namespaces never change, and we still get the child's exit status.
"""
import os
import traceback

from .namespaces import setns, unshare


def spawn(child_main, *, new_pid_ns=False, join_pid_ns=None):
    """Start child_main() in a forked process and return its pid (as we see it).
    child_main must exec or exit; an exception there ends the child with 127."""
    if not new_pid_ns and join_pid_ns is None:
        pid = os.fork()
        if pid == 0:
            _run_child(child_main)
        return pid
    r, w = os.pipe2(os.O_CLOEXEC)
    mid = os.fork()
    if mid == 0:
        status = 1
        try:
            os.close(r)
            if new_pid_ns:
                unshare("pid")
            else:
                setns(join_pid_ns, "pid")
            pid = os.fork()
            if pid == 0:
                os.close(w)
                _run_child(child_main)
            os.write(w, b"%d" % pid)
            status = 0
        except BaseException:
            traceback.print_exc()
        finally:
            os._exit(status)
    os.close(w)
    data = os.read(r, 32)
    os.close(r)
    os.waitpid(mid, 0)
    if not data:
        raise OSError("could not fork into the pod's PID namespace")
    return int(data)


def _run_child(child_main):
    try:
        child_main()
    except BaseException:
        traceback.print_exc()
    os._exit(127)
