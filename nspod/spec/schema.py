"""Which Pod fields nspod implements, ignores or refuses: the whole policy in
one place. The parsers check against these tables and manifest.py keeps only
the known fields when it echoes a pod back.

- known: implemented;
- ignored: only matter to a cluster (scheduling, service accounts, cluster
  DNS, fields the API server sets); dropped with one warning per pod;
- unsupported: a feature nspod does not have yet; an error, never silently
  dropped (unless set to an empty value, which asks for nothing).
Any field in none of the three is a typo: "unknown field".
"""

from nspod.spec.fields import Fields


def _set(words):
    return frozenset(words.split())


POD = Fields(known=_set("apiVersion kind metadata spec"), ignored=_set("status"))

METADATA = Fields(
    known=_set("name namespace labels annotations"),
    ignored=_set(
        "uid resourceVersion generation creationTimestamp deletionTimestamp "
        "deletionGracePeriodSeconds managedFields ownerReferences finalizers selfLink"
    ),
    unsupported=_set("generateName"),
)

SPEC = Fields(
    known=_set(
        "containers volumes hostname shareProcessNamespace restartPolicy "
        "terminationGracePeriodSeconds resources hostNetwork hostAliases securityContext hostPID hostIPC "
        "hostUsers initContainers activeDeadlineSeconds"
    ),
    ignored=_set(
        "nodeSelector nodeName affinity tolerations schedulingGates priorityClassName "
        "priority preemptionPolicy serviceAccountName serviceAccount "
        "automountServiceAccountToken topologySpreadConstraints schedulerName "
        "enableServiceLinks imagePullSecrets dnsPolicy readinessGates runtimeClassName "
        "overhead subdomain"
    ),
    unsupported=_set(
        "ephemeralContainers "
        "dnsConfig os setHostnameAsFQDN "
        "resourceClaims"
    ),
)

CONTAINER = Fields(
    known=_set(
        "name image command args env workingDir ports volumeMounts resources imagePullPolicy "
        "securityContext lifecycle livenessProbe readinessProbe startupProbe stdin stdinOnce tty"
    ),
    ignored=_set("terminationMessagePath terminationMessagePolicy"),
    unsupported=_set(
        "envFrom "
        "volumeDevices resizePolicy restartPolicy"
    ),
)
# spec.initContainers[]: a container's fields, and restartPolicy (only
# "Always" there: a sidecar). Derived, so a field a container gains is an init
# container's too.
INIT_CONTAINER = Fields(
    known=CONTAINER.known | _set("restartPolicy"),
    ignored=CONTAINER.ignored,
    unsupported=CONTAINER.unsupported - _set("restartPolicy"),
)
# What Kubernetes forbids on an init container that is not a sidecar.
SIDECAR_ONLY = ("lifecycle", "livenessProbe", "readinessProbe", "startupProbe")
INIT_CONTAINER_RESTART_POLICIES = ("Always",)
# securityContext: the pod's (PodSecurityContext) and a container's
# (SecurityContext) have different fields. A field moves from unsupported to
# known when nspod/spec/security.py parses it.
POD_SECURITY_CONTEXT = Fields(
    known=_set("seccompProfile runAsUser runAsGroup runAsNonRoot supplementalGroups fsGroup "
               "fsGroupChangePolicy sysctls"),
    unsupported=_set(
        "supplementalGroupsPolicy "
        "seLinuxOptions seLinuxChangePolicy "
        "appArmorProfile windowsOptions"
    ),
)
CONTAINER_SECURITY_CONTEXT = Fields(
    known=_set(
        "seccompProfile runAsUser runAsGroup runAsNonRoot readOnlyRootFilesystem "
        "allowPrivilegeEscalation capabilities privileged procMount"
    ),
    unsupported=_set(
        "seLinuxOptions appArmorProfile windowsOptions"
    ),
)
# container.lifecycle (nspod/spec/lifecycle.py). stopSignal (Kubernetes 1.33,
# alpha) is not implemented; tcpSocket is refused there with its reason.
LIFECYCLE = Fields(known=_set("postStart preStop"), unsupported=_set("stopSignal"))
LIFECYCLE_HANDLER = Fields(known=_set("exec httpGet sleep tcpSocket"))
EXEC_ACTION = Fields(known=_set("command"))
HTTP_GET_ACTION = Fields(known=_set("path port host scheme httpHeaders"))
HTTP_HEADER = Fields(known=_set("name value"))
SLEEP_ACTION = Fields(known=_set("seconds"))
# Probes (nspod/spec/probe.py). grpc is a handler nspod does not have yet.
PROBE = Fields(
    known=_set(
        "exec httpGet tcpSocket initialDelaySeconds periodSeconds timeoutSeconds "
        "successThreshold failureThreshold terminationGracePeriodSeconds"
    ),
    unsupported=_set("grpc"),
)
TCP_SOCKET_ACTION = Fields(known=_set("port host"))
HTTP_SCHEMES = ("HTTP", "HTTPS")
SECCOMP_PROFILE = Fields(known=_set("type localhostProfile"))
CAPABILITIES = Fields(known=_set("add drop"))
SYSCTL = Fields(known=_set("name value"))
ENV_VAR = Fields(known=_set("name value"), unsupported=_set("valueFrom"))
PORT = Fields(known=_set("containerPort protocol name hostPort hostIP"))
HOST_ALIAS = Fields(known=_set("ip hostnames"))
VOLUME_MOUNT = Fields(
    known=_set("name mountPath readOnly subPath"),
    unsupported=_set("subPathExpr mountPropagation recursiveReadOnly"),
)
RESOURCES = Fields(known=_set("limits requests"), unsupported=_set("claims"))

SUPPORTED_VOLUME_SOURCES = ("emptyDir", "hostPath")
# The other volume sources of Kubernetes v1.
OTHER_VOLUME_SOURCES = _set(
    "awsElasticBlockStore azureDisk azureFile cephfs cinder configMap csi downwardAPI "
    "ephemeral fc flexVolume flocker gcePersistentDisk gitRepo glusterfs image iscsi nfs "
    "persistentVolumeClaim photonPersistentDisk portworxVolume projected quobyte rbd "
    "scaleIO secret storageos vsphereVolume"
)
# Every source is "known" to the walker so that volume.py decides: even
# `configMap: {}` names a source nspod lacks.
VOLUME = Fields(known=_set("name") | set(SUPPORTED_VOLUME_SOURCES) | OTHER_VOLUME_SOURCES)
EMPTY_DIR = Fields(known=_set("medium sizeLimit"))
HOST_PATH = Fields(known=_set("path type"))

# Allowed values, in the order messages list them.
RESTART_POLICIES = ("Always", "OnFailure", "Never")
HTTP_SCHEMES = ("HTTP", "HTTPS")
PULL_POLICIES = ("Always", "IfNotPresent", "Never")
PROTOCOLS = ("TCP", "UDP", "SCTP")
# Protocols a hostPort can publish (the uplink, slirp4netns, forwards these).
PUBLISHED_PROTOCOLS = ("TCP", "UDP")
EMPTY_DIR_MEDIA = ("", "Memory")
SECCOMP_PROFILE_TYPES = ("RuntimeDefault", "Unconfined", "Localhost")
FS_GROUP_CHANGE_POLICIES = ("OnRootMismatch", "Always")
# securityContext.procMount: Unmasked only with spec.hostUsers: false (the API server's rule).
PROC_MOUNT_TYPES = ("Default", "Unmasked")
# The sysctls the kubelet allows by default (pkg/kubelet/sysctl/safe_sysctls.go,
# Kubernetes 1.32): namespaced, and without effect on other pods. kernel.* is
# the pod's IPC namespace's, net.* its network namespace's. Others (the
# kubelet's --allowed-unsafe-sysctls) are refused.
SAFE_SYSCTLS = (
    "kernel.shm_rmid_forced",
    "net.ipv4.ip_local_port_range",
    "net.ipv4.tcp_syncookies",
    "net.ipv4.ping_group_range",
    "net.ipv4.ip_unprivileged_port_start",
    "net.ipv4.ip_local_reserved_ports",
    "net.ipv4.tcp_keepalive_time",
    "net.ipv4.tcp_fin_timeout",
    "net.ipv4.tcp_keepalive_intvl",
    "net.ipv4.tcp_keepalive_probes",
    "net.ipv4.tcp_rmem",
    "net.ipv4.tcp_wmem",
)
HOST_PATH_TYPES = ("", "Directory", "DirectoryOrCreate", "File", "FileOrCreate")
HOST_PATH_TYPES_LATER = ("Socket", "CharDevice", "BlockDevice")
# Resources nspod can limit; anything else Kubernetes knows (ephemeral-storage,
# hugepages-*, extended resources like nvidia.com/gpu) is refused.
RESOURCE_NAMES = ("cpu", "memory")
