"""The pod sandbox core, for real: namespaces, volumes, hostname, exec, as an
unprivileged user. Every test must leave nothing behind (conftest checks)."""
import json
import os
import time

import pytest

from podtest import nspod, wait_for

TWO_CONTAINERS = """
apiVersion: v1
kind: Pod
metadata: {name: %(name)s}
spec:
  hostname: %(hostname)s
  shareProcessNamespace: %(share)s
  volumes:
  - name: shared
    emptyDir: {}
  containers:
  - name: server
    command: [python3, -c, "%(server)s"]
    ports: [{containerPort: 8080}]
    volumeMounts: [{name: shared, mountPath: /data}]
  - name: client
    command: [sleep, "300"]
    volumeMounts: [{name: shared, mountPath: /data, readOnly: true}]
"""
SERVER = ("import socket,time; open('/data/x','w').write('from-server'); s=socket.socket(); "
          "s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(('127.0.0.1', 8080)); s.listen(); "
          "c,_=s.accept(); c.sendall(b'hello over localhost'); c.close(); time.sleep(300)")


def two_container_pod(pods, name="web", hostname="webhost", share=False):
    pods.run(TWO_CONTAINERS % {"name": name, "hostname": hostname, "share": str(share).lower(), "server": SERVER})
    wait_for(lambda: nspod("exec", name, "-c", "client", "--", "test", "-f", "/data/x", check=False).returncode == 0,
             what="the server to write /data/x")
    return pods.inspect(name)


def test_containers_share_net_ipc_uts_not_mnt(pods):
    pod = two_container_pod(pods)
    pause = pod["nspod"]["pause"]["namespaces"]
    assert pod["status"]["phase"] == "Running"
    containers = pod["nspod"]["containers"]
    assert len(containers) == 2
    for c in containers:
        for kind in ("net", "ipc", "uts", "user"):
            assert c["namespaces"][kind] == pause[kind], (c["name"], kind)
        assert c["namespaces"]["mnt"] != pause["mnt"]
        assert c["namespaces"]["pid"] != pause["pid"]  # not shared unless asked
    assert containers[0]["namespaces"]["mnt"] != containers[1]["namespaces"]["mnt"]
    assert containers[0]["namespaces"]["pid"] != containers[1]["namespaces"]["pid"]
    # The ids are what readlink /proc/PID/ns/KIND prints, and not the host's.
    assert pause["net"].startswith("net:[")
    assert pause["net"] != os.readlink("/proc/self/ns/net")
    assert pause["user"] != os.readlink("/proc/self/ns/user")
    assert containers[0]["namespaces"]["net"] == os.readlink(f"/proc/{containers[0]['pid']}/ns/net")


def test_tcp_over_localhost_between_containers(pods):
    two_container_pod(pods)
    done = nspod("exec", "web", "-c", "client", "--", "python3", "-c",
                 "import socket; s=socket.create_connection(('localhost', 8080)); print(s.recv(100).decode())")
    assert done.stdout.strip() == "hello over localhost"


def test_volume_shared_and_read_only(pods):
    two_container_pod(pods)
    assert nspod("exec", "web", "-c", "client", "--", "cat", "/data/x").stdout == "from-server"
    refused = nspod("exec", "web", "-c", "client", "--", "sh", "-c", "echo no > /data/y", check=False)
    assert refused.returncode != 0
    assert "Read-only file system" in refused.stderr
    # The writer side can write; the host never sees a /data.
    nspod("exec", "web", "-c", "server", "--", "sh", "-c", "echo yes > /data/y")
    assert nspod("exec", "web", "-c", "client", "--", "cat", "/data/y").stdout == "yes\n"
    assert not os.path.exists("/data/y")


def test_hostname(pods):
    two_container_pod(pods, hostname="learner")
    assert nspod("exec", "web", "-c", "client", "--", "hostname").stdout.strip() == "learner"
    assert nspod("exec", "web", "-c", "server", "--", "cat", "/proc/sys/kernel/hostname").stdout.strip() == "learner"
    assert nspod("exec", "web", "-c", "client", "--", "sh", "-c", "echo $HOSTNAME").stdout.strip() == "learner"


def test_pid_namespace_private_by_default(pods):
    two_container_pod(pods)
    # The container's command is PID 1 of its own PID namespace and sees nothing else.
    ps = nspod("exec", "web", "-c", "client", "--", "sh", "-c", "ls /proc | grep -E '^[0-9]+$'").stdout.split()
    assert "1" in ps
    cmd1 = nspod("exec", "web", "-c", "client", "--", "cat", "/proc/1/cmdline").stdout
    assert cmd1.startswith("sleep")
    found = nspod("exec", "web", "-c", "client", "--", "sh", "-c", "cat /proc/[0-9]*/cmdline").stdout
    assert "python3" not in found


def test_pid_namespace_shared_when_asked(pods):
    pod = two_container_pod(pods, share=True)
    pause = pod["nspod"]["pause"]["namespaces"]
    for c in pod["nspod"]["containers"]:
        assert c["namespaces"]["pid"] == pause["pid"]
    found = nspod("exec", "web", "-c", "client", "--", "sh", "-c", "cat /proc/[0-9]*/cmdline").stdout
    assert "python3" in found  # the other container's process
    assert nspod("exec", "web", "-c", "client", "--", "cat", "/proc/1/cmdline").stdout.startswith("catatonit")


def test_exec_exit_code_and_environment(pods):
    pods.run("""
    apiVersion: v1
    kind: Pod
    metadata: {name: envpod}
    spec:
      containers:
      - name: app
        command: [sleep, "300"]
        workingDir: /work
        env: [{name: GREETING, value: hi}, {name: MSG, value: "$(GREETING) there"}]
    """)
    assert nspod("exec", "envpod", "--", "sh", "-c", "exit 7", check=False).returncode == 7
    assert nspod("exec", "envpod", "--", "sh", "-c", "echo $MSG; pwd").stdout == "hi there\n/work\n"
    missing = nspod("exec", "envpod", "--", "no-such-command", check=False)
    assert missing.returncode == 127
    assert "executable file not found" in missing.stderr
    # Its working directory gone: nspod-exec cannot enter it, exit 126 (could not run), and says why.
    nspod("exec", "envpod", "--", "rmdir", "/work")
    gone = nspod("exec", "envpod", "--", "true", check=False)
    assert gone.returncode == 126
    assert gone.stderr == "nspod exec: set up the process: No such file or directory: /work\n"


def test_process_args_expand_env(pods):
    pods.run("""
    apiVersion: v1
    kind: Pod
    metadata: {name: args}
    spec:
      volumes: [{name: out, emptyDir: {}}]
      containers:
      - name: app
        command: [sh, -c]
        args: ["echo $(WHO) '$$(WHO)' > /out/said; sleep 300"]
        env: [{name: WHO, value: world}]
        volumeMounts: [{name: out, mountPath: /out}]
    """)
    said = wait_for(lambda: nspod("exec", "args", "--", "cat", "/out/said", check=False).stdout, what="/out/said")
    assert said == "world $(WHO)\n"


@pytest.mark.parametrize("kind", ["", "Directory", "DirectoryOrCreate", "File", "FileOrCreate"])
def test_host_path_types(pods, tmp_path, kind):
    host = tmp_path / "host"
    target = host / "thing"
    is_file = kind.startswith("File")
    if kind in ("", "Directory", "File"):
        host.mkdir()
        if is_file:
            target.write_text("from host\n")
        else:
            target.mkdir()
            (target / "f").write_text("from host\n")
    else:
        host.mkdir()  # the parent must exist for FileOrCreate, as in Kubernetes
    host.chmod(0o777)
    mount_path = "/mnt/thing"
    pods.run(f"""
    apiVersion: v1
    kind: Pod
    metadata: {{name: hp}}
    spec:
      volumes: [{{name: h, hostPath: {{path: {target}, type: "{kind}"}}}}]
      containers:
      - name: app
        command: [sleep, "300"]
        volumeMounts: [{{name: h, mountPath: {mount_path}}}]
    """)
    inside = mount_path if is_file else f"{mount_path}/new"
    nspod("exec", "hp", "--", "sh", "-c", f"echo from pod >> {inside}")
    written = target.read_text() if is_file else (target / "new").read_text()
    assert written.endswith("from pod\n")
    if kind in ("", "Directory"):
        assert nspod("exec", "hp", "--", "cat", f"{mount_path}/f").stdout == "from host\n"


@pytest.mark.parametrize("kind,make,error", [
    ("Directory", None, "directory does not exist"),
    ("File", None, "file does not exist"),
    ("Directory", "file", "is not a directory"),
    ("File", "dir", "is not a file"),
    ("", None, "does not exist"),
])
def test_host_path_type_errors_create_nothing(pods, tmp_path, kind, make, error):
    target = tmp_path / "missing"
    if make == "file":
        target.write_text("x")
    elif make == "dir":
        target.mkdir()
    done = pods.run(f"""
    apiVersion: v1
    kind: Pod
    metadata: {{name: bad}}
    spec:
      volumes: [{{name: h, hostPath: {{path: {target}, type: "{kind}"}}}}]
      containers: [{{name: app, command: [sleep, "1"], volumeMounts: [{{name: h, mountPath: /h}}]}}]
    """, check=False)
    assert done.returncode == 1
    assert error in done.stderr
    assert nspod("inspect", "bad", check=False).returncode == 1


def test_sub_path_and_memory_empty_dir(pods):
    pods.run("""
    apiVersion: v1
    kind: Pod
    metadata: {name: sub}
    spec:
      volumes: [{name: mem, emptyDir: {medium: Memory, sizeLimit: 1Mi}}]
      containers:
      - name: a
        command: [sh, -c, "echo in-sub > /sub/f; sleep 300"]
        volumeMounts: [{name: mem, mountPath: /sub, subPath: dir1}]
      - name: b
        command: [sleep, "300"]
        volumeMounts: [{name: mem, mountPath: /all}]
    """)
    assert wait_for(lambda: nspod("exec", "sub", "-c", "b", "--", "cat", "/all/dir1/f", check=False).stdout) == "in-sub\n"
    df = nspod("exec", "sub", "-c", "b", "--", "df", "-k", "/all").stdout
    assert "tmpfs" in df and " 1024 " in df
    full = nspod("exec", "sub", "-c", "b", "--", "sh", "-c", "head -c 2000000 /dev/zero > /all/big", check=False)
    assert full.returncode != 0  # sizeLimit enforced by the tmpfs


def test_missing_command_shows_terminated_with_reason(pods):
    pods.run("""
    apiVersion: v1
    kind: Pod
    metadata: {name: nocmd}
    spec:
      restartPolicy: Never
      containers:
      - name: app
        command: [no-such-program]
    """)
    pod = wait_for(lambda: (p := pods.inspect("nocmd"))["status"]["phase"] == "Failed" and p, what="Failed")
    state = pod["status"]["containerStatuses"][0]["state"]
    assert state["terminated"]["reason"] == "StartError"
    assert 'exec: "no-such-program": executable file not found in $PATH' in state["terminated"]["message"]
    assert state["terminated"]["exitCode"] == 128


def test_name_in_use_is_an_error(pods):
    manifest = """
    apiVersion: v1
    kind: Pod
    metadata: {name: dup}
    spec:
      containers: [{name: app, command: [sleep, "300"]}]
    """
    pods.run(manifest)
    before = pods.inspect("dup")
    again = pods.run(manifest, check=False)
    assert again.returncode == 1
    assert 'pod "dup" already exists' in again.stderr
    after = pods.inspect("dup")
    assert after["nspod"]["pause"]["pid"] == before["nspod"]["pause"]["pid"]


def test_bad_manifest_exit_2_names_field_creates_nothing(pods):
    done = pods.run("""
    apiVersion: v1
    kind: Pod
    metadata: {name: typo}
    spec:
      containers: [{name: app, comand: [sleep, "1"]}]
    """, check=False)
    assert done.returncode == 2
    assert "spec.containers[0].comand" in done.stderr
    assert nspod("ps").stdout.strip().splitlines()[1:] == []


def test_duplicate_container_port_warns(pods):
    done = pods.run("""
    apiVersion: v1
    kind: Pod
    metadata: {name: ports}
    spec:
      containers:
      - {name: a, command: [sleep, "300"], ports: [{containerPort: 80}]}
      - {name: b, command: [sleep, "300"], ports: [{containerPort: 80}]}
    """)
    assert "80/TCP" in done.stderr and "Warning" in done.stderr


def test_stop_then_rm_leaves_nothing(pods):
    pods.run("""
    apiVersion: v1
    kind: Pod
    metadata: {name: stopme}
    spec:
      terminationGracePeriodSeconds: 1
      containers: [{name: app, command: [sleep, "300"]}]
    """)
    pid = pods.inspect("stopme")["nspod"]["containers"][0]["pid"]
    t0 = time.monotonic()
    nspod("stop", "stopme")
    # sleep is PID 1 of its namespace and ignores TERM: KILLed after the 1 s grace.
    assert 0.9 < time.monotonic() - t0 < 10
    assert not os.path.exists(f"/proc/{pid}")
    pod = pods.inspect("stopme")
    assert pod["status"]["containerStatuses"][0]["state"]["terminated"]["exitCode"] == 137
    rm = nspod("rm", "stopme")
    assert rm.stdout.strip() == "stopme"
    assert nspod("inspect", "stopme", check=False).returncode == 1


def test_rm_refuses_running_pod_without_force(pods):
    pods.run("""
    apiVersion: v1
    kind: Pod
    metadata: {name: busy}
    spec:
      containers: [{name: app, command: [sleep, "300"]}]
    """)
    done = nspod("rm", "busy", check=False)
    assert done.returncode == 1 and "rm -f" in done.stderr
    nspod("rm", "-f", "busy")


def test_ps_columns(pods):
    pods.run("""
    apiVersion: v1
    kind: Pod
    metadata: {name: listed}
    spec:
      containers: [{name: a, command: [sleep, "300"]}, {name: b, command: [sleep, "300"]}]
    """)
    header, row = nspod("ps").stdout.splitlines()
    assert header.split() == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    assert row.split()[:4] == ["listed", "2/2", "Running", "0"]
