"""A small rtnetlink client: the few NETLINK_ROUTE requests pod networking
makes, on the standard library's AF_NETLINK sockets.

    with Rtnl() as ip:                         a socket in the network namespace we are in now
        ip.do(set_up(ip.link_index("lo")))     one request, read until its ACK (or error)
        ip.do(add_bridge("nspod0", mac, mtu))
        names = [link_name(m) for m in ip.do(links())]   a dump: every reply until NLMSG_DONE

Requests are built by pure functions (`get_link`, `set_up`, `add_bridge`,
`add_veth`, `delete_link`, `add_address`, `add_default_route`, `links`,
`get_route`, `ipv4_addresses`, `ipv4_routes`), each a Request(type, flags, body, what);
`encode` adds the header. A request the kernel refuses raises NetlinkError:
an OSError whose text is the operation and the errno's text, plus the
kernel's own explanation when it gives one (extended ACK), e.g.
"add veth nsp0a580002 (peer eth0): File exists".

Layouts (linux/netlink.h, linux/rtnetlink.h), in host byte order, every
part padded to 4 bytes:
    nlmsghdr   len u32, type u16, flags u16, seq u32, port id u32
    ifinfomsg  family u8, pad u8, type u16, index i32, flags u32, change u32
    ifaddrmsg  family u8, prefixlen u8, flags u8, scope u8, index u32
    rtmsg      family, dst_len, src_len, tos, table, protocol, scope, type u8; flags u32
    rtattr     len u16 (header + value, unpadded), type u16, value
Why our own: pyroute2 cost ~200 ms of import and ~13 MiB of private memory
in the node holder, for the few requests below (docs/ARCHITECTURE.md).
"""
import collections
import errno
import os
import socket
import struct

from .. import steps

# Message types and flags.
NLMSG_ERROR = 2
NLMSG_DONE = 3
RTM_NEWLINK, RTM_DELLINK, RTM_GETLINK = 16, 17, 18
RTM_NEWADDR, RTM_GETADDR = 20, 22
RTM_NEWROUTE, RTM_GETROUTE = 24, 26
NLM_F_REQUEST = 0x1
NLM_F_ACK = 0x4
NLM_F_DUMP = 0x300     # NLM_F_ROOT | NLM_F_MATCH
NLM_F_EXCL = 0x200     # (on a new-request; the same bit is NLM_F_ACK_TLVS on an error)
NLM_F_CREATE = 0x400
NLM_F_CAPPED = 0x100   # an error carries only the header of our request
NLM_F_ACK_TLVS = 0x200  # ... followed by attributes (the extended ACK)
NLMSGERR_ATTR_MSG = 1
# Socket options (SOL_NETLINK): short errors, with the kernel's message.
SOL_NETLINK = 270
NETLINK_CAP_ACK = 10
NETLINK_EXT_ACK = 11

# Attributes.
IFLA_ADDRESS, IFLA_IFNAME, IFLA_MTU, IFLA_LINK, IFLA_MASTER = 1, 3, 4, 5, 10
IFLA_LINKINFO, IFLA_NET_NS_FD = 18, 28
IFLA_INFO_KIND, IFLA_INFO_DATA = 1, 2
VETH_INFO_PEER = 1
IFA_ADDRESS, IFA_LOCAL = 1, 2
RTA_DST, RTA_OIF, RTA_GATEWAY, RTA_PREFSRC, RTA_TABLE = 1, 4, 5, 7, 15
NLA_F_NESTED = 0x8000
NLA_TYPE_MASK = 0x3FFF

IFF_UP = 0x1
RT_TABLE_MAIN = 254
RTPROT_BOOT = 3        # what `ip route add` marks its routes with
RT_SCOPE_UNIVERSE = 0
RTN_UNICAST = 1

NLMSGHDR = struct.Struct("=IHHII")
IFINFOMSG = struct.Struct("=BxHiII")
IFADDRMSG = struct.Struct("=BBBBI")
RTMSG = struct.Struct("=BBBBBBBBI")
RTATTR = struct.Struct("=HH")
ERROR_CODE = struct.Struct("=i")

RECV_SIZE = 65536             # above the kernel's largest reply buffer (32 KiB): never truncated
MAX_REPLY_BYTES = 16 << 20    # a dump larger than this is refused, not read forever
TIMEOUT = 10.0                # seconds; the kernel answers at once, so this is a lost reply

# by_hand: the `ip` command that asks the same (told by --explain; "" for a query)
Request = collections.namedtuple("Request", "type flags body what by_hand", defaults=("",))


class NetlinkError(OSError):
    """The kernel refused a request: errno, and "OPERATION: errno text (kernel's message)"."""

    def __init__(self, code, what, detail=None):
        text = f"{what}: {os.strerror(code)}" + (f" ({detail})" if detail else "")
        super().__init__(code, text)


# -- encoding (pure) --------------------------------------------------------------------
def _pad(data):
    return data + b"\0" * (-len(data) % 4)


def attr(kind, value):
    """One rtattr, padded to 4 bytes."""
    return _pad(RTATTR.pack(RTATTR.size + len(value), kind) + value)


def nested(kind, *parts):
    """An rtattr holding other attributes (or, for a veth peer, a header and attributes)."""
    return attr(kind | NLA_F_NESTED, b"".join(parts))


def _u32(value):
    return struct.pack("=I", value)


def _name(name):
    if not name or "\0" in name:
        raise ValueError(f"bad link name {name!r}")
    return name.encode() + b"\0"


def _mac(mac):
    raw = bytes.fromhex(mac.replace(":", ""))
    if len(raw) != 6:
        raise ValueError(f"bad MAC address {mac!r}")
    return raw


def _ipv4(address):
    return socket.inet_pton(socket.AF_INET, address)  # strict: no "10.88.0" shorthand


def _ifinfo(index=0, flags=0, change=0):
    return IFINFOMSG.pack(socket.AF_UNSPEC, 0, index, flags, change)


def encode(seq, request):
    """The whole message: nlmsghdr (asking for an ACK) and the request's body."""
    flags = NLM_F_REQUEST | NLM_F_ACK | request.flags
    return NLMSGHDR.pack(NLMSGHDR.size + len(request.body), request.type, flags, seq, 0) + request.body


def get_link(name):
    """RTM_GETLINK by name: one link, never a dump of all."""
    return Request(RTM_GETLINK, 0, _ifinfo() + attr(IFLA_IFNAME, _name(name)), f"find link {name}")


def set_up(index, name=None):
    return Request(RTM_NEWLINK, 0, _ifinfo(index, IFF_UP, IFF_UP), f"set link {name or index} up",
                   f"ip link set dev {name or index} up")


def add_bridge(name, mac, mtu):
    body = (_ifinfo() + attr(IFLA_IFNAME, _name(name)) + attr(IFLA_ADDRESS, _mac(mac))
            + attr(IFLA_MTU, _u32(mtu)) + nested(IFLA_LINKINFO, attr(IFLA_INFO_KIND, b"bridge")))
    return Request(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, body, f"add bridge {name}",
                   f"ip link add {name} address {mac} mtu {mtu} type bridge")


def add_veth(name, mtu, master, peer, peer_netns_fd, peer_mac, bridge=None, netns=None):
    """A veth pair, up, on the bridge `master` (an index); its peer made
    directly in the network namespace behind peer_netns_fd (it starts down)."""
    peer_part = (_ifinfo() + attr(IFLA_IFNAME, _name(peer)) + attr(IFLA_NET_NS_FD, _u32(peer_netns_fd))
                 + attr(IFLA_ADDRESS, _mac(peer_mac)) + attr(IFLA_MTU, _u32(mtu)))
    linkinfo = nested(IFLA_LINKINFO, attr(IFLA_INFO_KIND, b"veth"),
                      nested(IFLA_INFO_DATA, nested(VETH_INFO_PEER, peer_part)))
    body = (_ifinfo(0, IFF_UP, IFF_UP) + attr(IFLA_IFNAME, _name(name)) + attr(IFLA_MTU, _u32(mtu))
            + attr(IFLA_MASTER, _u32(master)) + linkinfo)
    return Request(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, body, f"add veth {name} (peer {peer})",
                   f"ip link add {name} mtu {mtu} master {bridge or master} up type veth "
                   f"peer name {peer} netns {netns or peer_netns_fd} address {peer_mac} mtu {mtu}")


def delete_link(name):
    return Request(RTM_DELLINK, 0, _ifinfo() + attr(IFLA_IFNAME, _name(name)), f"delete link {name}",
                   f"ip link delete {name}")


def add_address(index, address, prefixlen, name=None):
    """An IPv4 address with its prefix (IFA_LOCAL and IFA_ADDRESS, as `ip addr add` does)."""
    raw = _ipv4(address)
    body = (IFADDRMSG.pack(socket.AF_INET, prefixlen, 0, RT_SCOPE_UNIVERSE, index)
            + attr(IFA_LOCAL, raw) + attr(IFA_ADDRESS, raw))
    return Request(RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, body,
                   f"add address {address}/{prefixlen} to link {name or index}",
                   f"ip address add {address}/{prefixlen} dev {name or index}")


def add_default_route(gateway):
    body = (RTMSG.pack(socket.AF_INET, 0, 0, 0, RT_TABLE_MAIN, RTPROT_BOOT, RT_SCOPE_UNIVERSE, RTN_UNICAST, 0)
            + attr(RTA_GATEWAY, _ipv4(gateway)))
    return Request(RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL, body, f"add default route via {gateway}",
                   f"ip route add default via {gateway}")


def get_route(destination):
    """The route the kernel would take to an IPv4 address (`ip route get`)."""
    body = RTMSG.pack(socket.AF_INET, 32, 0, 0, 0, 0, 0, 0, 0) + attr(RTA_DST, _ipv4(destination))
    return Request(RTM_GETROUTE, 0, body, f"look up the route to {destination}")


def links():
    return Request(RTM_GETLINK, NLM_F_DUMP, _ifinfo(), "list links")


def ipv4_addresses():
    return Request(RTM_GETADDR, NLM_F_DUMP, IFADDRMSG.pack(socket.AF_INET, 0, 0, 0, 0), "list IPv4 addresses")


def ipv4_routes():
    """Every IPv4 route of every table (`ip route show table all`); callers pick."""
    return Request(RTM_GETROUTE, NLM_F_DUMP, RTMSG.pack(socket.AF_INET, 0, 0, 0, 0, 0, 0, 0, 0), "list IPv4 routes")


# -- decoding (pure) ---------------------------------------------------------------------
def messages(data):
    """(type, flags, seq, payload) of each message in one datagram."""
    offset = 0
    while offset + NLMSGHDR.size <= len(data):
        length, kind, flags, seq, _port = NLMSGHDR.unpack_from(data, offset)
        if length < NLMSGHDR.size or offset + length > len(data):
            raise ValueError(f"malformed netlink message (length {length} at offset {offset})")
        yield kind, flags, seq, data[offset + NLMSGHDR.size:offset + length]
        offset += (length + 3) & ~3


def attrs(data, offset=0):
    """{type: value} of the attributes from offset on (the last of a type wins)."""
    found = {}
    while offset + RTATTR.size <= len(data):
        length, kind = RTATTR.unpack_from(data, offset)
        if length < RTATTR.size or offset + length > len(data):
            break  # a truncated tail: what came before is still good
        found[kind & NLA_TYPE_MASK] = data[offset + RTATTR.size:offset + length]
        offset += (length + 3) & ~3
    return found


def error_of(flags, payload, what):
    """The NetlinkError an NLMSG_ERROR message carries, or None for an ACK."""
    (code,) = ERROR_CODE.unpack_from(payload)
    if code == 0:
        return None
    detail = None
    if flags & NLM_F_ACK_TLVS:
        # After the error code: our request's header, and its body too unless capped.
        (request_length,) = struct.unpack_from("=I", payload, ERROR_CODE.size)
        echoed = NLMSGHDR.size if flags & NLM_F_CAPPED else request_length
        message = attrs(payload, ERROR_CODE.size + ((echoed + 3) & ~3)).get(NLMSGERR_ATTR_MSG)
        if message:
            detail = message.rstrip(b"\0").decode(errors="replace")
    return NetlinkError(-code, what, detail)


def link_index(payload):
    """ifi_index of an RTM_NEWLINK reply."""
    return IFINFOMSG.unpack_from(payload)[2]


def link_name(payload):
    name = attrs(payload, IFINFOMSG.size).get(IFLA_IFNAME, b"")
    return name.rstrip(b"\0").decode(errors="replace")


def route_source(payload):
    """RTA_PREFSRC of an RTM_NEWROUTE reply, as text, or None."""
    src = attrs(payload, RTMSG.size).get(RTA_PREFSRC)
    return socket.inet_ntoa(src) if src and len(src) == 4 else None


def address_of(payload):
    """(scope, address as text) of an RTM_NEWADDR reply (IPv4)."""
    scope = IFADDRMSG.unpack_from(payload)[3]
    found = attrs(payload, IFADDRMSG.size)
    raw = found.get(IFA_LOCAL) or found.get(IFA_ADDRESS)
    return scope, socket.inet_ntoa(raw) if raw and len(raw) == 4 else None


def link_info(payload):
    """What `ip link` shows of an RTM_NEWLINK reply: {"index", "name", "up",
    "mtu", "mac", "master" (an index or None), "kind" ("veth", "bridge", ... or
    None), "peer" (IFLA_LINK: a veth's peer index, maybe in another namespace)}."""
    _family, _type, index, flags, _change = IFINFOMSG.unpack_from(payload)
    found = attrs(payload, IFINFOMSG.size)
    kind = attrs(found.get(IFLA_LINKINFO, b"")).get(IFLA_INFO_KIND)
    mac = found.get(IFLA_ADDRESS)

    def u32(key):
        value = found.get(key)
        return struct.unpack("=I", value[:4])[0] if value and len(value) >= 4 else None

    return {"index": index, "name": link_name(payload), "up": bool(flags & IFF_UP), "mtu": u32(IFLA_MTU),
            "mac": ":".join(f"{b:02x}" for b in mac) if mac else None, "master": u32(IFLA_MASTER),
            "kind": kind.rstrip(b"\0").decode(errors="replace") if kind else None, "peer": u32(IFLA_LINK)}


def address_info(payload):
    """{"index", "address", "prefixlen", "scope"} of an RTM_NEWADDR reply (IPv4)."""
    _family, prefixlen, _flags, scope, index = IFADDRMSG.unpack_from(payload)
    return {"index": index, "address": address_of(payload)[1], "prefixlen": prefixlen, "scope": scope}


def route_info(payload):
    """{"table", "destination" ("default" or "A.B.C.D/N"), "gateway", "oif",
    "source", "scope", "type"} of an RTM_NEWROUTE reply (IPv4)."""
    _family, dst_len, _src_len, _tos, table, _protocol, scope, kind, _flags = RTMSG.unpack_from(payload)
    found = attrs(payload, RTMSG.size)

    def ip(key):
        raw = found.get(key)
        return socket.inet_ntoa(raw) if raw and len(raw) == 4 else None

    if RTA_TABLE in found and len(found[RTA_TABLE]) >= 4:
        table = struct.unpack("=I", found[RTA_TABLE][:4])[0]
    oif = found.get(RTA_OIF)
    dst = ip(RTA_DST)
    return {"table": table, "destination": f"{dst or '0.0.0.0'}/{dst_len}" if dst_len else "default",
            "gateway": ip(RTA_GATEWAY), "oif": struct.unpack("=I", oif[:4])[0] if oif and len(oif) >= 4 else None,
            "source": ip(RTA_PREFSRC), "scope": scope, "type": kind}


# -- the socket --------------------------------------------------------------------------
class Rtnl:
    """A NETLINK_ROUTE socket of the network namespace we are in when it is
    made: it keeps talking to that namespace wherever we go afterwards."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC, socket.NETLINK_ROUTE)
        try:
            for option in (NETLINK_CAP_ACK, NETLINK_EXT_ACK):
                try:
                    self.sock.setsockopt(SOL_NETLINK, option, 1)
                except OSError:
                    pass  # an older kernel: longer errors, without the kernel's message
            self.sock.bind((0, 0))
            self.sock.settimeout(TIMEOUT)
        except BaseException:
            self.sock.close()
            raise
        self.seq = 0

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def link_index(self, name):
        """The index of a link of this namespace, by name (ENODEV if none)."""
        (reply,) = self.do(get_link(name))
        return link_index(reply)

    def do(self, request):
        """Send one request; the payloads of its replies, read until its ACK
        (a dump: until NLMSG_DONE). Raises NetlinkError if refused."""
        self.seq += 1
        try:
            self.sock.sendall(encode(self.seq, request))
            replies = self._replies(request)
            if steps.sink is not None and request.by_hand:
                steps.tell(f"netlink: {request.what}", by_hand=request.by_hand)
            return replies
        except NetlinkError:
            raise
        except TimeoutError:
            raise NetlinkError(errno.ETIMEDOUT, request.what, "no answer from the kernel") from None
        except OSError as e:
            raise NetlinkError(e.errno or errno.EIO, request.what) from None

    def _replies(self, request):
        replies, size = [], 0
        while True:
            data, _, msg_flags, _ = self.sock.recvmsg(RECV_SIZE)
            if msg_flags & socket.MSG_TRUNC:
                raise NetlinkError(errno.EMSGSIZE, request.what, "a reply did not fit the buffer")
            size += len(data)
            if size > MAX_REPLY_BYTES:
                raise NetlinkError(errno.EMSGSIZE, request.what, f"replies over {MAX_REPLY_BYTES} bytes")
            for kind, flags, seq, payload in messages(data):
                if seq != self.seq:
                    continue  # an answer to an earlier request (a dump's late ACK)
                if kind == NLMSG_ERROR:
                    error = error_of(flags, payload, request.what)
                    if error:
                        raise error
                    return replies
                if kind == NLMSG_DONE:
                    (code,) = ERROR_CODE.unpack_from(payload) if len(payload) >= 4 else (0,)
                    if code < 0:
                        raise NetlinkError(-code, request.what)
                    return replies
                replies.append(payload)
