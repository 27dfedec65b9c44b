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


# -- the container's root: overlay of the image's layers, else a copy ---------------------
def layer_dirs(image_dir):
    """The unpacked layers in the store, and what is on its way out."""
    layers = image_dir / "layers"
    found = sorted(p.name for p in (layers / "sha256").iterdir()) if (layers / "sha256").is_dir() else []
    left = [p.name for sub in ("tmp", "trash") if (layers / sub).is_dir() for p in (layers / sub).iterdir()]
    return found, left


def test_overlay_root_shares_layers_and_keeps_writes_apart(pods, registry, image_dir):
    import os
    import signal

    from imagepods import busybox_image as two_layers, layered_image
    from podtest import state_dir

    registry.push("test/ovl", "v1", layered_image())
    ref = f"{registry.netloc}/test/ovl:v1"
    ro = ('\n      - name: ro\n        image: "%s"\n        command: [sleep, "60"]\n'
          '        securityContext: {readOnlyRootFilesystem: true}' % ref)
    pods.run(manifest("ovl-a", ref))
    pods.run(manifest("ovl-b", ref, extra=ro))
    for name in ("ovl-a", "ovl-b"):
        shown = {c["name"]: c["rootfs"] for c in pods.inspect(name)["nspod"]["containers"]}
        assert all(r == {"driver": "overlay", "layers": 4} for r in shown.values()), shown

    def sh(pod, script, container="app"):
        return nspod("exec", pod, "-c", container, "--", "/bin/sh", "-c", script).stdout

    # each layer unpacked once, in the store, shared by both pods (the same inode)
    found, left = layer_dirs(image_dir)
    assert len(found) == 4 and not left, (found, left)
    busybox = [p for p in found if (image_dir / "layers" / "sha256" / p / "bin" / "busybox").exists()]
    assert len(busybox) == 1
    inode = os.stat(image_dir / "layers" / "sha256" / busybox[0] / "bin" / "busybox").st_ino
    assert sh("ovl-a", "stat -L -c %i /bin/busybox") == sh("ovl-b", "stat -L -c %i /bin/busybox") == f"{inode}\n"
    # whiteout, opaque directory, owners through the subordinate ids
    assert sh("ovl-a", "test -e /etc/gone && echo seen || echo hidden; cat /etc/top") == "hidden\nupper\n"
    assert sh("ovl-a", "ls /opq") == "new\n"
    assert sh("ovl-a", "stat -c %u:%g /data/owned /data /var/www") == "33:33\n33:33\n33:33\n"
    # a write in one container: not in the other, not in a layer
    sh("ovl-a", "echo w > /etc/image-file; echo x > /data/new; /bin/busybox rm /etc/top")
    assert sh("ovl-a", "cat /etc/image-file; stat -c %u /data; test -e /etc/top || echo gone") == "w\n33\ngone\n"
    assert sh("ovl-b", "cat /etc/image-file /etc/top; test -e /data/new || echo absent") == \
        "from the image\nupper\nabsent\n"
    for layer in found:
        assert not (image_dir / "layers" / "sha256" / layer / "data" / "new").exists()
    assert (image_dir / "layers" / "sha256" / busybox[0] / "etc" / "image-file").read_text() == "from the image\n"
    assert (state_dir() / "pods" / "ovl-a" / "images" / "app" / "upper" / "data" / "new").exists()
    # readOnlyRootFilesystem: the overlay mount read-only, its volumes and /dev/shm not
    done = nspod("exec", "ovl-b", "-c", "ro", "--", "/bin/touch", "/etc/x", check=False)
    assert done.returncode != 0 and "Read-only file system" in done.stderr, done
    assert sh("ovl-b", "touch /dev/shm/x && echo ok", "ro") == "ok\n"
    # rmi -f of the image: the running pods keep their layers
    nspod("rmi", "-f", ref)
    assert layer_dirs(image_dir) == (found, [])
    assert sh("ovl-b", "cat /opq/new") == "new\n"

    # rm of a pod whose watchdog died: its upper dir holds a copy-up of /data (uid 33)
    pid = pods.inspect("ovl-a")["nspod"]["watchdog"]["pid"]
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: pods.inspect("ovl-a")["status"]["phase"] == "Unknown", what="Unknown")
    nspod("rm", "-f", "ovl-a")
    assert not (state_dir() / "pods" / "ovl-a").exists()
    nspod("rm", "-f", "ovl-b")
    assert not (state_dir() / "pods" / "ovl-b").exists()

    # rmi and prune remove the layers no image uses; a layer another image shares stays
    registry.push("test/ovl2", "v1", two_layers())
    ref2 = f"{registry.netloc}/test/ovl2:v1"
    pods.run(manifest("ovl-c", ref2, command=("/bin/sh", "-c", "exit 0"), restart="Never"))
    wait_for(lambda: pods.inspect("ovl-c")["status"]["phase"] == "Succeeded", what="Succeeded")
    nspod("rm", "-f", "ovl-c")
    assert layer_dirs(image_dir) == (found, [])  # its two layers are the first two of test/ovl
    nspod("image", "prune")  # test/ovl's own two layers: no image, no pod uses them now
    found2, left = layer_dirs(image_dir)
    assert len(found2) == 2 and set(found2) < set(found) and not left, (found2, left)
    nspod("rmi", ref2)
    assert layer_dirs(image_dir) == ([], [])


def test_copy_driver_when_overlay_is_not_used(pods, registry, image_dir, monkeypatch):
    """NSPOD_IMAGE_DRIVER=copy (for tests only) forces the fallback overlayfs
    falls back to when this kernel or filesystem refuses it: the same root,
    flattened."""
    from imagepods import layered_image

    registry.push("test/copy", "v1", layered_image())
    ref = f"{registry.netloc}/test/copy:v1"
    monkeypatch.setenv("NSPOD_IMAGE_DRIVER", "copy")
    pods.run(manifest("ovl-copy", ref))
    [shown] = [c["rootfs"] for c in pods.inspect("ovl-copy")["nspod"]["containers"]]
    assert shown == {"driver": "copy", "layers": 4, "fallback": "NSPOD_IMAGE_DRIVER=copy"}

    def sh(script):
        return nspod("exec", "ovl-copy", "--", "/bin/sh", "-c", script).stdout

    assert sh("test -e /etc/gone || echo hidden; ls /opq; stat -c %u /data/owned") == "hidden\nnew\n33\n"
    assert layer_dirs(image_dir) == ([], [])  # nothing unpacked for overlay
    sh("echo x > /data/new")
    nspod("rm", "-f", "ovl-copy")


def test_fuse_overlayfs_driver(pods, registry, image_dir, monkeypatch):
    """fuse-overlayfs (optional, apt package fuse-overlayfs; the test machine
    has it), forced with NSPOD_IMAGE_DRIVER (tests only): the same layers
    and root; its daemon goes with its container (no_leaks after rm)."""
    from imagepods import layered_image

    registry.push("test/fuse", "v1", layered_image())
    ref = f"{registry.netloc}/test/fuse:v1"
    monkeypatch.setenv("NSPOD_IMAGE_DRIVER", "fuse-overlayfs")
    ro = ('\n      - name: ro\n        image: "%s"\n        command: [sleep, "60"]\n'
          '        securityContext: {readOnlyRootFilesystem: true}' % ref)
    again = ('\n      - name: again\n        image: "%s"\n        command: [sh, -c, "sleep 0.2; exit 1"]' % ref)
    pods.run(manifest("ovl-fuse", ref, extra=ro + again), "--backoff-base", "100ms")
    shown = [c["rootfs"] for c in pods.inspect("ovl-fuse")["nspod"]["containers"]]
    assert shown == [{"driver": "fuse-overlayfs", "layers": 4, "fallback": "NSPOD_IMAGE_DRIVER=fuse-overlayfs"}] * 3, \
        json.dumps(pods.inspect("ovl-fuse")["status"]["containerStatuses"])

    def sh(script, container="app"):
        return nspod("exec", "ovl-fuse", "-c", container, "--", "/bin/sh", "-c", script).stdout

    assert sh("test -e /etc/gone || echo hidden; ls /opq; stat -c %u:%g /data/owned") == "hidden\nnew\n33:33\n"
    sh("echo x > /data/new; echo w > /etc/image-file")
    assert sh("cat /etc/image-file; test -e /data/new || echo absent", "ro") == "from the image\nabsent\n"
    done = nspod("exec", "ovl-fuse", "-c", "ro", "--", "/bin/touch", "/etc/x", check=False)
    assert done.returncode != 0 and "Read-only file system" in done.stderr, done
    found, _ = layer_dirs(image_dir)
    assert len(found) == 4 and not any((image_dir / "layers" / "sha256" / p / "data" / "new").exists() for p in found)
    # one daemon per living container: a restarted container's went with it
    wait_for(lambda: pods.status("ovl-fuse", "again")["restartCount"] >= 3, timeout=20, what="three restarts")
    assert 2 <= len(fuse_daemons("ovl-fuse")) <= 3, fuse_daemons("ovl-fuse")
    nspod("rm", "-f", "ovl-fuse")
    assert fuse_daemons("ovl-fuse") == []


def fuse_daemons(pod):
    import os
    from pathlib import Path

    from podtest import state_dir

    out = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if argv[0].endswith(b"fuse-overlayfs") and f"{state_dir()}/pods/{pod}/".encode() in b" ".join(argv):
            out.append(int(pid))
    return out
