"""The user's nspod settings: $XDG_CONFIG_HOME/nspod/config.toml
(~/.config/nspod/config.toml), e.g.

    # Crash-loop back-off base: 10s is Kubernetes' default; short for demos.
    backoff_base = "100ms"
    # pids.max of every pod's cgroup (where the pids controller is delegated).
    pids_max = 4096
    # The node network's subnet (pod IPs); it changes once no pod holds an IP.
    pod_subnet = "10.88.0.0/16"
    # Registries spoken to over plain HTTP (loopback ones always are).
    insecure_registries = ["registry.lan:5000"]
    # Tried in order before Docker Hub for docker.io images (host[:port], or a URL).
    registry_mirrors = ["https://mirror.example"]

Command-line flags win over the file."""
import os
from pathlib import Path

from .errors import BadInput



def _duration(value):
    from .backoff import parse_duration

    return parse_duration(str(value))


def _positive_int(value):
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError("must be a positive integer")
    return value


def _subnet(value):
    from .net.ipam import parse_subnet

    return str(parse_subnet(value))


def _registries(value):
    """A list of registries as host[:port] (mirrors may be URLs)."""
    import re

    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError('must be a list of strings, e.g. ["registry.lan:5000"]')
    for v in value:
        if not re.fullmatch(r"(https?://)?(\[[0-9A-Fa-f:]+\]|[A-Za-z0-9.-]+)(:[0-9]+)?/?", v):
            raise ValueError(f'"{v}" is not a registry (host[:port], or http(s)://host[:port] for a mirror)')
    return [v.rstrip("/") for v in value]


def _insecure(value):
    value = _registries(value)
    if any("://" in v for v in value):
        raise ValueError("name registries as host[:port], without a scheme")
    return value


# Each setting and how its value is read; a ValueError names what is wrong.
PARSERS = {"backoff_base": _duration, "pids_max": _positive_int, "pod_subnet": _subnet,
           "insecure_registries": _insecure, "registry_mirrors": _registries}


def path():
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return Path(base) / "nspod" / "config.toml"


def load():
    p = path()
    try:
        f = open(p, "rb")
    except FileNotFoundError:
        return {}
    except OSError as e:
        raise BadInput(f"{p}: {e}") from None
    import tomllib  # (here: most users have no config file, and it costs every `run` ~4 ms)

    try:
        with f:
            settings = tomllib.load(f)
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise BadInput(f"{p}: {e}") from None
    unknown = set(settings) - set(PARSERS)
    if unknown:
        raise BadInput(f"{p}: unknown setting(s): {', '.join(sorted(unknown))} (known: {', '.join(sorted(PARSERS))})")
    for key, value in settings.items():
        try:
            settings[key] = PARSERS[key](value)
        except ValueError as e:
            raise BadInput(f"{p}: {key}: {e}") from None
    return settings
