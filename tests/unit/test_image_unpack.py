"""Layer unpacking: path safety against hostile archives built here, whiteouts,
links, modes, the diff_id check (no registry, no privileges needed)."""
import gzip
import hashlib
import io
import os
import stat
import subprocess
import tarfile

import pytest

from nspod.image.errors import PullError, UnsafeLayer
from nspod.image.unpack import flatten


def entry(name, kind="file", data=b"", target="", mode=None, uid=0, gid=0, size=None, **extra):
    info = tarfile.TarInfo(name)
    info.uid, info.gid, info.mtime = uid, gid, 1_700_000_000
    if kind == "file":
        info.type, info.size, info.mode = tarfile.REGTYPE, len(data), 0o644 if mode is None else mode
    elif kind == "dir":
        info.type, info.mode = tarfile.DIRTYPE, 0o755 if mode is None else mode
    elif kind == "symlink":
        info.type, info.linkname, info.mode = tarfile.SYMTYPE, target, 0o777
    elif kind == "hardlink":
        info.type, info.linkname, info.mode = tarfile.LNKTYPE, target, 0o644
    elif kind == "char":
        info.type, info.devmajor, info.devminor, info.mode = tarfile.CHRTYPE, 1, 3, 0o666
    elif kind == "fifo":
        info.type, info.mode = tarfile.FIFOTYPE, 0o600
    for k, v in extra.items():
        setattr(info, k, v)
    return info, data, size


def tar_bytes(entries):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for info, data, _ in entries:
            tar.addfile(info, io.BytesIO(data) if info.isreg() else None)
    return buf.getvalue()


def layer(tmp_path, entries, compression="gzip", name=None, raw=None):
    """(blob path, compression, digest, diff_id) of a layer made of entries."""
    plain = raw if raw is not None else tar_bytes(entries)
    diff_id = "sha256:" + hashlib.sha256(plain).hexdigest()
    if compression == "gzip":
        blob = gzip.compress(plain)
    elif compression == "zstd":
        blob = subprocess.run(["zstd", "-q", "-c"], input=plain, capture_output=True, check=True).stdout
    else:
        blob = plain
    digest = "sha256:" + hashlib.sha256(blob).hexdigest()
    path = tmp_path / (name or digest.partition(":")[2])
    path.write_bytes(blob)
    return str(path), compression, digest, diff_id


@pytest.fixture
def outside(tmp_path):
    d = tmp_path / "outside"
    d.mkdir()
    (d / "secret").write_text("secret")
    return d


def assert_untouched(outside):
    assert sorted(os.listdir(outside)) == ["secret"]
    assert (outside / "secret").read_text() == "secret"


HOSTILE = {
    "dotdot file": lambda out: [entry("../x", data=b"x")],
    "dotdot inside a path": lambda out: [entry("a/../../x", data=b"x")],
    "absolute file": lambda out: [entry("/etc/nspod-test-x", data=b"x")],
    "symlink to / then a file through it": lambda out: [
        entry("l", "symlink", target="/"), entry("l/tmp/nspod-test-x", data=b"x")],
    "symlink outside then a file through it": lambda out: [
        entry("l", "symlink", target=str(out)), entry("l/pwned", data=b"x")],
    "relative symlink outside then a dir through it": lambda out: [
        entry("d/l", "symlink", target="../../outside"), entry("d/l/sub", "dir")],
    "hardlink with dotdot": lambda out: [entry("h", "hardlink", target="../outside/secret")],
    "hardlink to an absolute path": lambda out: [entry("h", "hardlink", target="/etc/passwd")],
    "hardlink through a symlink": lambda out: [
        entry("l", "symlink", target=str(out)), entry("h", "hardlink", target="l/secret")],
    "hardlink to nothing": lambda out: [entry("h", "hardlink", target="missing")],
    "whiteout of dotdot": lambda out: [entry(".wh..", data=b"")],
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_archives_are_refused(tmp_path, outside, case):
    dest = tmp_path / "root"
    with pytest.raises(UnsafeLayer) as e:
        flatten([layer(tmp_path, HOSTILE[case](outside))], str(dest))
    assert "refused" in str(e.value)
    assert not dest.exists(), "a failed unpack leaves nothing"
    assert_untouched(outside)
    assert not os.path.exists("/etc/nspod-test-x") and not os.path.exists("/tmp/nspod-test-x")


def test_huge_member_size_is_refused_without_filling_the_disk(tmp_path):
    info = tarfile.TarInfo("big")
    info.size = 1 << 50  # 1 PiB claimed, a few bytes present
    header = info.tobuf(format=tarfile.PAX_FORMAT)
    raw = header + b"x" * 512 + b"\0" * 1024
    dest = tmp_path / "root"
    with pytest.raises(PullError) as e:
        flatten([layer(tmp_path, None, raw=raw)], str(dest))
    assert "bytes" in str(e.value) and "free" in str(e.value)
    assert not dest.exists()


def test_truncated_member_is_an_error(tmp_path):
    info = tarfile.TarInfo("f")
    info.size = 100_000
    raw = info.tobuf(format=tarfile.PAX_FORMAT) + b"x" * 1024
    with pytest.raises(PullError):
        flatten([layer(tmp_path, None, raw=raw)], str(tmp_path / "root"))
    assert not (tmp_path / "root").exists()


def test_symlink_from_a_lower_layer_is_replaced_by_a_directory_not_followed(tmp_path, outside):
    lower = layer(tmp_path, [entry("l", "symlink", target=str(outside))], name="lower")
    upper = layer(tmp_path, [entry("l/x", data=b"upper")], name="upper")
    dest = tmp_path / "root"
    flatten([lower, upper], str(dest))
    assert (dest / "l").is_dir() and not (dest / "l").is_symlink()
    assert (dest / "l" / "x").read_bytes() == b"upper"
    assert_untouched(outside)


def test_a_file_over_a_lower_symlink_replaces_the_link(tmp_path, outside):
    lower = layer(tmp_path, [entry("f", "symlink", target=str(outside / "secret"))], name="lower")
    upper = layer(tmp_path, [entry("f", data=b"mine")], name="upper")
    dest = tmp_path / "root"
    flatten([lower, upper], str(dest))
    assert not (dest / "f").is_symlink() and (dest / "f").read_bytes() == b"mine"
    assert_untouched(outside)


def test_links_stay_links_and_hard_links_share_the_inode(tmp_path):
    entries = [entry("etc", "dir"), entry("etc/file", data=b"data"),
               entry("abs", "symlink", target="/etc/passwd"), entry("rel", "symlink", target="etc/file"),
               entry("hard", "hardlink", target="etc/file"), entry("fifo", "fifo")]
    dest = tmp_path / "root"
    flatten([layer(tmp_path, entries)], str(dest))
    assert os.readlink(dest / "abs") == "/etc/passwd"
    assert os.readlink(dest / "rel") == "etc/file"
    assert os.stat(dest / "hard").st_ino == os.stat(dest / "etc" / "file").st_ino
    assert stat.S_ISFIFO(os.lstat(dest / "fifo").st_mode)


def test_whiteouts_and_opaque_directories(tmp_path):
    lower = layer(tmp_path, [
        entry("a", "dir"), entry("a/gone", data=b"1"), entry("a/kept", data=b"2"),
        entry("b", "dir"), entry("b/dir", "dir"), entry("b/dir/x", data=b"3"), entry("b/old", data=b"4"),
        entry("c", "dir"), entry("c/deep", data=b"5"), entry("top", data=b"6"),
    ], name="lower")
    upper = layer(tmp_path, [
        entry("a/.wh.gone"), entry("b", "dir"), entry("b/.wh..wh..opq"), entry("b/new", data=b"7"),
        entry(".wh.c"), entry(".wh.top"), entry(".wh.never-there"), entry("a/.wh..wh.plnk", "dir"),
    ], name="upper")
    dest = tmp_path / "root"
    flatten([lower, upper], str(dest))
    assert sorted(os.listdir(dest)) == ["a", "b"]
    assert sorted(os.listdir(dest / "a")) == ["kept"]
    assert sorted(os.listdir(dest / "b")) == ["new"]


def test_opaque_marker_after_new_entries_keeps_them(tmp_path):
    lower = layer(tmp_path, [entry("d", "dir"), entry("d/old", data=b"1")], name="lower")
    upper = layer(tmp_path, [entry("d", "dir"), entry("d/new", data=b"2"), entry("d/.wh..wh..opq")], name="upper")
    dest = tmp_path / "root"
    flatten([lower, upper], str(dest))
    assert os.listdir(dest / "d") == ["new"]


def test_read_only_directory_of_a_lower_layer_does_not_stop_an_upper_one(tmp_path):
    lower = layer(tmp_path, [entry("ro", "dir", mode=0o555), entry("ro/a", data=b"a", mode=0o444)], name="lower")
    upper = layer(tmp_path, [entry("ro/b", data=b"b"), entry("ro/.wh.a")], name="upper")
    dest = tmp_path / "root"
    flatten([lower, upper], str(dest))
    assert os.listdir(dest / "ro") == ["b"]
    assert stat.S_IMODE(os.stat(dest / "ro").st_mode) == 0o555
    assert os.stat(dest / "ro" / "b").st_mtime == 1_700_000_000
    os.chmod(dest / "ro", 0o755)


def test_modes_owners_and_setuid(tmp_path):
    entries = [entry("suid-root", data=b"x", mode=0o4755, uid=0),
               entry("suid-other", data=b"x", mode=0o4755, uid=1000, gid=1000),
               entry("plain", data=b"x", mode=0o640, uid=33, gid=33)]
    dest = tmp_path / "root"
    flatten([layer(tmp_path, entries)], str(dest))
    assert stat.S_IMODE(os.stat(dest / "suid-root").st_mode) == 0o4755
    st = os.stat(dest / "suid-other")
    if os.geteuid() == 0:   # owners kept, and with them the bits
        assert (st.st_uid, stat.S_IMODE(st.st_mode)) == (1000, 0o4755)
        assert os.stat(dest / "plain").st_uid == 33
    else:                   # our own files: no setuid to an owner the image did not give
        assert (st.st_uid, stat.S_IMODE(st.st_mode)) == (os.geteuid(), 0o755)
        assert os.stat(dest / "plain").st_uid == os.geteuid()
    assert stat.S_IMODE(os.stat(dest / "plain").st_mode) == 0o640


def test_device_nodes_only_where_mknod_is_allowed(tmp_path):
    dest = tmp_path / "root"
    flatten([layer(tmp_path, [entry("null", "char")])], str(dest))
    if os.geteuid() == 0:
        assert stat.S_ISCHR(os.lstat(dest / "null").st_mode)
    else:
        assert not os.path.lexists(dest / "null")


@pytest.mark.parametrize("compression", ["gzip", "", "zstd"])
def test_compressions(tmp_path, compression):
    dest = tmp_path / "root"
    flatten([layer(tmp_path, [entry("f", data=b"hello" * 1000)], compression=compression)], str(dest))
    assert (dest / "f").read_bytes() == b"hello" * 1000


def test_gzip_of_several_members(tmp_path):
    plain = tar_bytes([entry("f", data=b"x" * 5000)])
    blob = gzip.compress(plain[:1000]) + gzip.compress(plain[1000:])
    path = tmp_path / "blob"
    path.write_bytes(blob)
    dest = tmp_path / "root"
    flatten([(str(path), "gzip", "sha256:" + hashlib.sha256(blob).hexdigest(),
              "sha256:" + hashlib.sha256(plain).hexdigest())], str(dest))
    assert (dest / "f").read_bytes() == b"x" * 5000


def test_diff_id_mismatch_names_both_digests(tmp_path):
    path, compression, digest, _ = layer(tmp_path, [entry("f", data=b"x")])
    wrong = "sha256:" + "0" * 64
    with pytest.raises(PullError) as e:
        flatten([(path, compression, digest, wrong)], str(tmp_path / "root"))
    assert wrong in str(e.value) and digest in str(e.value)
    assert not (tmp_path / "root").exists()


def test_not_gzip_is_an_error(tmp_path):
    path = tmp_path / "blob"
    path.write_bytes(b"not gzip at all" * 10)
    with pytest.raises(PullError, match="not valid gzip"):
        flatten([(str(path), "gzip", "sha256:" + "1" * 64, None)], str(tmp_path / "root"))


def test_a_directory_replaced_by_a_symlink_in_a_later_layer(tmp_path, outside):
    lower = layer(tmp_path, [entry("a", "dir", mode=0o700), entry("a/b", "dir"), entry("a/b/f", data=b"f")],
                  name="lower")
    upper = layer(tmp_path, [entry("a", "symlink", target=str(outside))], name="upper")
    dest = tmp_path / "root"
    flatten([lower, upper], str(dest))
    assert os.readlink(dest / "a") == str(outside)
    assert_untouched(outside)
    assert stat.S_IMODE(os.stat(outside).st_mode) != 0o700   # never chmod'ed through the link
    assert os.stat(outside).st_mtime != 1_700_000_000


# -- one layer alone, for overlayfs (unpack_layer) ----------------------------------
def test_layer_for_overlay_has_overlay_whiteouts_and_opaque_xattr(tmp_path):
    from nspod.image.unpack import unpack_layer

    top = layer(tmp_path, [entry("etc/.wh.gone"), entry("opq", "dir"), entry("opq/.wh..wh..opq"),
                           entry("opq/new", data=b"n"), entry("keep", data=b"k"),
                           entry("etc/.wh..wh.plnk")])
    dest = tmp_path / "layer"
    unpack_layer(top, str(dest), "user.overlay.")
    st = os.stat(dest / "etc" / "gone", follow_symlinks=False)
    assert stat.S_ISCHR(st.st_mode) and st.st_rdev == os.makedev(0, 0)  # overlay's whiteout
    assert os.getxattr(dest / "opq", "user.overlay.opaque") == b"y"
    assert sorted(os.listdir(dest)) == ["etc", "keep", "opq"] and os.listdir(dest / "etc") == ["gone"]
    assert (dest / "opq" / "new").read_bytes() == b"n"


def test_layer_for_overlay_drops_the_archives_own_overlay_xattrs(tmp_path):
    """An image must not forge overlay's metadata (redirect, origin, opaque)."""
    from nspod.image.unpack import unpack_layer

    forged = {"SCHILY.xattr.user.overlay.redirect": "/etc", "SCHILY.xattr.user.overlay.opaque": "y",
              "SCHILY.xattr.user.kept": "1"}
    top = layer(tmp_path, [entry("d", "dir", pax_headers=forged), entry("f", data=b"x", pax_headers=forged)])
    dest = tmp_path / "layer"
    unpack_layer(top, str(dest), "user.overlay.")
    for path in (dest / "d", dest / "f"):
        assert os.listxattr(path) == ["user.kept"]


def test_layer_for_overlay_leaves_nothing_on_failure(tmp_path):
    from nspod.image.unpack import unpack_layer

    bad = layer(tmp_path, [entry("a", data=b"a"), entry("../x", data=b"x")])
    with pytest.raises(UnsafeLayer):
        unpack_layer(bad, str(tmp_path / "layer"), "user.overlay.")
    assert not (tmp_path / "layer").exists()
