"""nspod cp both ways, as kubectl cp, through the container's mount namespace:
round trips with directories, symlinks and hard links, and escapes refused."""
import json
import os

from podtest import nspod


def pod(name):
    return json.dumps({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
                       "spec": {"terminationGracePeriodSeconds": 0, "containers": [
                           {"name": "app", "command": ["sleep", "300"]}]}})


def sh(name, script):
    return nspod("exec", name, "--", "sh", "-c", script).stdout


def test_round_trip_with_kubectls_rules(pods, tmp_path):
    pods.run(pod("cp1"))
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    (src / "a").write_text("hello")
    (src / "sub" / "b").write_text("deep")
    os.symlink("a", src / "link")
    os.link(src / "a", src / "hard")
    os.chmod(src / "a", 0o640)

    nspod("cp", str(src), "cp1:/tmp/dst")  # a new name: the directory becomes it
    assert sh("cp1", "cat /tmp/dst/a /tmp/dst/sub/b; readlink /tmp/dst/link; stat -c '%h %a' /tmp/dst/a") == \
        "hellodeepa\n2 640\n"
    nspod("cp", str(src), "cp1:/tmp/dst")  # an existing directory: into it, under its own name
    assert sh("cp1", "cat /tmp/dst/src/sub/b") == "deep"
    nspod("cp", str(src / "a"), "cp1:/tmp/dst/sub")  # a file into a directory keeps its name
    assert sh("cp1", "cat /tmp/dst/sub/a") == "hello"

    back = tmp_path / "back"
    nspod("cp", "cp1:/tmp/dst", str(back))  # from the container: the directory's contents
    assert sorted(os.listdir(back)) == ["a", "hard", "link", "src", "sub"]
    assert (back / "sub" / "b").read_text() == "deep" and os.readlink(back / "link") == "a"
    assert os.stat(back / "a").st_uid == os.getuid()  # the host side is written as the user
    nspod("cp", "cp1:/tmp/dst/a", str(tmp_path))
    assert (tmp_path / "a").read_text() == "hello"


def test_escapes_and_errors(pods, tmp_path):
    pods.run(pod("cp2"))
    # The container plants links to places outside what is copied.
    sh("cp2", f"mkdir -p /tmp/out && echo in > /tmp/out/f && ln -s / /tmp/out/root "
              f"&& ln -s {tmp_path} /tmp/out/hostpath")
    nspod("cp", "cp2:/tmp/out", str(tmp_path / "got"))
    assert os.readlink(tmp_path / "got" / "root") == "/"  # links come as links, never followed
    assert sorted(os.listdir(tmp_path / "got")) == ["f", "hostpath", "root"]
    # Paths are the container's: .. stops at its root, and /etc/hosts is the pod's.
    nspod("cp", "cp2:/../../../etc/hosts", str(tmp_path / "hosts"))
    assert "cp2" in (tmp_path / "hosts").read_text()
    # Copying into the container through a link that leads to / stays in the container.
    (tmp_path / "note").write_text("n")
    nspod("cp", str(tmp_path / "note"), "cp2:/tmp/out/root/tmp")
    assert sh("cp2", "cat /tmp/note") == "n"
    assert not os.path.isfile("/tmp/note") or open("/tmp/note").read() != "n"  # (a folder of that name: not ours)

    missing = nspod("cp", "cp2:/nonexistent", str(tmp_path / "x"), check=False)
    assert missing.returncode == 1 and "/nonexistent: No such file or directory" in missing.stderr
    local = nspod("cp", str(tmp_path / "nonexistent"), "cp2:/tmp", check=False)
    assert (local.returncode, local.stderr) == (1, f"Error: {tmp_path}/nonexistent doesn't exist in local filesystem\n")
    nodir = nspod("cp", "cp2:/etc/hosts", str(tmp_path / "no" / "dir"), check=False)
    assert nodir.returncode == 1 and nodir.stderr.count("\n") == 1, nodir.stderr
    both = nspod("cp", str(tmp_path / "note"), str(tmp_path / "x"), check=False)
    assert both.returncode == 2 and "one of the two must be POD:PATH" in both.stderr
    nopod = nspod("cp", "nosuchpod:/etc/hosts", str(tmp_path / "x"), check=False)
    assert nopod.returncode == 1 and "nosuchpod" in nopod.stderr
    root = nspod("cp", "cp2:/", str(tmp_path / "x"), check=False)
    assert root.returncode == 2 and "not a root" in root.stderr
    assert not (tmp_path / "x").exists()
