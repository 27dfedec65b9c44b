"""The validated pod, as frozen dataclasses. Built only by parse.py; the rest
of nspod reads these and never the raw manifest."""

from dataclasses import dataclass, field

from nspod.spec.expand import expand, expand_env


@dataclass(frozen=True)
class Resources:
    """cpu in millicores, memory in bytes; keys are exactly "cpu" and "memory".
    A request left out while its limit is set equals the limit (as in Kubernetes)."""

    limits: dict = field(default_factory=dict)
    requests: dict = field(default_factory=dict)


@dataclass(frozen=True)
class EnvVar:
    name: str
    value: str = ""


@dataclass(frozen=True)
class Port:
    container_port: int
    protocol: str = "TCP"
    name: str | None = None
    host_port: int | None = None
    host_ip: str | None = None


@dataclass(frozen=True)
class HostAlias:
    """One spec.hostAliases entry: an /etc/hosts line (ip, then its names)."""

    ip: str
    hostnames: tuple = ()


@dataclass(frozen=True)
class VolumeMount:
    name: str
    mount_path: str
    read_only: bool = False
    sub_path: str | None = None


@dataclass(frozen=True)
class Volume:
    name: str
    kind: str  # "emptyDir" | "hostPath"
    medium: str = ""  # emptyDir: "" (disk) or "Memory" (tmpfs)
    size_limit: int | None = None  # emptyDir, bytes
    path: str | None = None  # hostPath
    host_path_type: str = ""  # hostPath: "", Directory, DirectoryOrCreate, File, FileOrCreate


@dataclass(frozen=True)
class Container:
    name: str
    image: str | None = None  # None: a process container running host binaries
    command: tuple = ()
    args: tuple = ()
    env: tuple = ()
    working_dir: str | None = None
    ports: tuple = ()
    volume_mounts: tuple = ()
    resources: Resources = field(default_factory=Resources)
    image_pull_policy: str = "IfNotPresent"

    def environment(self):
        """The env as the process sees it: $(VAR) expanded, in declared order."""
        return expand_env(self.env)

    def argv(self):
        """command + args with $(VAR) expanded from the container's env."""
        env = self.environment()
        return [expand(word, env) for word in self.command + self.args]


@dataclass(frozen=True)
class Pod:
    name: str
    namespace: str = "default"
    labels: dict = field(default_factory=dict)
    annotations: dict = field(default_factory=dict)
    containers: tuple = ()
    volumes: tuple = ()
    hostname: str | None = None
    share_process_namespace: bool = False
    restart_policy: str = "Always"
    termination_grace_period_seconds: int = 30
    resources: Resources | None = None  # pod-level spec.resources
    host_network: bool = False  # spec.hostNetwork: the node's network namespace
    host_aliases: tuple = ()  # HostAlias entries for /etc/hosts
    # The normalized Kubernetes object (defaults filled, cluster-only fields
    # dropped) that `nspod inspect` echoes back.
    manifest: dict = field(default_factory=dict, repr=False)

    def published_ports(self):
        """(container name, Port) for every port with a hostPort."""
        return [(c.name, p) for c in self.containers for p in c.ports if p.host_port]

    def container(self, name):
        for container in self.containers:
            if container.name == name:
                return container
        raise KeyError(name)


def port_conflicts(pod):
    """Warnings for ports two containers both declare: the containers of a pod
    share one network namespace, so the second bind() would fail."""
    warnings = []
    first_owner = {}  # (port, protocol) -> name of the first container declaring it
    for container in pod.containers:
        for port in container.ports:
            key = (port.container_port, port.protocol)
            owner = first_owner.setdefault(key, container.name)
            warning = (
                f'containers "{owner}" and "{container.name}" both declare containerPort '
                f"{port.container_port}/{port.protocol}; they share one network namespace, "
                "so only one can bind it"
            )
            if owner != container.name and warning not in warnings:
                warnings.append(warning)
    return warnings
