"""Which volume nodes keep device access (rootfs.openable_device): exactly
the character devices containerd's device cgroup lets a container open."""
import os
import stat

import pytest

from nspod.rootfs import openable_device


def node(kind, major, minor):
    # (mode, ino, dev, nlink, uid, gid, size, atime, mtime, ctime) + st_rdev
    return os.stat_result((kind | 0o666, 1, 1, 1, 0, 0, 0, 0, 0, 0), {"st_rdev": os.makedev(major, minor)})


@pytest.mark.parametrize("major,minor", [(1, 3), (1, 5), (1, 7), (1, 8), (1, 9), (5, 0), (5, 1), (5, 2),
                                         (10, 200), (136, 0), (136, 7)])
def test_containerds_allowed_character_devices_open(major, minor):
    assert openable_device(node(stat.S_IFCHR, major, minor))


@pytest.mark.parametrize("kind,major,minor", [
    (stat.S_IFBLK, 1, 3),        # a block device with null's numbers
    (stat.S_IFBLK, 8, 0),        # sda
    (stat.S_IFCHR, 1, 1),        # /dev/mem
    (stat.S_IFCHR, 1, 11),       # /dev/kmsg
    (stat.S_IFCHR, 10, 237),     # /dev/loop-control
    (stat.S_IFCHR, 10, 229),     # /dev/fuse
    (stat.S_IFCHR, 137, 0),      # a second pts major: containerd allows 136 only
    (stat.S_IFCHR, 4, 1),        # /dev/tty1
    (stat.S_IFREG, 1, 3),        # not a device at all
    (stat.S_IFDIR, 0, 0),
])
def test_every_other_node_does_not(kind, major, minor):
    assert not openable_device(node(kind, major, minor))
