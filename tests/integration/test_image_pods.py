"""Pods that run images (issue 8, second step), as an unprivileged user:
pulled from a real registry (Debian's docker-registry on 127.0.0.1) at
container start by the pull policy, with the kubelet's states and events;
the root is the image's; command/args/env/workingDir/User merged as
containerd's CRI does."""
import json
import os
import textwrap

import pytest

from imagepods import SHOW_IDENTITY, accounts_image, busybox_image, image_dir, registry  # noqa: F401 (fixtures)
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


# -- the kubelet's image manager at every container start, and pulls shared between pods -----
def version_image(version):
    """busybox_image's first layer (the same blob every time) and a top layer
    holding /etc/version: two such images share all but one layer."""
    from imagepods import LayeredImage, base_entries

    return LayeredImage([base_entries(), [("etc", "dir", None, 0), ("etc/version", "file", version, 0)]])


def event_count(name, reason, prefix):
    """How often the events of `name` with `reason` and a message starting
    with `prefix` happened (the store counts repeats of one event)."""
    from nspod import api

    return sum(e["count"] for e in api.events(name) if e["reason"] == reason and e["message"].startswith(prefix))


def logs(name):
    return nspod("logs", name, check=False).stdout


def test_always_runs_the_moved_tag_at_the_next_start(pods, registry, image_dir):
    """imagePullPolicy Always resolves the tag on every container start: a
    container that exits and restarts after the tag moved runs the new image
    (a new imageID), and only the blobs the store lacks are downloaded."""
    first = registry.push("test/moving", "latest", version_image(b"1\n"))
    ref = f"{registry.netloc}/test/moving:latest"  # :latest: Always by default
    pods.run(manifest("img-moving", ref, command=("/bin/sh", "-c", "cat /etc/version; sleep 0.5; exit 1")),
             "--backoff-base", "500ms")
    assert pods.status("img-moving", "app")["imageID"] == f"{registry.netloc}/test/moving@{first.digest}"
    wait_for(lambda: logs("img-moving") == "1\n", what="the first image's output")
    second = registry.push("test/moving", "latest", version_image(b"2\n"))
    wait_for(lambda: pods.status("img-moving", "app")["imageID"] == f"{registry.netloc}/test/moving@{second.digest}",
             timeout=30, what="a start from the moved tag")
    wait_for(lambda: logs("img-moving") == "2\n", timeout=10, what="the new image's output")
    st = pods.status("img-moving", "app")
    assert st["restartCount"] >= 1 and st["image"] == ref
    # every start pulled (Always); none was "already present"; each blob came once
    assert event_count("img-moving", "Pulling", f'Pulling image "{ref}"') >= 2
    assert event_count("img-moving", "Pulled", f'Successfully pulled image "{ref}" in ') >= 2
    assert event_count("img-moving", "Pulled", f'Container image "{ref}" already present') == 0
    for digest in set(first.blobs) | set(second.blobs):
        assert registry.blob_gets(digest) == 1, digest
    # the old image lost its name, the new one has it
    shown = {line.split()[2]: line.split()[1] for line in nspod("images").stdout.splitlines()[1:]}
    assert shown == {first.config_digest[7:19]: "<none>", second.config_digest[7:19]: "latest"}, shown


def test_registry_down_then_back_if_not_present(pods, registry, image_dir):
    """IfNotPresent with the image absent and the registry stopped:
    ErrImagePull, then ImagePullBackOff, with the kubelet's events; a new
    registry process on the same port, and the next try starts the pod."""
    image = registry.push("test/down", "v1", busybox_image())
    ref = f"{registry.netloc}/test/down:v1"
    registry.stop()
    pods.run(manifest("img-down", ref), "--backoff-base", "1s")
    st = pods.status("img-down", "app")
    assert st["state"]["waiting"]["reason"] == "ErrImagePull", st
    assert "connection refused" in st["state"]["waiting"]["message"].lower(), st
    assert pods.inspect("img-down")["status"]["phase"] == "Pending"
    assert pods.inspect("img-down")["spec"]["containers"][0]["imagePullPolicy"] == "IfNotPresent"
    ev = events("img-down")
    assert ev[:3] == [("Pulling", f'Pulling image "{ref}"'),
                      ("Failed", f'Failed to pull image "{ref}": {st["state"]["waiting"]["message"]}'),
                      ("Failed", "Error: ErrImagePull")], ev
    wait_for(lambda: waiting(pods, "img-down") == "ImagePullBackOff", timeout=10, what="ImagePullBackOff")
    ev = events("img-down")
    assert ev[3:5] == [("BackOff", f'Back-off pulling image "{ref}"'), ("Failed", "Error: ImagePullBackOff")], ev
    assert pods.inspect("img-down")["status"]["phase"] == "Pending"
    registry.start()  # the same port and storage: the registry is back
    wait_for(lambda: "running" in pods.status("img-down", "app")["state"], timeout=20, what="the pod to start")
    st = pods.status("img-down", "app")
    assert st["restartCount"] == 0 and st["imageID"] == f"{registry.netloc}/test/down@{image.digest}"
    assert pods.inspect("img-down")["status"]["phase"] == "Running"
    ev = events("img-down")
    assert any(r == "Pulled" and m.startswith(f'Successfully pulled image "{ref}" in ') for r, m in ev), ev
    assert ev[-2:] == [("Created", "Created container app"), ("Started", "Started container app")], ev


def test_two_pods_pulling_one_image_at_once_download_each_blob_once(pods, image_dir):
    """Two pods started together, their image not in the store: each pull
    runs in its own watchdog's child; both are held at the manifest until
    both asked for it, then each blob is downloaded once and each layer
    unpacked once. (A registry of the test: it holds answers back and
    counts requests.)"""
    import subprocess
    import sys
    import threading

    from imagepods import LayeredImage, base_entries

    image = LayeredImage([base_entries(), [("big", "file", os.urandom(4 << 20), 0)]])
    fake = fake_registry(image)
    gate = fake.gates["/v2/x/manifests/1"] = threading.Event()
    fake.start()
    procs = []
    try:
        ref = f"{fake.netloc}/x:1"
        for name in ("img-share-a", "img-share-b"):
            path = pods.tmp / f"{name}.yaml"
            path.write_text(textwrap.dedent(manifest(name, ref)))
            pods.names.append(name)
            procs.append(subprocess.Popen([sys.executable, "-m", "nspod.cli", "run", str(path)],
                                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
        wait_for(lambda: fake.requests.count("/v2/x/manifests/1") == 2, timeout=30, what="both pulls")
        gate.set()
        outs = [p.communicate(timeout=120) for p in procs]
    finally:
        gate.set()
        fake.stop()
    assert [p.returncode for p in procs] == [0, 0], outs
    for name in ("img-share-a", "img-share-b"):
        st = pods.status(name, "app")
        assert "running" in st["state"] and st["imageID"] == f"{fake.netloc}/x@{image.digest}", st
        assert ("Pulling", f'Pulling image "{ref}"') in events(name)
    for digest in image.blobs:
        assert fake.requests.count(f"/v2/x/blobs/{digest}") == 1, digest
    found, left = layer_dirs(image_dir)
    assert len(found) == 2 and not left, (found, left)
    assert os.listdir(image_dir / "tmp") == [] and os.listdir(image_dir / "locks") == []


def fake_registry(image):
    """A registry of the test (imagetest.FakeRegistry) serving `image` as x:1."""
    from imagetest import FakeRegistry

    routes = {"/v2/": (200, {}, b"{}"),
              "/v2/x/manifests/1": (200, {"Content-Type": image.media_type}, image.manifest)}
    routes.update({f"/v2/x/blobs/{d}": (200, {}, data) for d, data in image.blobs.items()})
    return FakeRegistry(routes)


def test_pulling_is_container_creating_and_a_corrupted_blob_is_err_image_pull(pods, image_dir):
    """While the pull runs, the pod is Pending and its container
    waiting{ContainerCreating} (`nspod ps`: ContainerCreating); a blob whose
    bytes do not match its digest is ErrImagePull naming the digest, and
    nothing of it is stored; served right, the next try starts the pod.
    A tiny registry of the test serves the image (a real one never serves
    wrong bytes, nor holds an answer back)."""
    import subprocess
    import sys
    import threading

    image = busybox_image()
    fake = fake_registry(image)
    gate = fake.gates[f"/v2/x/blobs/{image.config_digest}"] = threading.Event()
    fake.start()
    try:
        ref = f"{fake.netloc}/x:1"
        path = pods.tmp / "img-creating.yaml"
        path.write_text(textwrap.dedent(manifest("img-creating", ref)))
        pods.names.append("img-creating")
        run = subprocess.Popen([sys.executable, "-m", "nspod.cli", "run", str(path)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            wait_for(lambda: "img-creating" in nspod("ps").stdout and
                     waiting(pods, "img-creating") == "ContainerCreating", timeout=20, what="ContainerCreating")
            assert pods.inspect("img-creating")["status"]["phase"] == "Pending"
            assert nspod("ps").stdout.split("\n")[1].split()[:3] == ["img-creating", "0/1", "ContainerCreating"]
            assert run.poll() is None  # `nspod run` waits for the pull
        finally:
            gate.set()
            out = run.communicate(timeout=60)
        assert run.returncode == 0, out
        assert "running" in pods.status("img-creating", "app")["state"]

        # A corrupted layer: same size, other bytes.
        top = image.layer_digests[1]
        fake.routes[f"/v2/x/blobs/{top}"] = (200, {}, bytes(b ^ 0xFF for b in image.blobs[top]))
        nspod("rmi", "-f", ref)
        nspod("image", "prune")
        pods.run(manifest("img-corrupt", ref), "--backoff-base", "2s")
        st = pods.status("img-corrupt", "app")
        assert st["state"]["waiting"]["reason"] == "ErrImagePull", st
        message = st["state"]["waiting"]["message"]
        assert "digest mismatch" in message and top in message, message
        assert ("Failed", f'Failed to pull image "{ref}": {message}') in events("img-corrupt")
        assert not (image_dir / "blobs" / "sha256" / top[7:]).exists()
        assert os.listdir(image_dir / "tmp") == []
        fake.routes[f"/v2/x/blobs/{top}"] = (200, {}, image.blobs[top])
        wait_for(lambda: "running" in pods.status("img-corrupt", "app")["state"], timeout=20,
                 what="the pod to start once the blob is served right")
    finally:
        fake.stop()
