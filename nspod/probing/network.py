"""httpGet and tcpSocket checks on non-blocking sockets: each is a small
state machine the loop drives (connect, TLS handshake, request, response),
so a check never blocks the supervisor, and many cost nothing while idle.

What counts, and the output the kubelet records (pkg/probe/tcp, pkg/probe/http):
- tcpSocket: success once the connection is made; else Go's dial error,
  `dial tcp 10.88.0.5:8080: connect: connection refused` or `... i/o timeout`;
- httpGet: a GET with `User-Agent: kube-probe/1.35` and `Accept: */*`
  unless httpHeaders set them (an empty Accept drops it), `Host` from
  httpHeaders if given; success for a status from 200 to 399, else
  `HTTP probe failed with statuscode: 503`; errors as Go's client words
  them, `Get "http://10.88.0.5:8080/healthz": dial tcp ...` or `...:
  context deadline exceeded (Client.Timeout exceeded while awaiting
  headers)`. HTTPS does not verify the certificate (as the kubelet).
  A redirect is not followed: its 3xx status counts as success.
"""
import errno
import os
import selectors
import socket

USER_AGENT = "kube-probe/1.35"
MAX_RESPONSE = 10 << 10  # the kubelet reads at most 10 KiB of a probe's response

_TLS = None


def _tls_context():
    """The one client context, made at the first HTTPS probe (ssl is imported
    only then: it would cost every node holder its import and memory)."""
    global _TLS
    if _TLS is None:
        import ssl

        _TLS = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        _TLS.check_hostname = False
        _TLS.verify_mode = ssl.CERT_NONE
    return _TLS


def go_error(code):
    """An errno as Go's syscall.Errno prints it: "connection refused"."""
    text = os.strerror(code)
    return text[:1].lower() + text[1:]


class TcpCheck:
    """Connect to ip:port. `events` says what the loop should wait for;
    `step()` after each is None (not done) or (success, output)."""

    def __init__(self, sock, ip, port):
        self.sock = sock
        self.dial = f"dial tcp {ip}:{port}"
        sock.setblocking(False)
        code = sock.connect_ex((ip, port))
        self.error = None if code in (0, errno.EINPROGRESS) else code
        self.events = selectors.EVENT_WRITE
        self.connected = False

    def step(self):
        if self.error is None and not self.connected:
            self.error = self.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) or None
            self.connected = self.error is None
        if self.error is not None:
            return False, f"{self.dial}: connect: {go_error(self.error)}"
        return self.connected_step()

    def connected_step(self):
        return True, ""

    def timed_out(self):
        return False, f"{self.dial}: i/o timeout"

    def fileno(self):
        return self.sock.fileno()

    def close(self):
        self.sock.close()


class HttpCheck(TcpCheck):
    def __init__(self, sock, ip, get):
        super().__init__(sock, get.host or ip, get.port)
        host = get.host or ip
        self.url = f"{get.scheme.lower()}://{host}:{get.port}{get.path if get.path.startswith('/') else '/' + get.path}"
        self.request = request_bytes(get, f"{host}:{get.port}")
        self.tls = get.scheme == "HTTPS"
        self.phase = "connect"
        self.response = b""

    def connected_step(self):
        try:
            if self.phase == "connect":
                if self.tls:
                    self.sock = _tls_context().wrap_socket(self.sock, do_handshake_on_connect=False)
                    self.phase = "handshake"
                else:
                    self.phase = "send"
            if self.phase == "handshake":
                self.sock.do_handshake()
                self.phase = "send"
            if self.phase == "send":
                sent = self.sock.send(self.request)
                self.request = self.request[sent:]
                if self.request:
                    return None
                self.phase, self.events = "receive", selectors.EVENT_READ
                return None
            return self.receive()
        except BlockingIOError:
            return None
        except OSError as e:  # (ssl's errors are OSErrors too)
            return self.failed(e)

    def failed(self, e):
        """None while TLS waits to read or write; else the failed outcome."""
        if self.tls:
            import ssl

            if isinstance(e, ssl.SSLWantReadError):
                self.events = selectors.EVENT_READ
                return None
            if isinstance(e, ssl.SSLWantWriteError):
                self.events = selectors.EVENT_WRITE
                return None
            if isinstance(e, ssl.SSLError):
                return False, f'Get "{self.url}": {e.reason or e}'
        return False, f'Get "{self.url}": {self.dial}: {go_error(e.errno) if e.errno else e}'

    def receive(self):
        data = self.sock.recv(65536)
        self.response += data
        head_done = b"\r\n\r\n" in self.response or len(self.response) >= MAX_RESPONSE
        if data and not head_done:
            return None
        return judge(self.response, self.url)

    def timed_out(self):
        return False, f'Get "{self.url}": context deadline exceeded (Client.Timeout exceeded while awaiting headers)'


def request_bytes(get, host_port):
    """The GET request, headers as the kubelet's newProbeRequest sets them."""
    given = {name.lower() for name, _ in get.headers}
    lines = [f"GET {get.path if get.path.startswith('/') else '/' + get.path} HTTP/1.1"]
    host = next((value for name, value in get.headers if name.lower() == "host"), host_port)
    lines.append(f"Host: {host}")
    if "user-agent" not in given:
        lines.append(f"User-Agent: {USER_AGENT}")
    if "accept" not in given:
        lines.append("Accept: */*")
    for name, value in get.headers:
        if name.lower() == "host" or (name.lower() == "accept" and value == ""):
            continue
        lines.append(f"{name}: {value}")
    lines.append("Connection: close")  # the kubelet's transport disables keep-alives
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def judge(response, url):
    """(success, output) for the bytes a server sent back."""
    status_line = response.split(b"\r\n", 1)[0].decode("latin-1")
    parts = status_line.split(" ", 2)
    if not response:
        return False, f'Get "{url}": EOF'
    if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
        return False, f'Get "{url}": net/http: HTTP/1.x transport connection broken: malformed HTTP response "{status_line[:40]}"'
    code = int(parts[1])
    if 200 <= code < 400:
        return True, ""
    return False, f"HTTP probe failed with statuscode: {code}"
