"""containerd's CRI merge of an image's config with the container's spec."""
import pytest

from nspod.confinement import Confinement, NonRootRefused
from nspod.image.runtime import (CreateContainerError, environment, image_user, process_args,
                                 working_dir)
from nspod.spec.model import Container, EnvVar

IMAGE = {"Entrypoint": ["/ep"], "Cmd": ["c1", "c2"], "Env": ["A=img", "B=img", "PATH=/img"], "WorkingDir": "/w"}


@pytest.mark.parametrize("command,args,config,expected", [
    ((), (), IMAGE, ["/ep", "c1", "c2"]),                       # neither: Entrypoint + Cmd
    ((), ("x",), IMAGE, ["/ep", "x"]),                          # args only: Entrypoint + args
    (("/c",), (), IMAGE, ["/c"]),                               # command replaces both
    (("/c",), ("x",), IMAGE, ["/c", "x"]),
    ((), (), {"Cmd": ["/only"]}, ["/only"]),
    ((), ("$(A)",), IMAGE, ["/ep", "pod"]),                    # $(VAR) from the pod's env
    ((), ("$(B)",), IMAGE, ["/ep", "$(B)"]),                   # never from the image's
    ((), (), {"Entrypoint": [""], "Cmd": ["/x"]}, ["/x"]),      # an empty Entrypoint clears it
])
def test_process_args(command, args, config, expected):
    spec = Container(name="c", image="i", command=command, args=args, env=(EnvVar("A", "pod"),))
    assert process_args(spec, config) == expected


def test_no_command_at_all_is_create_container_error():
    with pytest.raises(CreateContainerError, match="no command specified"):
        process_args(Container(name="c", image="i"), {})


def test_environment_and_working_dir():
    env = environment({"PATH": "/default", "HOME": "/root"}, IMAGE, {"A": "pod"})
    assert env == {"PATH": "/img", "HOME": "/root", "A": "pod", "B": "img"}
    assert working_dir(Container(name="c"), IMAGE) == "/w"
    assert working_dir(Container(name="c", working_dir="/p"), IMAGE) == "/p"
    assert working_dir(Container(name="c"), {}) == "/"


PASSWD = ("root:x:0:0:root:/root:/bin/sh\nwww:x:33:34:www:/var/www:/bin/sh\n"
          "app:x:1000:1000::/home/app:/bin/sh\n# comment:x:5:5::/:\nbad:x:x:1::/:\n")
GROUP = "root:x:0:\nstaff:x:50:app,www\naudio:x:63:app\napp:x:1001:app\nwww:x:34:www\n"


@pytest.mark.parametrize("user,expected", [
    ("", 0), ("  ", 0), ("0", 0), ("1000", 1000), ("www", "www"),
    ("1000:7", 1000), ("www:staff", "www"), (":50", 0),      # the group part is dropped, as the kubelet does
    ("²", "²"), ("-1", "-1"),                                 # not ASCII digits: a name
])
def test_image_user_as_the_kubelet_sees_it(user, expected):
    assert image_user(user) == expected


@pytest.fixture
def accounts(tmp_path):
    """The image's /etc/passwd and /etc/group as files nspod-exec reads."""
    (tmp_path / "passwd").write_text(PASSWD)
    (tmp_path / "group").write_text(GROUP)
    return tmp_path / "passwd", tmp_path / "group"


POD = dict(pod="web_default(u1)", container="app")


def identity(inroot, accounts, context, user):
    """As a container with an image starts: Python's checks (user_to_find),
    then nspod-exec's lookup in the image's files (identity.c)."""
    conf = Confinement(**context, **POD)
    return inroot.identity(*accounts, conf.user_to_find(user), conf.run_as_group, conf.supplemental_groups)


@pytest.mark.parametrize("context, user, expected", [
    # (uid, gid, groups, home): containerd's WithUser + WithAdditionalGIDs + WithSupplementalGroups
    ({}, "app", (1000, 1000, (50, 63, 1000), "/home/app")),
    ({}, 1000, (1000, 1000, (50, 63, 1000), "/home/app")),          # by uid: its name's groups
    ({}, 33, (33, 34, (34, 50), "/var/www")),
    ({}, 4242, (4242, 0, (0,), "/")),                                # not in passwd: gid 0, no groups
    ({}, 0, (0, 0, (0,), "/root")),
    ({"supplemental_groups": (2000, 3000, 50)}, "app", (1000, 1000, (50, 63, 1000, 2000, 3000), "/home/app")),
    ({"run_as_group": 7}, "app", (1000, 7, (7, 50, 63), "/home/app")),
    ({"run_as_user": 33}, "app", (33, 34, (34, 50), "/var/www")),    # runAsUser looked up in passwd
    ({"run_as_user": 4242, "run_as_group": 5}, "app", (4242, 5, (5,), "/")),
    ({"run_as_non_root": True}, 1000, (1000, 1000, (50, 63, 1000), "/home/app")),
    ({"run_as_non_root": True, "run_as_user": 1000}, "app", (1000, 1000, (50, 63, 1000), "/home/app")),
])
def test_identity_of_an_image_user(inroot, accounts, context, user, expected):
    assert identity(inroot, accounts, context, user) == expected


def test_malformed_entries_and_comments_are_no_users(inroot, accounts):
    from conftest import Refused

    for name in ("bad", "# comment", "nobody"):
        with pytest.raises(Refused, match=f"unable to find user {name}: no matching entries in passwd file"):
            identity(inroot, accounts, {}, name)


def test_an_id_past_the_largest_is_refused_not_wrapped(inroot, tmp_path):
    """A uid of 2^32 would be 0 in uid_t: the container would run as root."""
    from conftest import Refused

    (tmp_path / "passwd").write_text("app:x:4294967296:1000::/home/app:/bin/sh\nw:x:5:4294967297::/:\n")
    (tmp_path / "group").write_text("big:x:4294967296:x\n")
    for user in ("app", "w"):
        with pytest.raises(Refused) as caught:
            inroot.identity(tmp_path / "passwd", tmp_path / "group", user)
        assert caught.value.reason == "CreateContainerError" and "is more than 2147483647" in str(caught.value)
    (tmp_path / "passwd").write_text("x:x:7:7::/:\n")
    with pytest.raises(Refused, match="gid 4294967296 is more than"):
        inroot.identity(tmp_path / "passwd", tmp_path / "group", "x")


@pytest.mark.parametrize("context, user, error, message", [
    ({}, 2**31, CreateContainerError, '"2147483648" is not a valid uid'),
    ({"run_as_non_root": True}, "app", NonRootRefused,
     'container has runAsNonRoot and image has non-numeric user (app), cannot verify user is non-root '
     '(pod: "web_default(u1)", container: app)'),
    ({"run_as_non_root": True}, 0, NonRootRefused,
     'container has runAsNonRoot and image will run as root (pod: "web_default(u1)", container: app)'),
])
def test_identity_refused_before_anything_runs(context, user, error, message):
    with pytest.raises(error) as caught:
        Confinement(**context, **POD).user_to_find(user)
    assert str(caught.value) == message


def test_bytes_that_are_not_utf8_reach_the_supervisor_as_valid_json(inroot, tmp_path):
    """An image's /etc/group may hold any bytes; nspod-exec's report stays
    JSON the supervisor can read (U+FFFD in their place)."""
    from conftest import Refused

    (tmp_path / "passwd").write_text("x:x:7:7::/:\n")
    (tmp_path / "group").write_bytes(b"\xff\xfe\xc3:x:4294967296:x\n")
    with pytest.raises(Refused) as caught:
        inroot.identity(tmp_path / "passwd", tmp_path / "group", "x")
    assert "group \ufffd\ufffd\ufffd in the image's /etc/group" in str(caught.value)
