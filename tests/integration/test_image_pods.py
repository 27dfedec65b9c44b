"""Pods that run images (issue 8, second step), as an unprivileged user:
pulled from a real registry (Debian's docker-registry on 127.0.0.1) at
container start by the pull policy, with the kubelet's states and events;
the root is the image's; command/args/env/workingDir/User merged as
containerd's CRI does."""
import json

import pytest

from imagepods import busybox_image, image_dir, registry  # noqa: F401 (fixtures)
from podtest import nspod, wait_for

MERGE_CONFIG = {"Entrypoint": ["/bin/echo", "ep"], "Cmd": ["cmd"], "Env": ["A=img", "B=img", "PATH=/bin"],
                "WorkingDir": "/data", "User": "www"}


def events(name):
    from nspod import api

    return [(e["reason"], e["message"]) for e in api.events(name)]


def waiting(pods, name, container="app"):
    return pods.status(name, container)["state"].get("waiting", {}).get("reason")


def manifest(name, image, policy=None, command=("sleep", "60"), extra="", restart="Always"):
    pol = f"\n        imagePullPolicy: {policy}" if policy else ""
    cmd = f"\n        command: {json.dumps(list(command))}" if command else ""
    return f"""
    apiVersion: v1
    kind: Pod
    metadata: {{name: {name}}}
    spec:
      restartPolicy: {restart}
      containers:
      - name: app
        image: {json.dumps(image)}{pol}{cmd}{extra}
    """


def test_pod_runs_its_image_not_the_host(pods, registry, image_dir):
    image = registry.push("test/busybox", "v1", busybox_image())
    ref = f"{registry.netloc}/test/busybox:v1"
    pods.run(manifest("img-root", ref))
    # `run` returned once the container started: the pull happened before.
    st = pods.status("img-root", "app")
    assert "running" in st["state"], st
    assert st["image"] == ref and st["imageID"] == f"{registry.netloc}/test/busybox@{image.digest}"
    pod = pods.inspect("img-root")
    assert pod["spec"]["containers"][0]["imagePullPolicy"] == "IfNotPresent"
    ev = events("img-root")
    assert ("Pulling", f'Pulling image "{ref}"') in ev
    assert any(r == "Pulled" and m.startswith(f'Successfully pulled image "{ref}" in ') for r, m in ev)

    def sh(script):
        return nspod("exec", "img-root", "--", "/bin/sh", "-c", script).stdout

    assert sh("cat /etc/image-file") == "from the image\n"
    assert sh("test -e /etc/debian_version && echo host || echo image") == "image\n"
    assert sh("test -e /usr/bin/python3 && echo host || echo image") == "image\n"
    # the upper layer's whiteout hides the lower file; its own file is there
    assert sh("test -e /etc/gone && echo seen || echo hidden; cat /etc/top") == "hidden\nupper\n"
    # owners kept through the subordinate ids
    assert sh("stat -c %u:%g /data/owned /data") == "33:33\n33:33\n"
    # the kernel paths and the pod's files as for a process container
    assert sh("cat /proc/1/cmdline | tr '\\0' ' '; echo") .startswith("sleep 60")
    assert "img-root" in sh("cat /etc/hosts") and sh("cat /etc/hostname") == "img-root\n"
    assert sh("test -e /dev/null && test -d /sys/class && echo ok") == "ok\n"
    # the container's writes stay in its own copy
    sh("echo w > /etc/written")
    assert not (image_dir / "written").exists()

    # rmi refuses an image a pod uses (its name, and its ID)
    done = nspod("rmi", ref, check=False)
    assert done.returncode == 1 and "img-root" in done.stderr
    done = nspod("rmi", image.config_digest[7:19], check=False)
    assert done.returncode == 1 and "img-root" in done.stderr


def test_command_args_env_working_dir_and_user_merge(pods, registry, image_dir):
    registry.push("test/merge", "v1", busybox_image(MERGE_CONFIG))
    ref = f"{registry.netloc}/test/merge:v1"
    cases = [  # (name, command, args, env, workingDir, expected output)
        ("neither", None, None, None, None, "ep cmd"),
        ("args", None, ["x", "$(A)"], [{"name": "A", "value": "pod"}], None, "ep x pod"),
        ("command", ["/bin/echo", "c"], None, None, None, "c"),
        ("both", ["/bin/echo", "c"], ["x"], None, None, "c x"),
        ("env", ["/bin/sh", "-c", "echo $A $B $PATH $HOME"], None, [{"name": "A", "value": "pod"}], None,
         "pod img /bin /var/www"),
        ("expand", ["/bin/echo", "$(B)", "$(A)"], None, [{"name": "A", "value": "pod"}], None, "$(B) pod"),
        ("workdir-image", ["/bin/pwd"], None, None, None, "/data"),
        ("workdir-pod", ["/bin/pwd"], None, None, "/tmp", "/tmp"),
        ("user", ["/bin/sh", "-c", "echo $(id -u):$(id -g)"], None, None, None, "33:33"),
    ]
    containers = []
    for name, command, args, env, wd, _ in cases:
        c = {"name": name, "image": ref}
        if command:
            c["command"] = command
        if args:
            c["args"] = args
        if env:
            c["env"] = env
        if wd:
            c["workingDir"] = wd
        containers.append(c)
    pods.run(json.dumps({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "img-merge"},
                         "spec": {"restartPolicy": "Never", "containers": containers}}))
    wait_for(lambda: pods.inspect("img-merge")["status"]["phase"] == "Succeeded", timeout=20,
             what="every container to exit 0")
    for name, *_, expected in cases:
        assert nspod("logs", "img-merge", "-c", name).stdout == expected + "\n", name


def test_pull_policies(pods, registry, image_dir):
    registry.push("test/p", "v1", busybox_image())
    registry.push("test/p", "latest", busybox_image())
    v1, latest = f"{registry.netloc}/test/p:v1", f"{registry.netloc}/test/p:latest"
    nspod("pull", v1)
    nspod("pull", latest)

    # Defaults: :latest (or no tag) -> Always, another tag -> IfNotPresent.
    pods.run(manifest("img-always", latest))
    assert pods.inspect("img-always")["spec"]["containers"][0]["imagePullPolicy"] == "Always"
    assert ("Pulling", f'Pulling image "{latest}"') in events("img-always")  # pulled although present
    pods.run(manifest("img-present", v1))
    assert ("Pulled", f'Container image "{v1}" already present on machine') in events("img-present")
    assert not any(r == "Pulling" for r, _ in events("img-present"))

    registry.stop()  # no registry now
    # IfNotPresent with a local copy: starts from the store.
    pods.run(manifest("img-cached", v1, "IfNotPresent"))
    assert "running" in pods.status("img-cached", "app")["state"]
    # Never with a local copy: starts.
    pods.run(manifest("img-never", v1, "Never"))
    assert "running" in pods.status("img-never", "app")["state"]
    # Always with a local copy and an unreachable registry: ErrImagePull, as the kubelet.
    pods.run(manifest("img-always-down", v1, "Always"), "--backoff-base", "30s")
    assert waiting(pods, "img-always-down") == "ErrImagePull"
    assert pods.inspect("img-always-down")["status"]["phase"] == "Pending"
    assert any(r == "Failed" and m.startswith(f'Failed to pull image "{v1}"') for r, m in events("img-always-down"))


def test_never_pull_absent_image(pods, registry, image_dir):
    ref = f"{registry.netloc}/test/absent:v1"
    pods.run(manifest("img-neverpull", ref, "Never"))
    st = pods.status("img-neverpull", "app")
    assert st["state"]["waiting"] == {
        "reason": "ErrImageNeverPull",
        "message": f'Container image "{ref}" is not present with pull policy of Never'}
    assert pods.inspect("img-neverpull")["status"]["phase"] == "Pending"


def test_invalid_image_name_is_a_waiting_reason_not_a_manifest_error(pods, image_dir):
    done = pods.run(manifest("img-invalid", "Bad::Name"))
    assert done.returncode == 0
    st = pods.status("img-invalid", "app")
    assert st["state"]["waiting"]["reason"] == "InvalidImageName"
    assert 'Failed to apply default image tag "Bad::Name"' in st["state"]["waiting"]["message"]
    pod = pods.inspect("img-invalid")
    assert pod["status"]["phase"] == "Pending"
    assert pod["spec"]["containers"][0]["imagePullPolicy"] == "IfNotPresent"


def test_missing_tag_backs_off_then_starts_once_pushed(pods, registry, image_dir):
    ref = f"{registry.netloc}/test/later:v1"
    pods.run(manifest("img-later", ref), "--backoff-base", "1s")
    assert waiting(pods, "img-later") == "ErrImagePull"
    wait_for(lambda: waiting(pods, "img-later") == "ImagePullBackOff", timeout=10, what="ImagePullBackOff")
    assert pods.inspect("img-later")["status"]["phase"] == "Pending"
    assert ("BackOff", f'Back-off pulling image "{ref}"') in events("img-later")
    registry.push("test/later", "v1", busybox_image())
    wait_for(lambda: "running" in pods.status("img-later", "app")["state"], timeout=15, what="the pod to start")
    assert pods.inspect("img-later")["status"]["phase"] == "Running"
    assert pods.status("img-later", "app")["restartCount"] == 0


def test_restart_gets_a_fresh_copy_and_rm_leaves_nothing(pods, registry, image_dir):
    registry.push("test/fresh", "v1", busybox_image())
    ref = f"{registry.netloc}/test/fresh:v1"
    script = "test -e /data/mark && echo again; touch /data/mark; echo first; sleep 0.3; exit 1"
    pods.run(manifest("img-fresh", ref, command=("/bin/sh", "-c", script)), "--backoff-base", "100ms")
    wait_for(lambda: pods.status("img-fresh", "app")["restartCount"] >= 2, timeout=20, what="two restarts")
    out = nspod("logs", "img-fresh", "--previous").stdout
    assert out == "first\n", out
    nspod("rm", "-f", "img-fresh")
    # (the no_leaks fixture checks no mount, process or state dir is left)


def test_rm_after_the_watchdog_died_removes_the_image_copy(pods, registry, image_dir):
    import os
    import signal

    registry.push("test/orphan", "v1", busybox_image())
    pods.run(manifest("img-orphan", f"{registry.netloc}/test/orphan:v1"))
    pid = pods.inspect("img-orphan")["nspod"]["watchdog"]["pid"]
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: pods.inspect("img-orphan")["status"]["phase"] == "Unknown", what="Unknown")
    nspod("rm", "-f", "img-orphan")
    # (no_leaks: no state dir left, although the copy holds files of uid 33)


def test_exec_gets_the_image_env_and_working_dir(pods, registry, image_dir):
    """exec runs with the container's environment: the image's Env under the
    pod's, and the image's WorkingDir when the pod names none."""
    registry.push("test/execenv", "v1", busybox_image({"Env": ["A=img", "B=img", "PATH=/bin"],
                                                        "WorkingDir": "/data"}))
    ref = f"{registry.netloc}/test/execenv:v1"
    pods.run(manifest("img-exec", ref, extra='\n        env: [{name: A, value: pod}]'))
    out = nspod("exec", "img-exec", "--", "/bin/sh", "-c", "echo $A $B $PATH; pwd").stdout
    assert out == "pod img /bin\n/data\n", out
