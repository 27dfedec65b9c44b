"""Each pod's own /etc/hosts and /etc/resolv.conf, as the kubelet makes them,
bind-mounted over the host's in every container of the pod.

The content functions are pure (and unit tested); `write` puts the files in
the pod's state folder and `bind_into` mounts them in a container's root.
"""
import os


from .ipam import HOST_ALIAS_NAME, HOST_LOOPBACK_GATEWAY, UPLINK_DNS

HEADER = "# nspod-managed hosts file.\n"
LOCALHOST = (
    "127.0.0.1\tlocalhost\n"
    "::1\tlocalhost ip6-localhost ip6-loopback\n"
    "fe00::0\tip6-localnet\n"
    "fe00::0\tip6-mcastprefix\n"
    "fe00::1\tip6-allnodes\n"
    "fe00::2\tip6-allrouters\n"
)


def hosts_file(hostname, pod_ip, aliases=(), host_hosts=None):
    """The pod's /etc/hosts. On the pod network: localhost, the pod's
    hostname -> its IP and host.nspod.internal -> the host's loopback, as the
    kubelet writes it. On the host network (host_hosts given): the host's own
    file, as the kubelet copies it. hostAliases come last in both."""
    if host_hosts is not None:
        text = host_hosts if host_hosts.endswith("\n") or not host_hosts else host_hosts + "\n"
    else:
        text = HEADER + LOCALHOST + f"{pod_ip}\t{hostname}\n"
        text += f"{HOST_LOOPBACK_GATEWAY}\t{HOST_ALIAS_NAME}\n"
    if aliases:
        text += "\n# Entries added by HostAliases.\n"
        for alias in aliases:
            text += "\t".join((alias.ip, *alias.hostnames)) + "\n"
    return text


def resolv_conf(host_resolv, host_network=False):
    """The pod's /etc/resolv.conf. On the pod network the name server is the
    uplink's DNS forwarder (it asks the host's servers); search and options
    lines are the host's. On the host network: the host's file."""
    if host_network:
        return host_resolv
    kept = [line for line in host_resolv.splitlines()
            if line.split()[:1] and line.split()[0] in ("search", "domain", "options")]
    return "\n".join([f"nameserver {UPLINK_DNS}", *kept]) + "\n"


def _read(path):
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return ""


def write(pod_dir, pod, pod_ip):
    """Write the pod's files; return {path in the container: file on the host}."""
    files = {
        "/etc/hosts": hosts_file(pod.hostname or pod.name[:63], pod_ip, pod.host_aliases,
                                 _read("/etc/hosts") if pod.host_network else None),
        "/etc/resolv.conf": resolv_conf(_read("/etc/resolv.conf"), pod.host_network),
    }
    out = {}
    for target, text in files.items():
        path = os.path.join(pod_dir, "etc-" + os.path.basename(target))
        tmp = path + ".tmp"
        with open(tmp, "w") as f:
            f.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
        out[target] = path
    return out


def bind_into(ops, root, files, create=False):
    """Bind each file over its path in the container's root (the root's /etc
    is the host's, read-only: a bind over one file is still allowed). The
    target is resolved inside the root (nspod-exec's etcfile): a link such as
    /etc/resolv.conf -> ../run/systemd/resolve/stub-resolv.conf is followed
    there, and its missing target is made in the root's own /run. `create`:
    made where the root has none (an image's root: the kubelet always mounts them).
    nodev, as every other mount of a container."""
    for target, source in (files or {}).items():
        ops.add("etcfile", root, target, source, create)
