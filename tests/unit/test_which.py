"""nspod.paths.which: shutil.which's lookup of an executable, without shutil."""
import os
import shutil

from nspod.paths import which


def test_which_finds_as_shutil_does(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    (a / "tool").write_text("#!/bin/sh\n")          # not executable: skipped
    (b / "tool").write_text("#!/bin/sh\n")
    (b / "tool").chmod(0o755)
    (a / "dir").mkdir()                              # a directory: skipped
    path = os.pathsep.join([str(a), str(b)])
    assert which("tool", path=path) == str(b / "tool") == shutil.which("tool", path=path)
    assert which("dir", path=path) is None is shutil.which("dir", path=path)
    assert which("missing", path=path) is None
    assert which(str(b / "tool")) == str(b / "tool")   # a name with a slash: as it is
    assert which(str(a / "tool")) is None


def test_which_uses_PATH_by_default(monkeypatch):
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    assert which("sh") == shutil.which("sh")
