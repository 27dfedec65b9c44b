"""Writing sysctls of the namespaces the calling process is in (a net
sysctl is its network namespace's, kernel.shm* its IPC namespace's)."""
from .. import steps


def path(name):
    return "/proc/sys/" + name.replace(".", "/")


def write(name, value):
    with open(path(name), "w") as f:
        f.write(str(value))
    if steps.sink is not None:
        steps.tell(f'write("{path(name)}", "{value}")', by_hand=f"sysctl -w {name}={value}")
