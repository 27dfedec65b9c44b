"""The user's nspod settings: $XDG_CONFIG_HOME/nspod/config.toml
(~/.config/nspod/config.toml), e.g.

    # Crash-loop back-off base: 10s is Kubernetes' default; short for demos.
    backoff_base = "100ms"
    # pids.max of every pod's cgroup (where the pids controller is delegated).
    pids_max = 4096
    # The node network's subnet (pod IPs); it changes once no pod holds an IP.
    pod_subnet = "10.88.0.0/16"

Command-line flags win over the file."""
import os
import tomllib
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


# Each setting and how its value is read; a ValueError names what is wrong.
PARSERS = {"backoff_base": _duration, "pids_max": _positive_int, "pod_subnet": _subnet}


def path():
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return Path(base) / "nspod" / "config.toml"


def load():
    p = path()
    try:
        with open(p, "rb") as f:
            settings = tomllib.load(f)
    except FileNotFoundError:
        return {}
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
