"""Helpers for the image tests: a real registry (Debian's docker-registry,
the CNCF distribution registry) on 127.0.0.1, a token service, pushing
images built here with the registry's HTTP API."""
import base64
import gzip
import hashlib
import http.server
import io
import json
import os
import shutil
import socket
import subprocess
import tarfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

REGISTRY = shutil.which("docker-registry") or "/usr/bin/docker-registry"
DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # the test's own traffic: never a proxy

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
GZIP_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def sha256(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def tar_layer(files):
    """(gzip blob, diff_id) of a layer: files maps name -> bytes, or None for a
    directory, or ('symlink', target)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, content in files.items():
            info = tarfile.TarInfo(name)
            info.mtime = 1_700_000_000
            if content is None:
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                tar.addfile(info)
            elif isinstance(content, tuple):
                info.type, info.linkname = tarfile.SYMTYPE, content[1]
                tar.addfile(info)
            else:
                info.size, info.mode = len(content), 0o755 if name.startswith("bin/") else 0o644
                tar.addfile(info, io.BytesIO(content))
    plain = buf.getvalue()
    return gzip.compress(plain, mtime=0), sha256(plain)


class Image:
    """An image made of layers (each a dict of files), ready to push."""

    def __init__(self, layers, config=None, architecture=None, media_type=OCI_MANIFEST):
        from nspod.image.manifest import this_platform

        self.blobs = {}
        descriptors, diff_ids = [], []
        for files in layers:
            blob, diff_id = tar_layer(files)
            self.blobs[sha256(blob)] = blob
            descriptors.append({"mediaType": GZIP_LAYER if media_type == OCI_MANIFEST
                                else "application/vnd.docker.image.rootfs.diff.tar.gzip",
                                "digest": sha256(blob), "size": len(blob)})
            diff_ids.append(diff_id)
        arch = architecture or this_platform()["architecture"]
        config_doc = {"architecture": arch, "os": "linux", "created": "2024-05-01T10:00:00.123456789Z",
                      "config": config or {}, "rootfs": {"type": "layers", "diff_ids": diff_ids}}
        self.config = json.dumps(config_doc).encode()
        self.blobs[sha256(self.config)] = self.config
        self.manifest = json.dumps({
            "schemaVersion": 2, "mediaType": media_type,
            "config": {"mediaType": OCI_CONFIG if media_type == OCI_MANIFEST
                       else "application/vnd.docker.container.image.v1+json",
                       "digest": sha256(self.config), "size": len(self.config)},
            "layers": descriptors}).encode()
        self.media_type = media_type
        self.digest = sha256(self.manifest)
        self.config_digest = sha256(self.config)
        self.layer_digests = [d["digest"] for d in descriptors]
        self.architecture = arch


class Registry:
    """docker-registry serve CONFIG, listening on 127.0.0.1:PORT, storage in tmp."""

    def __init__(self, tmp, auth=None):
        self.tmp = Path(tmp)
        self.tmp.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.netloc = f"127.0.0.1:{self.port}"
        self.log_path = self.tmp / "registry.log"
        lines = ["version: 0.1", "log:", "  level: info", "storage:", "  filesystem:",
                 f"    rootdirectory: {self.tmp / 'storage'}", "  delete:", "    enabled: true",
                 "http:", f"  addr: {self.netloc}"]
        if auth:
            lines += ["auth:"] + ["  " + line for line in auth]
        (self.tmp / "config.yml").write_text("\n".join(lines) + "\n")
        self.token = None      # how the test itself authenticates (push): a callable(scope) -> header
        self.proc = None

    def start(self):
        log = open(self.log_path, "wb")
        self.proc = subprocess.Popen([REGISTRY, "serve", str(self.tmp / "config.yml")],
                                     stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        log.close()
        deadline = time.monotonic() + 20
        while True:
            try:
                with DIRECT.open(f"http://{self.netloc}/v2/", timeout=2):
                    return self
            except urllib.error.HTTPError:
                return self  # 401: up, and asking for credentials
            except (urllib.error.URLError, OSError):
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(f"registry did not start: {self.log_path.read_text()[-2000:]}")
                time.sleep(0.05)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def blob_gets(self, digest):
        """How many GETs of the blob the registry answered (its access log)."""
        text = self.log_path.read_text(errors="replace")
        return sum(1 for line in text.splitlines() if '"GET /v2/' in line and f"/blobs/{digest}" in line)

    # --- pushing with the HTTP API -------------------------------------------
    def _request(self, method, url, data=None, headers=None, scope=None):
        headers = dict(headers or {})
        if self.token and scope:
            headers["Authorization"] = self.token(scope)
        req = urllib.request.Request(url, data=data, method=method, headers=headers)
        with DIRECT.open(req, timeout=30) as resp:
            return resp.status, resp.headers

    def push_blob(self, repo, data):
        scope = f"repository:{repo}:pull,push"
        base = f"http://{self.netloc}"
        status, headers = self._request("POST", f"{base}/v2/{repo}/blobs/uploads/", b"", scope=scope)
        assert status == 202, status
        location = urllib.parse.urljoin(base, headers["Location"])
        sep = "&" if "?" in location else "?"
        status, _ = self._request("PUT", f"{location}{sep}digest={sha256(data)}", data,
                                  {"Content-Type": "application/octet-stream"}, scope=scope)
        assert status == 201, status

    def push_manifest(self, repo, ref, body, media_type):
        status, _ = self._request("PUT", f"http://{self.netloc}/v2/{repo}/manifests/{ref}", body,
                                  {"Content-Type": media_type}, scope=f"repository:{repo}:pull,push")
        assert status == 201, status

    def push(self, repo, tag, image):
        for data in image.blobs.values():
            self.push_blob(repo, data)
        self.push_manifest(repo, tag, image.manifest, image.media_type)
        return image

    def push_index(self, repo, tag, images, extra=()):
        """An OCI index of images (each pushed by digest), plus extra descriptors."""
        entries = []
        for image in images:
            for data in image.blobs.values():
                self.push_blob(repo, data)
            self.push_manifest(repo, image.digest, image.manifest, image.media_type)
            entries.append({"mediaType": image.media_type, "digest": image.digest, "size": len(image.manifest),
                            "platform": {"os": "linux", "architecture": image.architecture}})
        body = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX,
                           "manifests": entries + list(extra)}).encode()
        self.push_manifest(repo, tag, body, OCI_INDEX)
        return sha256(body)


class TokenService:
    """The token service of the registry's `auth: token` (spec/auth/token.md):
    JWTs signed RS256 with a key made by openssl here; optional basic
    credentials required; every request recorded."""

    def __init__(self, tmp, credentials=None):
        self.tmp = Path(tmp)
        self.tmp.mkdir(parents=True, exist_ok=True)
        self.key, self.cert = self.tmp / "key.pem", self.tmp / "cert.pem"
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(self.key),
                        "-out", str(self.cert), "-days", "1", "-subj", "/CN=nspod-test-token"],
                       check=True, capture_output=True)
        der = subprocess.run(["openssl", "pkey", "-in", str(self.key), "-pubout", "-outform", "DER"],
                             check=True, capture_output=True).stdout
        # libtrust's key ID: base32 of the first 240 bits of the key's SHA-256, in groups of 4.
        b32 = base64.b32encode(hashlib.sha256(der).digest()[:30]).decode()
        self.kid = ":".join(b32[i:i + 4] for i in range(0, len(b32), 4))
        self.credentials = credentials
        self.requests = []
        self.port = free_port()
        self.realm = f"http://127.0.0.1:{self.port}/token"
        self.server = None

    def config(self):
        return ["token:", f"  realm: {self.realm}", "  service: nspod-test-registry",
                "  issuer: nspod-test-issuer", f"  rootcertbundle: {self.cert}"]

    def token(self, scope):
        now = int(time.time())
        access = []
        for part in scope.split(" "):
            kind, name, actions = part.split(":")
            access.append({"type": kind, "name": name, "actions": actions.split(",")})
        header = {"typ": "JWT", "alg": "RS256", "kid": self.kid}
        claims = {"iss": "nspod-test-issuer", "sub": "test", "aud": "nspod-test-registry", "exp": now + 300,
                  "nbf": now - 10, "iat": now, "jti": os.urandom(8).hex(), "access": access}

        def b64(d):
            return base64.urlsafe_b64encode(json.dumps(d).encode()).rstrip(b"=").decode()

        signing_input = f"{b64(header)}.{b64(claims)}"
        signature = subprocess.run(["openssl", "dgst", "-sha256", "-sign", str(self.key)],
                                   input=signing_input.encode(), check=True, capture_output=True).stdout
        return signing_input + "." + base64.urlsafe_b64encode(signature).rstrip(b"=").decode()

    def start(self):
        service = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
                auth = self.headers.get("Authorization")
                service.requests.append({"query": query, "authorization": auth})
                if service.credentials:
                    want = "Basic " + base64.b64encode(":".join(service.credentials).encode()).decode()
                    if auth != want:
                        self.send_response(401)
                        self.end_headers()
                        return
                token = service.token(" ".join(query.get("scope", [])))
                body = json.dumps({"token": token, "access_token": token, "expires_in": 300}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self):
        if self.server:
            self.server.shutdown()
            self.server.server_close()


def htpasswd_line(user, password):
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import crypt

        return f"{user}:{crypt.crypt(password, crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=16))}"


class FakeRegistry:
    """A tiny registry on loopback that serves what it is given, e.g. a blob
    whose bytes do not match its digest (a real registry never would)."""

    def __init__(self, routes):
        self.routes = routes   # path -> (status, headers, body)
        self.gates = {}        # path -> threading.Event: its answer waits until the test sets it
        self.requests = []     # every path asked for, in order of arrival
        self.port = free_port()
        self.netloc = f"127.0.0.1:{self.port}"
        self.server = None

    def start(self):
        routes, gates, requests = self.routes, self.gates, self.requests

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                requests.append(self.path)
                if self.path in gates:
                    gates[self.path].wait(60)
                status, headers, body = routes.get(self.path, (404, {}, b'{"errors":[{"code":"NOT_FOUND"}]}'))
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self):
        if self.server:
            self.server.shutdown()
            self.server.server_close()


class ForwardProxy:
    """An HTTP proxy on loopback that forwards absolute-URL GETs to one
    registry and records what it was asked (for HTTP_PROXY)."""

    def __init__(self, target_netloc):
        self.target = target_netloc
        self.requests = []
        self.port = free_port()
        self.server = None

    def start(self):
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                proxy.requests.append(self.path)
                parts = urllib.parse.urlsplit(self.path)
                url = f"http://{proxy.target}{parts.path}" + (f"?{parts.query}" if parts.query else "")
                headers = {k: v for k, v in self.headers.items() if k.lower() in ("accept", "authorization")}
                try:
                    with DIRECT.open(urllib.request.Request(url, headers=headers), timeout=30) as resp:
                        status, out_headers, body = resp.status, resp.headers, resp.read()
                except urllib.error.HTTPError as e:
                    status, out_headers, body = e.code, e.headers, e.read()
                self.send_response(status)
                for k in ("Content-Type", "Docker-Content-Digest", "WWW-Authenticate"):
                    if out_headers.get(k):
                        self.send_header(k, out_headers[k])
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self):
        if self.server:
            self.server.shutdown()
            self.server.server_close()
