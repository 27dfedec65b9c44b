"""containerd's CRI merge of an image's config with the container's spec."""
import pytest

from nspod.image.runtime import CreateContainerError, environment, process_args, resolve_user, working_dir
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


PASSWD = "root:x:0:0:root:/root:/bin/sh\nwww:x:33:34:www:/var/www:/bin/sh\n"
GROUP = "root:x:0:\nstaff:x:50:\n"


@pytest.mark.parametrize("user,expected", [
    ("", (0, 0, "/root")), ("www", (33, 34, "/var/www")), ("33", (33, 34, "/var/www")),
    ("1000", (1000, 0, "/")), ("www:staff", (33, 50, "/var/www")), ("1000:7", (1000, 7, "/")),
])
def test_resolve_user(user, expected):
    assert resolve_user(user, PASSWD, GROUP) == expected


@pytest.mark.parametrize("user", ["nobody", "www:nogroup"])
def test_unknown_user_or_group(user):
    with pytest.raises(CreateContainerError):
        resolve_user(user, PASSWD, GROUP)
