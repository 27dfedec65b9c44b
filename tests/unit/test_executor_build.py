"""How nspod-exec is built: against musl where musl-gcc is installed (scripts/setup
installs musl-tools), against glibc when it is not or when it fails; and a build
against glibc counts as stale once musl-gcc is there. Real compiles, in tmp_path."""
import os
import shutil
import stat
import subprocess

import pytest

from nspod.executor import build

HERE = os.path.dirname(os.path.abspath(build.__file__))


def require_musl():
    if not shutil.which(build.MUSL_CC):
        pytest.fail(f"{build.MUSL_CC} is not installed: scripts/setup installs musl-tools")


def test_the_checkouts_nspod_exec_is_linked_against_musl():
    require_musl()
    exe = os.path.join(HERE, "nspod-exec")
    assert not build.stale(), "scripts/setup builds nspod-exec; run it"
    assert not build.linked_against_glibc(exe)


def test_musl_gcc_is_chosen_for_nspod_exec_only_and_cc_wins(monkeypatch):
    require_musl()
    monkeypatch.delenv("CC", raising=False)
    assert build.chosen_cc("nspod-exec") == build.MUSL_CC
    assert build.chosen_cc("nspod-keeper") == "gcc"  # it shares glibc's pages with the rest
    assert build.chosen_cc("nspod-exec", "clang") == "clang"
    monkeypatch.setenv("CC", "gcc")
    assert build.chosen_cc("nspod-exec") == "gcc"


def test_kernel_headers_are_linked_for_musl(tmp_path):
    flags = build.kernel_headers(str(tmp_path))
    assert flags == ["-idirafter", str(tmp_path)]
    for header in ("linux/mount.h", "linux/seccomp.h", "asm/unistd.h", "asm-generic/errno-base.h"):
        assert (tmp_path / header).is_file(), header


def test_a_build_against_glibc_is_stale_once_musl_gcc_is_there(tmp_path, monkeypatch):
    require_musl()
    monkeypatch.setenv("CC", "gcc")
    out = build.build_one("nspod-exec", str(tmp_path / "nspod-exec"))
    keeper = shutil.copy2(os.path.join(HERE, "nspod-keeper"), tmp_path / "nspod-keeper")
    os.utime(keeper)
    assert build.linked_against_glibc(out)
    assert not build.stale(str(tmp_path))  # CC=gcc asked for glibc
    monkeypatch.delenv("CC")
    assert build.stale(str(tmp_path))
    build.build_one("nspod-exec", out)
    assert not build.linked_against_glibc(out)
    assert not build.stale(str(tmp_path))


def test_a_failing_musl_gcc_falls_back_to_glibc_and_says_so(tmp_path, monkeypatch, capfd):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / build.MUSL_CC
    fake.write_text("#!/bin/sh\necho 'musl-gcc: broken here' >&2\nexit 1\n")
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    monkeypatch.delenv("CC", raising=False)
    out = build.build_one("nspod-exec", str(tmp_path / "nspod-exec"))
    assert build.linked_against_glibc(out)
    assert os.access(out, os.X_OK)
    err = capfd.readouterr().err
    assert "broken here" in err and "linking against glibc instead" in err
    assert sorted(os.listdir(tmp_path)) == ["bin", "nspod-exec"]


def test_a_failing_gcc_fails_the_build_and_leaves_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("CC", "false")
    with pytest.raises(subprocess.CalledProcessError):
        build.build_one("nspod-exec", str(tmp_path / "nspod-exec"))
    assert os.listdir(tmp_path) == []
