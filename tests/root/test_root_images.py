"""A pod that runs an image, as root (no user namespace): the same start path."""
from imagepods import busybox_image, image_dir, registry  # noqa: F401 (fixtures)
from podtest import nspod


def image_pod(name, ref):
    return f"""
    apiVersion: v1
    kind: Pod
    metadata: {{name: {name}}}
    spec:
      containers:
      - name: app
        image: "{ref}"
        command: [sleep, "60"]
    """


def test_root_pod_runs_image(pods, registry, image_dir):
    image = registry.push("test/rootbox", "v1", busybox_image({"User": "www", "WorkingDir": "/data"}))
    ref = f"{registry.netloc}/test/rootbox:v1"
    pods.run(image_pod("img-rootpod", ref))
    st = pods.status("img-rootpod", "app")
    assert "running" in st["state"], st
    assert st["imageID"] == f"{registry.netloc}/test/rootbox@{image.digest}"

    def sh(script):
        return nspod("exec", "img-rootpod", "--", "/bin/sh", "-c", script).stdout

    assert sh("cat /etc/image-file; test -e /etc/debian_version || echo no-host") == "from the image\nno-host\n"
    assert sh("test -e /etc/gone || echo hidden") == "hidden\n"
    assert sh("stat -c %u:%g /data/owned") == "33:33\n"
    assert sh("cat /proc/1/status | grep ^Uid") .split()[1] == "33"  # the image's User
    nspod("rm", "-f", "img-rootpod")


def test_root_overlay_root(pods, registry, image_dir):
    """As root: native overlay (trusted.overlay.* metadata, no userxattr),
    layers unpacked once, writes apart, nothing left after rm, layers gone
    after rmi and prune."""
    import os

    from imagepods import layered_image
    from podtest import state_dir

    registry.push("test/rootovl", "v1", layered_image())
    ref = f"{registry.netloc}/test/rootovl:v1"
    for name in ("ovl-root-a", "ovl-root-b"):
        pods.run(image_pod(name, ref))
        [shown] = [c["rootfs"] for c in pods.inspect(name)["nspod"]["containers"]]
        assert shown == {"driver": "overlay", "layers": 4}, shown

    def sh(pod, script):
        return nspod("exec", pod, "--", "/bin/sh", "-c", script).stdout

    layers = sorted((image_dir / "layers" / "sha256").iterdir())
    assert len(layers) == 4
    [opaque] = [p for p in layers if (p / "opq" / "new").exists()]
    assert os.getxattr(opaque / "opq", "trusted.overlay.opaque") == b"y"
    [busybox] = [p for p in layers if (p / "bin" / "busybox").exists()]
    inode = f'{os.stat(busybox / "bin" / "busybox").st_ino}\n'
    assert sh("ovl-root-a", "stat -c %i /bin/busybox") == sh("ovl-root-b", "stat -c %i /bin/busybox") == inode
    assert sh("ovl-root-a", "test -e /etc/gone || echo hidden; ls /opq; stat -c %u /data/owned") == "hidden\nnew\n33\n"
    sh("ovl-root-a", "echo w > /data/new")
    assert sh("ovl-root-b", "test -e /data/new || echo absent") == "absent\n"
    assert not any((p / "data" / "new").exists() for p in layers)
    for name in ("ovl-root-a", "ovl-root-b"):
        nspod("rm", "-f", name)
        assert not (state_dir() / "pods" / name).exists()
    nspod("rmi", ref)
    nspod("image", "prune")
    assert not any((image_dir / "layers" / "sha256").iterdir())


def test_root_fuse_overlayfs_and_copy_fallbacks(pods, registry, image_dir, monkeypatch):
    """As root, the fallbacks (forced with NSPOD_IMAGE_DRIVER, for tests only)
    read the same layers (trusted.overlay.opaque) or flatten them."""
    from imagepods import layered_image

    registry.push("test/rootfb", "v1", layered_image())
    ref = f"{registry.netloc}/test/rootfb:v1"
    for driver in ("fuse-overlayfs", "copy"):
        monkeypatch.setenv("NSPOD_IMAGE_DRIVER", driver)
        name = f"ovl-root-{driver[:4]}"
        pods.run(image_pod(name, ref))
        [shown] = [c["rootfs"] for c in pods.inspect(name)["nspod"]["containers"]]
        assert shown == {"driver": driver, "layers": 4, "fallback": f"NSPOD_IMAGE_DRIVER={driver}"}, shown
        out = nspod("exec", name, "--", "/bin/sh", "-c",
                    "test -e /etc/gone || echo hidden; ls /opq; stat -c %u /data/owned; echo x > /data/new").stdout
        assert out == "hidden\nnew\n33\n", out
        nspod("rm", "-f", name)


def test_root_image_user_groups(pods, registry, image_dir):
    """As root: the image's User by name, its groups from the image's
    /etc/group merged with fsGroup and supplementalGroups, for the container
    and for `exec` into it."""
    from imagepods import SHOW_IDENTITY, accounts_image

    registry.push("test/rootusers", "v1", accounts_image("app"))
    pods.run(f"""
    apiVersion: v1
    kind: Pod
    metadata: {{name: img-rootusers}}
    spec:
      securityContext: {{fsGroup: 2000, supplementalGroups: [3000]}}
      containers:
      - name: app
        image: "{registry.netloc}/test/rootusers:v1"
        command: [sleep, "60"]
    """)
    out = nspod("exec", "img-rootusers", "--", "/bin/sh", "-c", SHOW_IDENTITY.replace("/proc/self/", "/proc/1/")
                + "; " + SHOW_IDENTITY).stdout.split("\n")
    expected = ["Uid: 1000 1000 1000 1000", "Gid: 1000 1000 1000 1000", "Groups: 50 63 1000 2000 3000"]
    assert out[:3] == expected and out[4:7] == expected, out
    nspod("rm", "-f", "img-rootusers")
