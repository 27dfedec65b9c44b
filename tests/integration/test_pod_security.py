"""Pod-level securityContext and namespace fields, checked from inside real
containers: fsGroup (volume ownership as the kubelet applies it, and the
group in every container's groups). tests/root runs them as root too."""
import json
import os

from podtest import nspod, wait_for


def pod(name, containers, volumes=(), security=None, **spec):
    body = {"restartPolicy": "Never", "terminationGracePeriodSeconds": 0, "containers": containers,
            "volumes": list(volumes), **spec}
    if security is not None:
        body["securityContext"] = security
    return json.dumps({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": body})


def shell(name, script, **extra):
    return {"name": name, "command": ["sh", "-c", script + "; exec sleep 300"], **extra}


def output(pod_name, container):
    return wait_for(lambda: nspod("logs", pod_name, "-c", container, check=False).stdout.strip(),
                    what=f"the output of {pod_name}/{container}")


def test_fs_group_owns_empty_dirs_not_host_paths(pods, tmp_path):
    host_dir = tmp_path / "host"
    host_dir.mkdir(mode=0o755)
    host_dir.chmod(0o755)
    before = os.stat(host_dir)
    script = ("echo groups $(id -G); stat -c 'data %g %a' /data; stat -c 'mem %g %a' /mem; "
              "touch /data/new; stat -c 'new %g' /data/new; stat -c 'host %a' /host")
    mounts = [{"name": "data", "mountPath": "/data"}, {"name": "mem", "mountPath": "/mem"},
              {"name": "host", "mountPath": "/host"}]
    pods.run(pod("sec2-fsgroup", [shell("a", script, volumeMounts=mounts)],
                 volumes=[{"name": "data", "emptyDir": {}}, {"name": "mem", "emptyDir": {"medium": "Memory"}},
                          {"name": "host", "hostPath": {"path": str(host_dir)}}],
                 security={"runAsUser": 1000, "runAsGroup": 3000, "fsGroup": 2000, "supplementalGroups": [4000],
                           "fsGroupChangePolicy": "OnRootMismatch"}))
    seen = dict(line.split(" ", 1) for line in output("sec2-fsgroup", "a").splitlines())
    assert seen["groups"] == "3000 2000 4000"
    assert seen["data"] == "2000 2777"  # chgrp, g+rw, setgid on the directory
    assert seen["mem"] == "2000 2777"
    assert seen["new"] == "2000"  # a new file inherits the group (setgid)
    assert seen["host"] == "755"  # hostPath is not changed, as Kubernetes
    after = os.stat(host_dir)
    assert (after.st_gid, after.st_mode) == (before.st_gid, before.st_mode)


def test_without_fs_group_volumes_keep_their_group(pods):
    pods.run(pod("sec2-nofsgroup", [shell("a", "stat -c '%g %a' /data",
                                          volumeMounts=[{"name": "data", "mountPath": "/data"}])],
                 volumes=[{"name": "data", "emptyDir": {}}]))
    assert output("sec2-nofsgroup", "a") == "0 777"


SYSCTLS = {"kernel.shm_rmid_forced": "1", "net.ipv4.ip_local_port_range": "40000\t50000",
           "net.ipv4.tcp_keepalive_time": "600", "net.ipv4.ip_unprivileged_port_start": "80"}


def read_sysctls(names):
    return "; ".join(f"echo {n} $(cat /proc/sys/{n.replace('.', '/')})" for n in names)


def test_sysctls_are_the_pods_own(pods):
    host = {n: open(f"/proc/sys/{n.replace('.', '/')}").read().strip() for n in SYSCTLS}
    assert all(host[n] != v for n, v in SYSCTLS.items()), host  # else the test proves nothing
    wanted = [{"name": n, "value": v} for n, v in SYSCTLS.items()]
    wanted[1]["name"] = "net/ipv4/ip_local_port_range"  # the '/' spelling means the same
    pods.run(pod("sec2-sysctls", [shell("a", read_sysctls(SYSCTLS)), shell("b", read_sysctls(SYSCTLS))],
                 security={"sysctls": wanted}))
    pods.run(pod("sec2-nosysctls", [shell("a", read_sysctls(SYSCTLS))]))
    for container in ("a", "b"):  # every container of the pod: its net and ipc namespaces
        seen = dict(line.split(" ", 1) for line in output("sec2-sysctls", container).splitlines())
        assert seen == {n: " ".join(v.split()) for n, v in SYSCTLS.items()}
    other = dict(line.split(" ", 1) for line in output("sec2-nosysctls", "a").splitlines())
    assert other["net.ipv4.ip_local_port_range"] != "40000 50000"
    assert other["kernel.shm_rmid_forced"] == "0"
    assert {n: open(f"/proc/sys/{n.replace('.', '/')}").read().strip() for n in SYSCTLS} == host


def test_unsafe_sysctls_are_bad_input(pods):
    for sysctls, host_network, path, fragment in (
            ([{"name": "kernel.msgmax", "value": "1"}], False, "sysctls[0].name", "is not a safe sysctl"),
            ([{"name": "vm.swappiness", "value": "1"}], False, "sysctls[0].name", "is not a safe sysctl"),
            ([{"name": "net.ipv4.tcp_syncookies", "value": "1"}], True, "sysctls[0].name",
             "is not allowed with hostNetwork")):
        done = pods.run(pod("sec2-badsysctl", [shell("a", "true")], security={"sysctls": sysctls},
                            hostNetwork=host_network), check=False)
        assert done.returncode == 2, done
        assert f"spec.securityContext.{path}" in done.stderr and fragment in done.stderr, done.stderr
    assert "sec2-badsysctl" not in nspod("ps").stdout


def test_a_sysctl_value_the_kernel_refuses_fails_the_pod(pods):
    done = pods.run(pod("sec2-badvalue", [shell("a", "true")],
                        security={"sysctls": [{"name": "net.ipv4.tcp_syncookies", "value": "lots"}]}), check=False)
    assert done.returncode == 1
    assert "net.ipv4.tcp_syncookies" in done.stdout + done.stderr


def ns(kind, pid="self"):
    return os.readlink(f"/proc/{pid}/ns/{kind}")


def test_host_ipc_and_host_pid_share_the_nodes_namespaces(pods):
    marker = f"/dev/shm/sec2-hostipc-{os.getpid()}"
    with open(marker, "w") as f:
        f.write("from the host")
    try:
        script = ("echo ipc $(readlink /proc/self/ns/ipc); echo pid $(readlink /proc/self/ns/pid); "
                  f"echo shm $(cat {marker}); echo host $(test -d /proc/{os.getpid()} && echo seen); "
                  "echo one $(cat /proc/1/comm 2>/dev/null || echo hidden)")
        pods.run(pod("sec2-hostns", [shell("a", script)], hostIPC=True, hostPID=True,
                     security={"sysctls": [{"name": "net.ipv4.tcp_keepalive_time", "value": "700"}]}))
        pods.run(pod("sec2-ownns", [shell("a", script)]))
        host = dict(line.partition(" ")[::2] for line in output("sec2-hostns", "a").splitlines())
        own = dict(line.partition(" ")[::2] for line in output("sec2-ownns", "a").splitlines())
    finally:
        os.unlink(marker)
    node_pid_ns = ns("pid")
    assert host["ipc"] == ns("ipc") and host["pid"] == node_pid_ns
    assert host["shm"] == "from the host"  # the node's /dev/shm
    assert host["host"] == "seen"  # the test's own process, in the node's PID namespace
    assert own["ipc"] != ns("ipc") and own["pid"] != node_pid_ns
    assert own["shm"] == "" and own["host"] == "" and own["one"] == "sh"
    # exec lands in the same namespaces
    execd = nspod("exec", "sec2-hostns", "-c", "a", "--", "readlink", "/proc/self/ns/pid").stdout.strip()
    assert execd == node_pid_ns


def test_host_pid_and_ipc_conflicts_are_bad_input(pods):
    for spec, path, fragment in (
            ({"hostPID": True, "shareProcessNamespace": True}, "spec.shareProcessNamespace",
             "ShareProcessNamespace and HostPID cannot both be enabled"),
            ({"hostIPC": True, "securityContext": {"sysctls": [{"name": "kernel.shm_rmid_forced", "value": "1"}]}},
             "spec.securityContext.sysctls[0].name", "is not allowed with hostIPC"),
            ({"hostPID": "yes"}, "spec.hostPID", "must be a boolean")):
        done = pods.run(pod("sec2-badns", [shell("a", "true")], **spec), check=False)
        assert done.returncode == 2, done
        assert path in done.stderr and fragment in done.stderr, done.stderr


def test_a_working_dir_through_a_magic_link_is_refused_not_entered(pods, tmp_path):
    """workingDir through /proc/PID/root (here the supervisor's: the host's
    root, which a hostPID container sees) is looked up inside the
    container's root, where magic links are not followed: the start fails,
    and the command never runs with a cwd outside its root (runc's
    CVE-2024-21626). Nothing is made on the host."""
    pods.run(pod("sec2-anchor", [shell("a", "true")]))
    supervisor = pods.inspect("sec2-anchor")["nspod"]["watchdog"]["pid"]
    escaped = tmp_path / "escaped"
    workdir = f"/proc/{supervisor}/root{escaped}"
    pods.run(pod("sec2-cwd", [{"name": "a", "command": ["sh", "-c", "ls ../../../..; sleep 300"],
                               "workingDir": workdir}], hostPID=True))
    state = wait_for(lambda: pods.status("sec2-cwd", "a")["state"].get("terminated"), what="the failed start")
    assert state["reason"] == "StartError" and f"proc/{supervisor}/root" in state["message"], state
    assert not escaped.exists()


def test_the_command_gets_stdin_stdout_and_stderr_only(pods):
    """Every other fd nspod-exec held (its report pipe, the plan, the pod's
    namespaces, a seccomp-filtered close_range's fallback) closes on exec."""
    pods.run(pod("sec2-fds", [shell("a", "echo $(ls /proc/self/fd)")]))
    assert output("sec2-fds", "a").split() == ["0", "1", "2", "3"]  # (3: ls's own listing of the folder)
