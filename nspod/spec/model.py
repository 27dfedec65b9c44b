"""The validated pod, as frozen records (nspod/record.py). Built only by parse.py; the rest
of nspod reads these and never the raw manifest."""

from nspod.record import field, fields, record, replace

from nspod.spec.expand import expand, expand_env


@record(frozen=True)
class Resources:
    """cpu in millicores, memory in bytes; keys are exactly "cpu" and "memory".
    A request left out while its limit is set equals the limit (as in Kubernetes)."""

    limits: dict = field(default_factory=dict)
    requests: dict = field(default_factory=dict)


@record(frozen=True)
class EnvVar:
    name: str
    value: str = ""


@record(frozen=True)
class Port:
    container_port: int
    protocol: str = "TCP"
    name: str | None = None
    host_port: int | None = None
    host_ip: str | None = None


@record(frozen=True)
class HostAlias:
    """One spec.hostAliases entry: an /etc/hosts line (ip, then its names)."""

    ip: str
    hostnames: tuple = ()


@record(frozen=True)
class VolumeMount:
    name: str
    mount_path: str
    read_only: bool = False
    sub_path: str | None = None


@record(frozen=True)
class Volume:
    name: str
    kind: str  # "emptyDir" | "hostPath"
    medium: str = ""  # emptyDir: "" (disk) or "Memory" (tmpfs)
    size_limit: int | None = None  # emptyDir, bytes
    path: str | None = None  # hostPath
    host_path_type: str = ""  # hostPath: "", Directory, DirectoryOrCreate, File, FileOrCreate


@record(frozen=True)
class SeccompProfile:
    type: str  # "RuntimeDefault" | "Unconfined" | "Localhost"
    localhost_profile: str | None = None  # Localhost: a relative path under the profiles directory

    def mode(self):
        """As `nspod inspect` shows it: RuntimeDefault, Unconfined, Localhost/NAME."""
        return f"Localhost/{self.localhost_profile}" if self.type == "Localhost" else self.type


@record(frozen=True)
class Capabilities:
    """securityContext.capabilities: canonical names ("CAP_CHOWN", or "ALL")."""

    add: tuple = ()
    drop: tuple = ()


@record(frozen=True)
class SecurityContext:
    """A securityContext, of the pod or of a container: the fields nspod
    implements, None where the manifest leaves them unset. Kubernetes merges
    the two levels field by field, the container's value winning (merged_over).
    A new field: an attribute here, a parser in security.py, its name among
    the known fields in schema.py."""

    seccomp_profile: SeccompProfile | None = None
    run_as_user: int | None = None
    run_as_group: int | None = None
    run_as_non_root: bool | None = None
    supplemental_groups: tuple | None = None  # pod level only
    fs_group: int | None = None  # pod level only
    fs_group_change_policy: str | None = None  # pod level only: Always (default) | OnRootMismatch
    sysctls: tuple | None = None  # pod level only: ((name with dots, value), ...), each a safe one
    capabilities: "Capabilities | None" = None  # container level only
    allow_privilege_escalation: bool | None = None  # container level only
    read_only_root_filesystem: bool | None = None  # container level only
    privileged: bool | None = None  # container level only
    proc_mount: str | None = None  # container level only: Default | Unmasked (needs spec.hostUsers: false)

    def merged_over(self, pod_level):
        """This (container-level) context with the pod's values where it has none."""
        return replace(self, **{
            f.name: getattr(pod_level, f.name)
            for f in fields(self) if getattr(self, f.name) is None
        })


@record(frozen=True)
class HTTPGetAction:
    """An httpGet hook: GET scheme://host:port/path. port: a number, or the
    name of one of the container's ports (resolved when the hook runs, as
    the kubelet does). host None: the pod's IP."""

    port: int | str
    path: str = "/"
    host: str | None = None
    scheme: str = "HTTP"
    headers: tuple = ()  # ((name, value), ...)


@record(frozen=True)
class LifecycleHandler:
    """One hook of container.lifecycle: exactly one of command (exec),
    http_get, sleep_seconds is set."""

    command: tuple | None = None
    http_get: HTTPGetAction | None = None
    sleep_seconds: int | None = None

    @property
    def kind(self):
        return "exec" if self.command is not None else "httpGet" if self.http_get is not None else "sleep"


@record(frozen=True)
class Probe:
    """A liveness, readiness or startup probe, Kubernetes' defaults filled
    in. Exactly one handler: `exec_command`, or `http` (HttpGet) or `tcp`
    (TcpSocket), each with its port resolved to a number."""

    exec_command: tuple = ()
    http: "HttpGet | None" = None
    tcp: "TcpSocket | None" = None
    initial_delay_seconds: int = 0
    period_seconds: int = 10
    timeout_seconds: int = 1
    success_threshold: int = 1
    failure_threshold: int = 3
    termination_grace_period_seconds: int | None = None  # liveness and startup only

    @property
    def handler(self):
        return "exec" if self.exec_command else "httpGet" if self.http else "tcpSocket"


@record(frozen=True)
class HttpGet:
    port: int
    path: str = "/"
    scheme: str = "HTTP"  # HTTP | HTTPS (the certificate is not verified, as the kubelet does)
    host: str | None = None  # an IP address; None: the pod's IP
    headers: tuple = ()  # (name, value) pairs, in order


@record(frozen=True)
class TcpSocket:
    port: int
    host: str | None = None  # an IP address; None: the pod's IP


@record(frozen=True)
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
    security_context: SecurityContext = field(default_factory=SecurityContext)  # its own, unmerged
    post_start: LifecycleHandler | None = None  # lifecycle.postStart
    pre_stop: LifecycleHandler | None = None    # lifecycle.preStop
    # Init containers only: "Always" makes it a sidecar (a restartable init
    # container, Kubernetes' native sidecar); None: a plain init container.
    restart_policy: str | None = None
    stdin: bool = False       # its stdin stays open for `nspod attach -i` (else /dev/null)
    stdin_once: bool = False  # ... and is closed when the first attach session ends
    tty: bool = False         # a pseudo-terminal is its stdin, stdout and stderr

    @property
    def is_sidecar(self):
        return self.restart_policy == "Always"
    liveness_probe: Probe | None = None
    readiness_probe: Probe | None = None
    startup_probe: Probe | None = None

    def probes(self):
        """{"liveness" | "readiness" | "startup": Probe} for the probes it has."""
        named = {"liveness": self.liveness_probe, "readiness": self.readiness_probe, "startup": self.startup_probe}
        return {kind: probe for kind, probe in named.items() if probe is not None}

    def environment(self):
        """The env as the process sees it: $(VAR) expanded, in declared order."""
        return expand_env(self.env)

    def argv(self):
        """command + args with $(VAR) expanded from the container's env."""
        env = self.environment()
        return [expand(word, env) for word in self.command + self.args]


@record(frozen=True)
class Pod:
    name: str
    namespace: str = "default"
    labels: dict = field(default_factory=dict)
    annotations: dict = field(default_factory=dict)
    containers: tuple = ()
    init_containers: tuple = ()  # spec.initContainers, in order (sidecars among them)
    volumes: tuple = ()
    hostname: str | None = None
    share_process_namespace: bool = False
    restart_policy: str = "Always"
    termination_grace_period_seconds: int = 30
    resources: Resources | None = None  # pod-level spec.resources
    host_network: bool = False  # spec.hostNetwork: the node's network namespace
    host_pid: bool = False  # spec.hostPID: the node's PID namespace (rootless: seen through the host's /proc)
    host_ipc: bool = False  # spec.hostIPC: the node's IPC namespace and /dev/shm
    host_users: bool | None = None  # spec.hostUsers; None: unset (rootless pods have a user namespace anyway)
    host_aliases: tuple = ()  # HostAlias entries for /etc/hosts
    security_context: SecurityContext = field(default_factory=SecurityContext)  # pod level
    active_deadline_seconds: int | None = None  # spec.activeDeadlineSeconds, from the pod's start
    # The normalized Kubernetes object (defaults filled, cluster-only fields
    # dropped) that `nspod inspect` echoes back.
    manifest: dict = field(default_factory=dict, repr=False)

    def all_containers(self):
        """Init containers (in order), then app containers: every container
        the pod runs, for what holds for each alike (images, ids, limits)."""
        return self.init_containers + self.containers

    def is_init(self, name):
        return any(c.name == name for c in self.init_containers)

    def sidecars(self):
        return tuple(c for c in self.init_containers if c.is_sidecar)

    def published_ports(self):
        """(container name, Port) for every port with a hostPort."""
        return [(c.name, p) for c in self.all_containers() for p in c.ports if p.host_port]

    def security(self, container):
        """The container's effective securityContext: its own over the pod's."""
        return container.security_context.merged_over(self.security_context)

    def container(self, name):
        for container in self.all_containers():
            if container.name == name:
                return container
        raise KeyError(name)


def port_conflicts(pod):
    """Warnings for ports two containers both declare: the containers of a pod
    share one network namespace, so the second bind() would fail."""
    warnings = []
    first_owner = {}  # (port, protocol) -> name of the first container declaring it
    for container in pod.sidecars() + pod.containers:  # (a plain init container runs alone)
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
