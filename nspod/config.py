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

KNOWN = {"backoff_base", "pids_max", "pod_subnet"}


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
    unknown = set(settings) - KNOWN
    if unknown:
        raise BadInput(f"{p}: unknown setting(s): {', '.join(sorted(unknown))} (known: {', '.join(sorted(KNOWN))})")
    if "backoff_base" in settings:
        from .backoff import parse_duration

        try:
            settings["backoff_base"] = parse_duration(str(settings["backoff_base"]))
        except ValueError as e:
            raise BadInput(f"{p}: backoff_base: {e}") from None
    if "pids_max" in settings and (not isinstance(settings["pids_max"], int) or settings["pids_max"] < 1):
        raise BadInput(f"{p}: pids_max: must be a positive integer")
    if "pod_subnet" in settings:
        from .net.ipam import parse_subnet

        try:
            settings["pod_subnet"] = str(parse_subnet(settings["pod_subnet"]))
        except ValueError as e:
            raise BadInput(f"{p}: pod_subnet: {e}") from None
    return settings
