"""Registry credentials and authentication challenges.

Credentials are read, as podman and docker write them (`podman login`,
`docker login`), from the `auths` table of, first found first:
$REGISTRY_AUTH_FILE, $XDG_RUNTIME_DIR/containers/auth.json,
$XDG_CONFIG_HOME/containers/auth.json, $DOCKER_CONFIG/config.json
(~/.docker/config.json). A key names a registry (`registry.example:5000`,
`https://index.docker.io/v1/`) or a repository below it
(`registry.example/team`); the longest match wins. Credential helpers
(`credsStore`, `credHelpers`) are not run.
"""
import base64
import json
import os
import re

from .errors import PullError

DOCKER_HUB_ALIASES = {"index.docker.io", "registry-1.docker.io", "registry.hub.docker.com", "docker.io"}


def auth_files():
    env = os.environ
    home = os.path.expanduser("~")
    files = []
    if env.get("REGISTRY_AUTH_FILE"):
        files.append(env["REGISTRY_AUTH_FILE"])
    if env.get("XDG_RUNTIME_DIR"):
        files.append(os.path.join(env["XDG_RUNTIME_DIR"], "containers", "auth.json"))
    files.append(os.path.join(env.get("XDG_CONFIG_HOME") or os.path.join(home, ".config"),
                              "containers", "auth.json"))
    files.append(os.path.join(env.get("DOCKER_CONFIG") or os.path.join(home, ".docker"), "config.json"))
    return files


def _key(text):
    """An `auths` key as 'host[:port][/path]', Docker Hub's aliases as docker.io."""
    text = re.sub(r"^[a-z]+://", "", text.strip()).rstrip("/")
    for suffix in ("/v1", "/v2"):
        text = text.removesuffix(suffix)
    host, slash, path = text.partition("/")
    if host in DOCKER_HUB_ALIASES:
        host = "docker.io"
    return host + slash + path


def credentials(domain, path, files=None):
    """(username, password) for a repository, or None."""
    want = f"{domain}/{path}"
    best, best_len = None, -1
    for name in files if files is not None else auth_files():
        try:
            with open(name, "rb") as f:
                doc = json.loads(f.read(1 << 20))
        except FileNotFoundError:
            continue
        except (OSError, ValueError) as e:
            raise PullError(f"cannot read registry credentials from {name}: {e}") from None
        auths = doc.get("auths") if isinstance(doc, dict) else None
        if not isinstance(auths, dict):
            continue
        for key, entry in auths.items():
            k = _key(key)
            if (k == domain or want == k or want.startswith(k + "/")) and len(k) > best_len:
                pair = _pair(entry, name, key)
                if pair:
                    best, best_len = pair, len(k)
        if best:
            return best  # the first file that has an entry wins, as in podman
    return best


def _pair(entry, name, key):
    if not isinstance(entry, dict):
        return None
    if entry.get("username") and entry.get("password") is not None:
        return entry["username"], entry["password"]
    if entry.get("auth"):
        try:
            user, sep, password = base64.b64decode(entry["auth"]).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            raise PullError(f'{name}: the "auth" of {key} is not base64 of USER:PASSWORD') from None
        if sep:
            return user, password
    return None


def basic(pair):
    return "Basic " + base64.b64encode(f"{pair[0]}:{pair[1]}".encode()).decode()


_PARAM = re.compile(r'\s*([A-Za-z0-9_-]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^,\s]*)\s*,?')


def challenges(header):
    """[(scheme, {param: value})] of a WWW-Authenticate header."""
    out = []
    text = header or ""
    while text.strip():
        m = re.match(r"\s*,?\s*([A-Za-z][A-Za-z0-9_-]*)\s*", text)
        if not m:
            break
        scheme, text = m.group(1).lower(), text[m.end():]
        params = {}
        while True:
            p = _PARAM.match(text)
            if not p or not p.group(0).strip():
                break
            value = p.group(2)
            if value.startswith('"'):
                value = re.sub(r"\\(.)", r"\1", value[1:-1])
            params[p.group(1).lower()] = value
            text = text[p.end():]
        out.append((scheme, params))
    return out
