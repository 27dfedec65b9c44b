"""A small client of the OCI distribution API, standard library only.

Only the pull path imports this (urllib, http.client and ssl cost tens of
milliseconds of start time that no other command should pay).

- HTTPS, except for loopback registries (localhost, 127.0.0.0/8, ::1) and the
  ones named in the config file's `insecure_registries`, which get plain HTTP
  (as Docker treats 127.0.0.0/8 as insecure by default).
- Proxies from the environment (HTTPS_PROXY, HTTP_PROXY, NO_PROXY, lower case
  too), as urllib reads them; never for a loopback registry (as Go's
  ProxyFromEnvironment, so a test registry on 127.0.0.1 works behind a proxy).
- Authentication: anonymous bearer tokens from the `WWW-Authenticate`
  challenge, with basic credentials (nspod.image.auth) sent to the token
  service, or to the registry for a Basic challenge; credentials never go
  over plain HTTP to a host that is not loopback or listed as insecure.
- Redirects (blob stores) are followed by hand: the Authorization header is
  dropped when the host changes, and HTTPS is never downgraded to HTTP.
- Docker Hub: `registry_mirrors` are tried first, then registry-1.docker.io.
"""
import hashlib
import ipaddress
import json
import socket
import ssl
import urllib.error
import urllib.parse
import urllib.request

from . import auth
from .errors import PullError
from .manifest import ACCEPT, MAX_MANIFEST

TIMEOUT = 30          # seconds without a byte before a request fails
CHUNK = 256 << 10
MAX_REDIRECTS = 5
DOCKER_HUB = "registry-1.docker.io"


def host_of(netloc):
    """'[::1]:5000' -> '::1', 'a.b:5000' -> 'a.b'."""
    if netloc.startswith("["):
        return netloc[1:netloc.index("]")]
    return netloc.rsplit(":", 1)[0] if netloc.count(":") == 1 else netloc


def is_loopback(netloc):
    host = host_of(netloc).lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class Endpoint:
    def __init__(self, scheme, netloc, insecure):
        self.scheme, self.netloc, self.insecure = scheme, netloc, insecure

    def url(self, path):
        return f"{self.scheme}://{self.netloc}{path}"

    def __str__(self):
        return self.netloc


def _plain(netloc, settings):
    return is_loopback(netloc) or netloc in settings.get("insecure_registries", ())


def endpoints(domain, settings):
    """Where to ask for a repository of `domain`, in order."""
    out = []
    if domain == "docker.io":
        for mirror in settings.get("registry_mirrors", ()):
            scheme, _, netloc = mirror.rpartition("://")
            netloc = netloc.rstrip("/")
            # A mirror written with http:// is the user's explicit choice of plain HTTP.
            scheme = scheme or ("http" if _plain(netloc, settings) else "https")
            out.append(Endpoint(scheme, netloc, scheme == "http"))
        out.append(Endpoint("https", DOCKER_HUB, False))
        return out
    plain = _plain(domain, settings)
    return [Endpoint("http" if plain else "https", domain, plain)]


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None  # the 3xx comes back as an HTTPError; Client._open follows it


def _registry_message(error):
    """The first message of a registry's JSON error body, if any."""
    try:
        body = json.loads(error.read(64 << 10))
        first = body["errors"][0]
        return f'{first.get("code", "")}: {first.get("message", "")}'.strip(": ")
    except Exception:  # noqa: BLE001 - any body at all; the status code is the fallback
        return ""


class Client:
    """One repository, one pull: endpoints, tokens and credentials."""

    def __init__(self, reference, settings=None):
        self.ref = reference
        self.settings = settings or {}
        self.endpoints = endpoints(reference.domain, self.settings)
        self.tokens = {}      # netloc -> Authorization header value
        self._creds = None
        self._creds_read = False
        self._direct = urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirect)
        self._proxied = urllib.request.build_opener(_NoRedirect)

    # --- HTTP ----------------------------------------------------------------
    def _opener(self, url):
        netloc = urllib.parse.urlsplit(url).netloc
        return self._direct if is_loopback(netloc) else self._proxied

    def _open(self, url, headers, endpoint):
        """GET url, following redirects by hand; returns the response."""
        for _ in range(MAX_REDIRECTS + 1):
            req = urllib.request.Request(url, headers=headers, method="GET")
            try:
                return self._opener(url).open(req, timeout=TIMEOUT)
            except urllib.error.HTTPError as e:
                if e.code not in (301, 302, 303, 307, 308) or not e.headers.get("Location"):
                    raise
                new = urllib.parse.urljoin(url, e.headers["Location"])
                e.close()
                old_parts, new_parts = urllib.parse.urlsplit(url), urllib.parse.urlsplit(new)
                if new_parts.scheme not in ("http", "https"):
                    raise PullError(f"registry {endpoint}: redirect to {new_parts.scheme}: refused") from None
                if old_parts.scheme == "https" and new_parts.scheme == "http" \
                        and not is_loopback(new_parts.netloc):
                    raise PullError(f"registry {endpoint}: redirect from HTTPS to plain HTTP "
                                    f"({new_parts.netloc}) refused") from None
                if new_parts.netloc != old_parts.netloc:
                    headers = {k: v for k, v in headers.items() if k.lower() != "authorization"}
                url = new
        raise PullError(f"registry {endpoint}: more than {MAX_REDIRECTS} redirects")

    def _credentials(self):
        if not self._creds_read:
            self._creds = auth.credentials(self.ref.domain, self.ref.path)
            self._creds_read = True
        return self._creds

    def _may_send_credentials(self, url):
        parts = urllib.parse.urlsplit(url)
        return parts.scheme == "https" or is_loopback(parts.netloc) \
            or parts.netloc in self.settings.get("insecure_registries", ())

    def _authorize(self, endpoint, header, what):
        """Answer a 401's challenge: a bearer token, or basic credentials."""
        found = dict(auth.challenges(header))
        creds = self._credentials()
        if "bearer" in found:
            params = found["bearer"]
            realm = params.get("realm")
            if not realm or urllib.parse.urlsplit(realm).scheme not in ("http", "https"):
                raise PullError(f"registry {endpoint}: a bearer challenge without a usable realm ({header!r})")
            query = {"scope": params.get("scope") or f"repository:{self.ref.path}:pull"}
            if params.get("service"):
                query["service"] = params["service"]
            url = realm + ("&" if "?" in realm else "?") + urllib.parse.urlencode(query)
            headers = {}
            if creds and self._may_send_credentials(url):
                headers["Authorization"] = auth.basic(creds)
            try:
                with self._open(url, headers, endpoint) as resp:
                    body = json.loads(resp.read(1 << 20))
            except urllib.error.HTTPError as e:
                e.close()
                hint = "" if creds else " (no credentials found: podman login / docker login)"
                raise PullError(f"registry {endpoint}: the token service {urllib.parse.urlsplit(realm).netloc} "
                                f"refused {what}: HTTP {e.code}{hint}") from None
            except (urllib.error.URLError, OSError, ValueError) as e:
                raise PullError(f"registry {endpoint}: token service {realm}: {_reason(e)}") from None
            token = body.get("token") or body.get("access_token") if isinstance(body, dict) else None
            if not token:
                raise PullError(f"registry {endpoint}: the token service {realm} sent no token")
            self.tokens[endpoint.netloc] = f"Bearer {token}"
        elif "basic" in found:
            if not creds:
                raise PullError(f"registry {endpoint} needs a user name and password for {what}: none found in "
                                f"{', '.join(auth.auth_files())} (podman login / docker login)")
            if not self._may_send_credentials(endpoint.url("/")):
                raise PullError(f"registry {endpoint}: will not send a password over plain HTTP")
            self.tokens[endpoint.netloc] = auth.basic(creds)
        else:
            raise PullError(f"registry {endpoint}: unsupported authentication challenge {header!r}")

    def get(self, endpoint, path, what, accept=None):
        """A response for GET path on endpoint, authenticating once if asked."""
        url = endpoint.url(path)
        for attempt in (0, 1):
            headers = {"User-Agent": "nspod"}
            if accept:
                headers["Accept"] = accept
            if endpoint.netloc in self.tokens:
                headers["Authorization"] = self.tokens[endpoint.netloc]
            try:
                return self._open(url, headers, endpoint)
            except urllib.error.HTTPError as e:
                if e.code == 401 and attempt == 0:
                    challenge = e.headers.get("WWW-Authenticate", "")
                    e.close()
                    self._authorize(endpoint, challenge, what)
                    continue
                message = _registry_message(e)
                e.close()
                if e.code in (401, 403):
                    raise PullError(f"registry {endpoint}: access to {what} denied (HTTP {e.code}"
                                    f"{': ' + message if message else ''})") from None
                if e.code == 404:
                    raise PullError(f"{what}: not found in registry {endpoint}"
                                    f"{' (' + message + ')' if message else ''}") from None
                if e.code == 429:
                    raise PullError(f"registry {endpoint}: too many requests (HTTP 429); try again later") from None
                raise PullError(f"registry {endpoint}: HTTP {e.code} for {what}"
                                f"{': ' + message if message else ''}") from None
            except (urllib.error.URLError, OSError, http_errors()) as e:
                hint = ""
                if isinstance(getattr(e, "reason", e), ssl.SSLError) and not endpoint.insecure:
                    hint = (f"; if {endpoint} serves plain HTTP, add it to insecure_registries "
                            "in ~/.config/nspod/config.toml")
                raise PullError(f"cannot reach registry {endpoint} for {what}: {_reason(e)}{hint}") from None
        raise AssertionError("unreachable")

    def _each_endpoint(self, fn):
        """fn(endpoint) on the first endpoint that answers (mirrors, then the registry)."""
        errors = []
        for endpoint in self.endpoints:
            try:
                return fn(endpoint)
            except PullError as e:
                if isinstance(e, DigestMismatch) or endpoint is self.endpoints[-1]:
                    if errors:
                        raise PullError(f"{e} (mirrors tried first: {'; '.join(errors)})") from None
                    raise
                errors.append(str(e))
        raise AssertionError("no endpoints")

    # --- the API -------------------------------------------------------------
    def manifest(self, selector, size=None):
        """(body, content type, digest) of a manifest or index by tag or
        digest. By digest the body is verified against it; by tag, against
        Docker-Content-Digest where the registry sends one."""
        what = f"{self.ref.name}:{selector}" if ":" not in selector else f"{self.ref.name}@{selector}"

        def fetch(endpoint):
            with self.get(endpoint, f"/v2/{self.ref.path}/manifests/{selector}", what, accept=ACCEPT) as resp:
                length = resp.headers.get("Content-Length")
                if length and length.isdigit() and int(length) > MAX_MANIFEST:
                    raise PullError(f"{what}: the manifest is {int(length)} bytes; at most {MAX_MANIFEST} are accepted")
                try:
                    body = resp.read(MAX_MANIFEST + 1)
                except (OSError, http_errors()) as e:
                    raise PullError(f"registry {endpoint}: reading {what}: {_reason(e)}") from None
                return body, resp.headers.get("Content-Type", ""), resp.headers.get("Docker-Content-Digest")

        body, content_type, header_digest = self._each_endpoint(fetch)
        if len(body) > MAX_MANIFEST:
            raise PullError(f"{what}: the manifest is larger than {MAX_MANIFEST} bytes; refused")
        digest = "sha256:" + hashlib.sha256(body).hexdigest()
        if ":" in selector:  # by digest
            algorithm = selector.partition(":")[0]
            got = f"{algorithm}:{hashlib.new(algorithm, body).hexdigest()}"
            if got != selector:
                raise DigestMismatch(f"manifest {selector}: digest mismatch (the registry sent content "
                                     f"with digest {got})")
            digest = selector
        elif header_digest and header_digest.startswith("sha256:") and header_digest != digest:
            raise DigestMismatch(f"{what}: digest mismatch: the registry says {header_digest}, "
                                 f"the content is {digest}")
        if size is not None and len(body) != size:
            raise PullError(f"manifest {digest}: {len(body)} bytes, its descriptor gives {size}")
        return body, content_type, digest

    def blob_chunks(self, descriptor):
        """A callable that opens the blob and yields its bytes (the store
        calls it only when it lacks the blob)."""
        digest = descriptor["digest"]
        what = f"blob {digest} of {self.ref.name}"

        def chunks():
            resp = self._each_endpoint(
                lambda endpoint: self.get(endpoint, f"/v2/{self.ref.path}/blobs/{digest}", what))
            with resp:
                while True:
                    try:
                        chunk = resp.read(CHUNK)
                    except (OSError, http_errors()) as e:
                        raise PullError(f"reading {what}: {_reason(e)}") from None
                    if not chunk:
                        return
                    yield chunk
        return chunks


class DigestMismatch(PullError):
    pass


def http_errors():
    import http.client

    return http.client.HTTPException


def _reason(e):
    reason = getattr(e, "reason", None) or e
    if isinstance(reason, socket.timeout) or isinstance(e, TimeoutError):
        return f"timed out after {TIMEOUT} s"
    if isinstance(reason, OSError) and reason.strerror:
        return reason.strerror
    return str(reason) or type(reason).__name__
