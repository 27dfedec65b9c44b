"""What each mount of a container is, from the pod's spec and state: the
container's root (an image's layers, or a process container's tmpfs), a host
directory, a volume, a file nspod wrote for the pod, /proc and the kernel
paths hidden in it, /sys, /dev and its devices. Pure: the mounts come from
/proc/PID/mountinfo (procfs.parse_mountinfo)."""
from ..rootfs import DEVICES, HOST_DIRS, KERNEL_PATHS, MASK, SECRET_TREES

POD_FILES = {"/etc/hosts": "hosts", "/etc/resolv.conf": "resolv.conf", "/etc/hostname": "hostname"}
OWN_TMPFS = ("/tmp", "/run")


def _volume_detail(volume, mount):
    if volume is None:
        return f'volume "{mount["name"]}"'
    if "emptyDir" in volume:
        medium = (volume["emptyDir"] or {}).get("medium")
        text = f'emptyDir "{volume["name"]}"' + (" (medium Memory: a tmpfs in the pod's mount namespace)"
                                                 if medium == "Memory" else "")
    elif "hostPath" in volume:
        text = f'hostPath "{volume["name"]}" ({volume["hostPath"]["path"]})'
    else:
        text = f'volume "{volume["name"]}"'
    if mount.get("subPath"):
        text += f', subPath "{mount["subPath"]}"'
    return text


def _root_detail(rootfs):
    if not rootfs:
        return "process container root: a tmpfs holding the host's system directories read-only"
    driver = rootfs.get("driver")
    layers = rootfs.get("layers")
    text = f"image root: {driver}" + (f" of {layers} layer{'s' if layers != 1 else ''}" if layers else "")
    return text + (f" ({rootfs['fallback']})" if rootfs.get("fallback") else "")


def classify(mounts, container, volumes, rootfs=None):
    """Each mount (procfs.parse_mountinfo's dicts) with "kind" and "what" added.
    container: its spec (dict); volumes: the pod's spec.volumes; rootfs: the
    container's root record (inspect's nspod.containers[].rootfs) or None."""
    by_name = {v["name"]: v for v in volumes or ()}
    volume_mounts = {m["mountPath"].rstrip("/") or "/": m for m in container.get("volumeMounts", ())}
    kernel = dict(KERNEL_PATHS)
    out = []
    for m in mounts:
        target = m["target"]
        if target in volume_mounts:  # a volume wins over anything nspod puts at the same path
            vm = volume_mounts[target]
            kind, what = "volume", _volume_detail(by_name.get(vm["name"]), vm)
        elif target == "/":
            kind, what = "rootfs", _root_detail(rootfs)
        elif target in POD_FILES:
            kind, what = "pod-file", f"the pod's {POD_FILES[target]}, written by nspod in its state folder"
        elif not rootfs and target.lstrip("/") in HOST_DIRS:
            kind, what = "host-directory", "the host's, read-only"
        elif not rootfs and target.split("/")[1:2] and target.split("/")[1] in SECRET_TREES and (
                (m["fstype"] == "devtmpfs" and m["root"] == "/null") or m["fstype"] == "tmpfs"):
            # As root, what the host keeps from its users is hidden (rootfs.find_host_secrets).
            kind, what = "host-secret-hidden", "a host entry only root may read, hidden"
        elif target == "/proc":
            kind, what = "proc", "proc of the container's pid namespace"
        elif target in kernel:
            kind = "kernel-masked" if kernel[target] == MASK else "kernel-read-only"
            what = "hidden (containerd's masked path)" if kernel[target] == MASK else "read-only (containerd's list)"
        elif target == "/sys":
            kind, what = "sysfs", "the host's /sys"
        elif target.startswith("/sys/fs/cgroup"):
            kind, what = "cgroupfs", "cgroup hierarchy, seen through /sys"
        elif target.startswith("/sys/"):  # the host's own mounts under /sys come along with it
            kind, what = "sys-submount", "the host's, mounted under its /sys"
        elif target == "/dev":
            kind, what = "dev", "the container's own /dev (tmpfs)"
        elif target.startswith("/dev/") and target[5:] in DEVICES:
            kind, what = "device", "the host's device node, bound"
        elif target == "/dev/pts":
            kind, what = "devpts", "the container's own pseudo-terminals"
        elif target == "/dev/shm":
            kind, what = "shm", "the pod's /dev/shm (one per pod, as it shares one IPC namespace)"
        elif target in OWN_TMPFS and m["fstype"] == "tmpfs":
            kind, what = "tmpfs", "the container's own tmpfs"
        else:
            kind, what = "other", ""
        out.append(dict(m, kind=kind, what=what))
    return out
