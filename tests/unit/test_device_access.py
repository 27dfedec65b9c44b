"""Which volume nodes keep device access (nspod-exec's openable_device,
through inroot-probe): exactly the character devices containerd's device
cgroup lets a container open."""
import pytest


@pytest.mark.parametrize("major,minor", [(1, 3), (1, 5), (1, 7), (1, 8), (1, 9), (5, 0), (5, 1), (5, 2),
                                         (10, 200), (136, 0), (136, 7)])
def test_containerds_allowed_character_devices_open(inroot, major, minor):
    assert inroot.openable_device("c", major, minor)


@pytest.mark.parametrize("kind,major,minor", [
    ("b", 1, 3),        # a block device with null's numbers
    ("b", 8, 0),        # sda
    ("c", 1, 1),        # /dev/mem
    ("c", 1, 11),       # /dev/kmsg
    ("c", 10, 237),     # /dev/loop-control
    ("c", 10, 229),     # /dev/fuse
    ("c", 137, 0),      # a second pts major: containerd allows 136 only
    ("c", 4, 1),        # /dev/tty1
    ("f", 1, 3),        # not a device at all
    ("d", 0, 0),
])
def test_every_other_node_does_not(inroot, kind, major, minor):
    assert not inroot.openable_device(kind, major, minor)
