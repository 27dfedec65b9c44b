"""nspod cp's receiving side (nspod/copy.py) against hostile archives: nothing
lands outside the target, and no symbolic link is followed."""
import io
import os
import tarfile

import pytest

from nspod.copy import _receive, split_spec
from nspod.errors import BadInput, NspodError


def archive(*entries):
    """entries: (name, kind, data-or-linkname)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, kind, data in entries:
            info = tarfile.TarInfo(name)
            if kind == "dir":
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                tar.addfile(info)
            elif kind == "file":
                info.size, info.mode = len(data), 0o640
                tar.addfile(info, io.BytesIO(data))
            elif kind == "sym":
                info.type, info.linkname = tarfile.SYMTYPE, data
                tar.addfile(info)
            elif kind == "hard":
                info.type, info.linkname = tarfile.LNKTYPE, data
                tar.addfile(info)
    buf.seek(0)
    return buf


def test_a_directory_lands_with_its_files_links_and_modes(tmp_path):
    _receive(archive(("top", "dir", None), ("top/a", "file", b"A"), ("top/sub", "dir", None),
                     ("top/sub/b", "file", b"B"), ("top/l", "sym", "a"), ("top/h", "hard", "top/a")),
             str(tmp_path / "dest"), "from-container")
    d = tmp_path / "dest"
    assert (d / "a").read_bytes() == b"A" and (d / "sub" / "b").read_bytes() == b"B"
    assert os.readlink(d / "l") == "a"
    assert (d / "h").stat().st_ino == (d / "a").stat().st_ino
    assert oct((d / "a").stat().st_mode & 0o777) == oct(0o640)


@pytest.mark.parametrize("entries", [
    [("top", "dir", None), ("top/../escaped", "file", b"x")],
    [("top", "dir", None), ("/abs", "file", b"x")],
    [("top", "dir", None), ("other/x", "file", b"x")],
    [("top", "dir", None), ("top//x", "file", b"x")],
])
def test_names_outside_the_copy_are_refused(tmp_path, entries):
    with pytest.raises(NspodError, match="refused an archive entry"):
        _receive(archive(*entries), str(tmp_path / "dest"), "from-container")
    assert sorted(os.listdir(tmp_path)) == ["dest"]


def test_a_planted_symlink_is_never_followed(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    with pytest.raises(NspodError, match="symbolic link is never followed"):
        _receive(archive(("top", "dir", None), ("top/l", "sym", str(outside)), ("top/l/owned", "file", b"x")),
                 str(tmp_path / "dest"), "from-container")
    assert list(outside.iterdir()) == []
    # nor is a file written through a symlink that names it
    (tmp_path / "target").write_text("keep")
    with pytest.raises(NspodError):
        _receive(archive(("top", "dir", None), ("top/f", "sym", str(tmp_path / "target")),
                         ("top/f", "file", b"x"), ("top/f2", "hard", "top/f")),
                 str(tmp_path / "dest2"), "from-container")
    assert (tmp_path / "target").read_text() == "keep"


def test_hard_links_outside_the_copy_are_refused(tmp_path):
    (tmp_path / "secret").write_text("s")
    with pytest.raises(NspodError, match="hard link outside"):
        _receive(archive(("top", "dir", None), ("top/h", "hard", "../secret")), str(tmp_path / "dest"),
                 "from-container")


def test_a_file_into_an_existing_directory_keeps_its_name(tmp_path):
    (tmp_path / "d").mkdir()
    _receive(archive(("f", "file", b"F")), str(tmp_path / "d"), "from-container")
    assert (tmp_path / "d" / "f").read_bytes() == b"F"
    _receive(archive(("f", "file", b"G")), str(tmp_path / "renamed"), "from-container")
    assert (tmp_path / "renamed").read_bytes() == b"G"


def test_specs():
    assert split_spec("web:/tmp/x") == ("web", "/tmp/x")
    assert split_spec("/tmp/a:b") == (None, "/tmp/a:b")
    assert split_spec("./a:b") == (None, "./a:b")
    with pytest.raises(BadInput):
        split_spec("web:")
