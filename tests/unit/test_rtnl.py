"""The rtnetlink client's messages (pure): the bytes of every request, against
layouts worked out by hand from linux/netlink.h and linux/rtnetlink.h, and the
decoding of replies and errors. The reply loop is fed by a real datagram
socket pair standing in for the kernel's end.

Expected bytes are written for a little-endian host (x86-64, arm64), as the
kernel wants them there: netlink is in host byte order, addresses in network
order."""
import errno
import socket
import struct
import sys

import pytest

from nspod.net import rtnl


def hexbytes(text):
    """Hex with spaces and comments (# to the end of a line) -> bytes."""
    assert sys.byteorder == "little", "these layouts are written for a little-endian host"
    return bytes.fromhex(" ".join(line.split("#")[0] for line in text.splitlines()))


IFINFO_ZERO = "00 00 0000 00000000 00000000 00000000"  # family, pad, type, index, flags, change


# -- requests -------------------------------------------------------------------------
def test_get_link_by_name_is_one_request_not_a_dump():
    assert rtnl.encode(1, rtnl.get_link("lo")) == hexbytes(f"""
        28000000 1200 0500 01000000 00000000   # len 40, RTM_GETLINK, REQUEST|ACK, seq 1, port 0
        {IFINFO_ZERO}
        0700 0300 6c6f00 00                    # IFLA_IFNAME "lo\\0" (len 7) + 1 byte of padding
    """)


def test_set_up():
    assert rtnl.encode(2, rtnl.set_up(1)) == hexbytes("""
        20000000 1000 0500 02000000 00000000   # len 32, RTM_NEWLINK, REQUEST|ACK
        00 00 0000 01000000 01000000 01000000  # index 1, flags IFF_UP, change IFF_UP
    """)


def test_add_bridge_with_mac_and_mtu():
    assert rtnl.encode(3, rtnl.add_bridge("nspod0", "0a:58:0a:58:00:01", 65520)) == hexbytes(f"""
        50000000 1000 0506 03000000 00000000   # len 80, RTM_NEWLINK, REQUEST|ACK|EXCL|CREATE
        {IFINFO_ZERO}
        0b00 0300 6e73706f643000 00            # IFLA_IFNAME "nspod0\\0" + 1 pad
        0a00 0100 0a580a580001 0000            # IFLA_ADDRESS (6 bytes) + 2 pad
        0800 0400 f0ff0000                     # IFLA_MTU 65520
        1000 1280                              # IFLA_LINKINFO | NLA_F_NESTED, len 16
          0a00 0100 627269646765 0000          #   IFLA_INFO_KIND "bridge" (no NUL, as iproute2) + 2 pad
    """)


def test_add_veth_with_its_peer_in_another_namespace():
    request = rtnl.add_veth("nsp0a580002", 65520, 5, "eth0", 7, "0a:58:0a:58:00:02")
    assert rtnl.encode(4, request) == hexbytes(f"""
        8c000000 1000 0506 04000000 00000000   # len 140, RTM_NEWLINK, REQUEST|ACK|EXCL|CREATE
        00 00 0000 00000000 01000000 01000000  # up
        1000 0300 6e7370306135383030303200     # IFLA_IFNAME "nsp0a580002\\0" (12 bytes)
        0800 0400 f0ff0000                     # IFLA_MTU 65520
        0800 0a00 05000000                     # IFLA_MASTER 5 (the bridge)
        4c00 1280                              # IFLA_LINKINFO, nested, len 76
          0800 0100 76657468                   #   IFLA_INFO_KIND "veth"
          4000 0280                            #   IFLA_INFO_DATA, nested, len 64
            3c00 0180                          #     VETH_INFO_PEER, nested, len 60:
            {IFINFO_ZERO}                      #       the peer's ifinfomsg (down)
            0900 0300 6574683000 000000        #       IFLA_IFNAME "eth0\\0" + 3 pad
            0800 1c00 07000000                 #       IFLA_NET_NS_FD 7
            0a00 0100 0a580a580002 0000        #       IFLA_ADDRESS
            0800 0400 f0ff0000                 #       IFLA_MTU
    """)


def test_delete_link_by_name():
    assert rtnl.encode(5, rtnl.delete_link("nsp0a580002")) == hexbytes(f"""
        30000000 1100 0500 05000000 00000000   # len 48, RTM_DELLINK, REQUEST|ACK
        {IFINFO_ZERO}
        1000 0300 6e7370306135383030303200     # IFLA_IFNAME
    """)


def test_add_ipv4_address_with_prefix():
    assert rtnl.encode(6, rtnl.add_address(4, "10.88.0.2", 16)) == hexbytes("""
        28000000 1400 0506 06000000 00000000   # len 40, RTM_NEWADDR, REQUEST|ACK|EXCL|CREATE
        02 10 00 00 04000000                   # AF_INET, /16, flags 0, scope universe, index 4
        0800 0200 0a580002                     # IFA_LOCAL 10.88.0.2
        0800 0100 0a580002                     # IFA_ADDRESS 10.88.0.2
    """)


def test_add_default_route_via_gateway():
    assert rtnl.encode(7, rtnl.add_default_route("10.88.0.1")) == hexbytes("""
        24000000 1800 0506 07000000 00000000   # len 36, RTM_NEWROUTE, REQUEST|ACK|EXCL|CREATE
        02 00 00 00 fe 03 00 01 00000000       # AF_INET, dst/0, table main, proto boot, universe, unicast
        0800 0500 0a580001                     # RTA_GATEWAY 10.88.0.1
    """)


def test_get_route_and_the_dumps():
    assert rtnl.encode(8, rtnl.get_route("192.0.2.1")) == hexbytes("""
        24000000 1a00 0500 08000000 00000000   # len 36, RTM_GETROUTE, REQUEST|ACK
        02 20 00 00 00 00 00 00 00000000       # AF_INET, dst_len 32
        0800 0100 c0000201                     # RTA_DST 192.0.2.1
    """)
    assert rtnl.encode(9, rtnl.links()) == hexbytes(f"""
        20000000 1200 0503 09000000 00000000   # len 32, RTM_GETLINK, REQUEST|ACK|DUMP
        {IFINFO_ZERO}
    """)
    assert rtnl.encode(10, rtnl.ipv4_addresses()) == hexbytes("""
        18000000 1600 0503 0a000000 00000000   # len 24, RTM_GETADDR, REQUEST|ACK|DUMP
        02 00 00 00 00000000                   # AF_INET only
    """)


@pytest.mark.parametrize("build", [
    lambda: rtnl.get_link(""),
    lambda: rtnl.delete_link("eth\0x"),
    lambda: rtnl.add_bridge("br0", "0a:58:0a", 1500),
    lambda: rtnl.add_veth("v", 1500, 1, "eth0", 3, "zz:58:0a:58:00:02"),
    lambda: rtnl.add_address(1, "10.88.0", 16),
])
def test_bad_names_and_addresses_are_refused_before_sending(build):
    with pytest.raises((ValueError, OSError)):
        build()


# -- replies ---------------------------------------------------------------------------
def newlink(index, name):
    return (rtnl.IFINFOMSG.pack(0, 1, index, 0x11043, 0) + rtnl.attr(rtnl.IFLA_MTU, struct.pack("=I", 1500))
            + rtnl.attr(rtnl.IFLA_IFNAME, name.encode() + b"\0"))


def message(kind, seq, payload, flags=0):
    return rtnl.NLMSGHDR.pack(16 + len(payload), kind, flags, seq, 4242) + payload


def error(seq, code, flags=0, tail=b""):
    echoed = rtnl.NLMSGHDR.pack(40, rtnl.RTM_GETLINK, 5, seq, 0)
    return message(rtnl.NLMSG_ERROR, seq, struct.pack("=i", code) + echoed + tail, flags)


def test_reply_fields():
    assert rtnl.link_index(newlink(7, "eth0")) == 7
    assert rtnl.link_name(newlink(7, "eth0")) == "eth0"
    route = (rtnl.RTMSG.pack(2, 32, 0, 0, 254, 2, 0, 1, 0) + rtnl.attr(rtnl.RTA_DST, socket.inet_aton("192.0.2.1"))
             + rtnl.attr(rtnl.RTA_PREFSRC, socket.inet_aton("10.1.2.3")))
    assert rtnl.route_source(route) == "10.1.2.3"
    assert rtnl.route_source(rtnl.RTMSG.pack(2, 32, 0, 0, 254, 2, 0, 1, 0)) is None
    addr = rtnl.IFADDRMSG.pack(2, 24, 0, 253, 3) + rtnl.attr(rtnl.IFA_ADDRESS, socket.inet_aton("10.9.9.9"))
    assert rtnl.address_of(addr) == (253, "10.9.9.9")


def test_messages_split_a_datagram_and_refuse_a_bad_length():
    data = message(rtnl.RTM_NEWLINK, 3, newlink(1, "lo")) + message(rtnl.NLMSG_ERROR, 3, b"\0" * 20)
    assert [(kind, seq) for kind, _, seq, _ in rtnl.messages(data)] == [(rtnl.RTM_NEWLINK, 3), (rtnl.NLMSG_ERROR, 3)]
    with pytest.raises(ValueError, match="malformed"):
        list(rtnl.messages(struct.pack("=IHHII", 400, 16, 0, 1, 0)))


def test_attrs_mask_flags_and_stop_at_a_truncated_tail():
    data = rtnl.nested(rtnl.IFLA_LINKINFO, rtnl.attr(1, b"veth")) + struct.pack("=HH", 50, 3) + b"short"
    assert rtnl.attrs(data) == {rtnl.IFLA_LINKINFO: rtnl.attr(1, b"veth")}


def test_an_ack_is_no_error():
    (_, flags, _, payload), = rtnl.messages(error(1, 0))
    assert rtnl.error_of(flags, payload, "anything") is None


def test_error_text_is_the_operation_and_the_errno():
    (_, flags, _, payload), = rtnl.messages(error(1, -errno.EEXIST))
    e = rtnl.error_of(flags, payload, "add veth nsp0a580002 (peer eth0)")
    assert isinstance(e, OSError) and e.errno == errno.EEXIST
    assert e.strerror == "add veth nsp0a580002 (peer eth0): File exists"


def test_error_with_the_kernels_message_capped_and_not():
    tlv = rtnl.attr(rtnl.NLMSGERR_ATTR_MSG, b"Nexthop has invalid gateway\0")
    capped = error(1, -errno.ENETUNREACH, rtnl.NLM_F_CAPPED | rtnl.NLM_F_ACK_TLVS, tlv)
    (_, flags, _, payload), = rtnl.messages(capped)
    assert rtnl.error_of(flags, payload, "add default route via 10.98.0.1").strerror == \
        "add default route via 10.98.0.1: Network is unreachable (Nexthop has invalid gateway)"
    # Not capped: the whole request (40 bytes here) is echoed before the attributes.
    whole = error(1, -errno.ENODEV, rtnl.NLM_F_ACK_TLVS, b"\0" * 24 + rtnl.attr(rtnl.NLMSGERR_ATTR_MSG, b"gone\0"))
    (_, flags, _, payload), = rtnl.messages(whole)
    assert rtnl.error_of(flags, payload, "find link x").strerror == "find link x: No such device (gone)"


# -- the reply loop, with a datagram socket pair as the kernel's end ---------------------
@pytest.fixture
def client():
    ours, kernel = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    ip = rtnl.Rtnl.__new__(rtnl.Rtnl)  # the real loop, on a socket that is not netlink
    ip.sock, ip.seq = ours, 0
    ours.settimeout(2)
    yield ip, kernel
    ours.close()
    kernel.close()


def test_reply_then_ack_and_stale_answers_skipped(client):
    ip, kernel = client
    kernel.send(error(0, -errno.EBUSY))  # an earlier request's answer: ignored
    kernel.send(message(rtnl.RTM_NEWLINK, 1, newlink(9, "nspod0")) + error(1, 0))
    assert ip.link_index("nspod0") == 9
    assert kernel.recv(100) == rtnl.encode(1, rtnl.get_link("nspod0"))


def test_a_dump_spans_datagrams_until_done(client):
    ip, kernel = client
    kernel.send(message(rtnl.RTM_NEWLINK, 1, newlink(1, "lo"), flags=2))
    kernel.send(message(rtnl.RTM_NEWLINK, 1, newlink(2, "nspod0"), flags=2)
                + message(rtnl.NLMSG_DONE, 1, struct.pack("=i", 0), flags=2))
    assert [rtnl.link_name(r) for r in ip.do(rtnl.links())] == ["lo", "nspod0"]


def test_errors_from_the_loop(client, monkeypatch):
    ip, kernel = client
    kernel.send(error(1, -errno.EEXIST))
    with pytest.raises(rtnl.NetlinkError, match="add bridge br0: File exists"):
        ip.do(rtnl.add_bridge("br0", "0a:58:0a:58:00:01", 1500))
    kernel.send(message(rtnl.NLMSG_DONE, 2, struct.pack("=i", -errno.EINTR)))
    with pytest.raises(rtnl.NetlinkError, match="list links: Interrupted system call"):
        ip.do(rtnl.links())
    kernel.send(b"x" * (rtnl.RECV_SIZE + 1))
    with pytest.raises(rtnl.NetlinkError, match="did not fit") as caught:
        ip.do(rtnl.links())
    assert caught.value.errno == errno.EMSGSIZE
    monkeypatch.setattr(rtnl, "MAX_REPLY_BYTES", 60)  # two replies of 48 bytes
    for _ in range(2):
        kernel.send(message(rtnl.RTM_NEWLINK, 4, newlink(1, "lo"), flags=2))
    with pytest.raises(rtnl.NetlinkError, match="replies over 60 bytes"):
        ip.do(rtnl.links())
    ip.sock.settimeout(0.05)
    with pytest.raises(rtnl.NetlinkError, match="set link 1 up: Connection timed out") as caught:
        ip.do(rtnl.set_up(1))  # no answer at all
    assert caught.value.errno == errno.ETIMEDOUT

