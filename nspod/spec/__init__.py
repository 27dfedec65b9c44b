"""The manifest layer: Kubernetes Pod YAML in, validated frozen Pods out.
Pure: no syscalls, no files (the caller reads the file and passes its text)."""

from nspod.spec.expand import expand
from nspod.spec.model import (
    Container, EnvVar, HostAlias, Pod, Port, Resources, SeccompProfile, SecurityContext, Volume,
    VolumeMount, port_conflicts,
)
from nspod.spec.parse import load_pods, load_stored
from nspod.spec.quantity import cpu_millicores, memory_bytes, parse_quantity

__all__ = [
    "Container", "EnvVar", "HostAlias", "Pod", "Port", "Resources", "SeccompProfile",
    "SecurityContext", "Volume", "VolumeMount",
    "cpu_millicores", "expand", "load_pods", "load_stored", "memory_bytes", "parse_quantity",
    "port_conflicts",
]
