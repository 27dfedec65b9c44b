"""Safe mount targets, the first part of the security tier: mountPath
spellings that leave the container are refused by the manifest check, and
the lookup a container's mounts use (nspod-exec's inroot.c, through
inroot-probe: tests/unit/conftest.py) keeps every link inside the root it
is given. The lookups run in a temporary directory: no privileges, no
mounts."""
import errno
import os
import threading
import stat

import pytest

from nspod.errors import ManifestError
from nspod.spec import load_pods

POD = """\
apiVersion: v1
kind: Pod
metadata: {{name: web}}
spec:
  volumes: [{{name: v}}]
  containers:
  - name: app
    command: [sleep, "60"]
    volumeMounts: [{{name: v, mountPath: '{}'}}]
"""
FIELD = "spec.containers[0].volumeMounts[0].mountPath"

ESCAPING = [
    "/a/../../../../home/USER/ESCAPED/dir",  # the spelling
    "/..",
    "/../etc",
    "/data/..",
    "/data/../..",
    "//..//x",
    "/a/./../b",
    "/a/b/../../../c/",
]
# '..' only as a whole component is a way up; these are ordinary names.
ORDINARY = ["/a/..b", "/a/b..", "/..a/x", "/a/.../b", "/a/./b", "/data//x/"]


@pytest.mark.parametrize("mount_path", ESCAPING)
def test_mount_path_with_dot_dot_is_refused_with_its_field(mount_path):
    with pytest.raises(ManifestError) as caught:
        load_pods(POD.format(mount_path), "pod.yaml")
    assert (FIELD, f'"{mount_path}" must not contain \'..\'') in caught.value.problems


@pytest.mark.parametrize("mount_path", ORDINARY)
def test_mount_path_with_dots_in_names_is_accepted(mount_path):
    pods, _ = load_pods(POD.format(mount_path), "pod.yaml")
    assert pods[0].containers[0].volume_mounts[0].mount_path == mount_path


# ------------------------------------------------------- lookups inside a root


@pytest.fixture
def tree(tmp_path):
    """root/ (the container's root) beside outside/ (the host's files)."""
    root, outside = tmp_path / "root", tmp_path / "outside"
    (root / "etc").mkdir(parents=True)
    (root / "data").mkdir()
    outside.mkdir()
    return root, outside


def host_files(path):
    return sorted(str(p.relative_to(path)) for p in path.rglob("*"))


# /data/link -> target (OUT: the outside folder's path); mountPath
# /data/link/made must land where the kernel puts it when root is /.
LINKS = [
    ("absolute link out", "OUT", "OUT/made"),
    ("relative link climbing out", "../../../../../../../../../..OUT", "OUT/made"),
    ("link to the root's /etc", "/etc", "etc/made"),
    ("link to /", "/", "made"),
    ("link to ..", "..", "made"),
    ("dangling absolute link out", "OUT/missing/deeper", "OUT/missing/deeper/made"),
    ("dangling relative link", "../etc/new", "etc/new/made"),
    # A relative link starts at its own directory (/data), not at the root.
    ("dangling relative link down", "sub/new", "data/sub/new/made"),
    ("chain of links out", "/data/hop", "OUT/made"),  # /data/hop -> OUT, below
    ("link into a /proc the root lacks", "/proc/self/cwd", "proc/self/cwd/made"),
]


@pytest.mark.parametrize("target,lands", [c[1:] for c in LINKS], ids=[c[0] for c in LINKS])
def test_links_in_the_tree_are_followed_inside_the_root(inroot, tree, target, lands):
    root, outside = tree
    out = str(outside)
    os.symlink(out, root / "data" / "hop")
    os.symlink(target.replace("OUT", out), root / "data" / "link")
    made = inroot.make(root, "/data/link/made")
    assert made == str(root / lands.replace("OUT", out.lstrip("/")))
    assert os.path.isdir(made)
    assert host_files(outside) == []


def test_a_dangling_link_deeper_down_is_followed_from_its_own_directory(inroot, tree):
    root, outside = tree
    (root / "usr" / "lib").mkdir(parents=True)
    os.symlink("certs-real/x", root / "usr" / "lib" / "certs")
    made = inroot.make(root, "/usr/lib/certs/made")
    assert made == str(root / "usr/lib/certs-real/x/made")


def test_a_file_target_is_created_as_a_file_and_an_existing_one_reused(inroot, tree):
    root, outside = tree
    os.symlink("../run/systemd/resolve/stub-resolv.conf", root / "etc" / "resolv.conf")
    made = inroot.make(root, "/etc/resolv.conf", directory=False)
    assert made == str(root / "run/systemd/resolve/stub-resolv.conf")
    assert os.path.isfile(made)
    assert inroot.make(root, "/etc/resolv.conf", directory=False) == made


def test_a_lookup_through_dotdot_holds_while_the_machine_renames(inroot, tree, tmp_path):
    # A rename (or mount) anywhere during a lookup through ".." makes openat2
    # answer EAGAIN: it cannot tell the walk stayed inside. Other containers
    # starting do that all the time; nspod-exec asks again.
    root, outside = tree
    os.symlink("../run/systemd/resolve/stub-resolv.conf", root / "etc" / "resolv.conf")
    inroot.make(root, "/etc/resolv.conf", directory=False)
    churn = tmp_path / "churn"
    churn.mkdir()
    (churn / "a").write_text("")
    stop = threading.Event()

    def rename_on():
        while not stop.is_set():
            os.rename(churn / "a", churn / "b")
            os.rename(churn / "b", churn / "a")

    renamer = threading.Thread(target=rename_on)
    renamer.start()
    try:
        for _ in range(200):
            assert inroot.lookup(root, "/etc/resolv.conf")
    finally:
        stop.set()
        renamer.join()


def test_a_directory_that_cannot_be_made_names_where(inroot, tree):
    root, outside = tree
    (root / "etc" / "ssl").write_text("a file, not a directory")
    with pytest.raises(OSError) as caught:
        inroot.make(root, "/etc/ssl/certs/x")
    assert caught.value.errno == errno.ENOTDIR
    assert str(caught.value) == "[Errno 20] cannot create /etc/ssl/certs: Not a directory"


def test_beneath_refuses_every_way_out_and_creates_nothing(inroot, tmp_path):
    vol, outside = tmp_path / "vol", tmp_path / "outside"
    vol.mkdir()
    outside.mkdir()
    (vol / "d").mkdir()
    for name, target in (("abs", str(outside)), ("up", ".."), ("rel", "../outside"),
                         ("dangling", str(outside / "new")), ("inside", "d")):
        os.symlink(target, vol / name)
    for sub in ("abs", "up/x", "rel/x", "dangling", "dangling/x", "d/../../x"):
        with pytest.raises(OSError) as caught:
            inroot.beneath(vol, sub)
        assert caught.value.errno == errno.EXDEV, sub
    assert inroot.beneath(vol, "inside/new", mode=0o750) == str(vol / "d/new")
    assert (vol / "d/new").stat().st_mode & 0o7777 == 0o750
    assert host_files(outside) == [] and not (tmp_path / "x").exists()


def test_link_loops_and_dot_dot_after_a_missing_directory_fail(inroot, tree):
    root, outside = tree
    os.symlink("b", root / "data" / "a")
    os.symlink("a", root / "data" / "b")
    for path, err in (("/data/a/x", errno.ELOOP), ("/data/missing/../x", errno.ENOENT)):
        with pytest.raises(OSError) as caught:
            inroot.make(root, path)
        assert caught.value.errno == err, path
    assert not (root / "data" / "missing").exists() and not (root / "x").exists()


def test_lexists_sees_dangling_links(inroot, tree):
    root, outside = tree
    os.symlink("/nowhere", root / "etc" / "hosts")
    assert inroot.lexists(root, "/etc/hosts")
    assert not inroot.lexists(root, "/etc/resolv.conf")
    assert not inroot.lexists(root, "/missing/hosts")


def test_magic_links_are_never_followed(inroot):
    with pytest.raises(OSError) as caught:
        inroot.lookup("/", "/proc/self/cwd/x")
    assert caught.value.errno == errno.ELOOP


def test_host_devices_walk_as_containerd_walks_dev(tmp_path):
    """The walk a privileged container's /dev comes from (rootfs.host_devices):
    device nodes only, links and fifos not taken or followed, no console and
    nothing under pts, shm, fd, mqueue; a filter; a bound that is an error."""
    from nspod import rootfs
    from nspod.errors import NspodError

    found = dict(rootfs.host_devices())
    assert "null" in found and "zero" in found, sorted(found)
    for path, st in found.items():
        assert stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode), path
        assert path.split("/")[0] not in rootfs.HOST_DEV_SKIPPED and os.path.basename(path) != "console", path
        assert not os.path.islink(f"/dev/{path}"), path
    assert [p for p, _ in rootfs.host_devices(usable=lambda p: p == "/dev/null")] == ["null"]
    with pytest.raises(NspodError, match="more than 1 device nodes"):
        rootfs.host_devices(limit=1)
    # A tree with no device node: links (even to one), a fifo, files, skipped directories.
    (tmp_path / "sub" / "pts").mkdir(parents=True)
    os.symlink("/dev/null", tmp_path / "null")
    os.symlink("/dev", tmp_path / "sub" / "dev")
    os.mkfifo(tmp_path / "sub" / "fifo")
    (tmp_path / "console").write_text("")
    assert rootfs.host_devices(str(tmp_path)) == []


def test_user_may_open_leaves_out_virtual_consoles(tmp_path):
    from nspod import rootfs

    for name in ("tty1", "tty63", "ttyS0", "tty", "fuse"):
        (tmp_path / name).write_text("")
        (tmp_path / name).chmod(0o666)
    assert [n for n in sorted(os.listdir(tmp_path)) if rootfs.user_may_open(str(tmp_path / n))] == \
        ["fuse", "tty", "ttyS0"]
