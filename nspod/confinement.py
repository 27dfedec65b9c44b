"""A container's confinement from its effective securityContext (pod's
merged under the container's, as Kubernetes merges them): who it runs as,
the capabilities it keeps, no_new_privs, a read-only root. Pure: computed
when the watchdog plans a start (and by `exec`, `run`'s up-front checks and
`inspect`); nspod/container.py `set_identity` applies it in the child."""
from dataclasses import dataclass

from . import capabilities
from .errors import HostUnsupported


@dataclass(frozen=True)
class Confinement:
    run_as_user: int | None = None      # None: the image's user, else 0
    run_as_group: int | None = None
    supplemental_groups: tuple = ()
    run_as_non_root: bool = False
    caps: tuple = capabilities.DEFAULT  # the effective set, canonical names
    no_new_privs: bool = True
    read_only_root: bool = False
    privileged: bool = False            # every capability, no seccomp, no masks, /sys writable
    pod: str = ""                       # as the kubelet names it in messages: name_namespace(uid)
    container: str = ""

    def identity(self, image_user=(0, 0), image_groups=()):
        """(uid, gid, groups) the process runs as. image_user: (uid, gid) of the
        image's User ((0, 0) for a process container, which has no image);
        image_groups: what the image's /etc/group gives that user. As the kubelet
        and containerd decide: runAsUser over the image's uid; runAsGroup over the
        gid, else the image user's gid (0 when runAsUser names another uid); groups
        = gid, the image's groups, supplementalGroups. Raises NonRootRefused as
        the kubelet's verifyRunAsNonRoot does."""
        image_uid, image_gid = image_user
        if self.run_as_non_root:
            if self.run_as_user == 0:
                raise NonRootRefused(f"container's runAsUser breaks non-root policy "
                                     f"(pod: \"{self.pod}\", container: {self.container})")
            if self.run_as_user is None and image_uid == 0:
                raise NonRootRefused(f"container has runAsNonRoot and image will run as root "
                                     f"(pod: \"{self.pod}\", container: {self.container})")
        uid = image_uid if self.run_as_user is None else self.run_as_user
        if self.run_as_group is not None:
            gid = self.run_as_group
        elif self.run_as_user is None or self.run_as_user == image_uid:
            gid = image_gid
        else:
            gid = 0
        groups = []
        for g in (gid, *image_groups, *self.supplemental_groups):
            if g not in groups:
                groups.append(g)
        return uid, gid, tuple(groups)

    def requested_ids(self):
        """The uids and gids the manifest names: they must exist in the pod's user namespace."""
        uids = {self.run_as_user} - {None}
        gids = ({self.run_as_group} - {None}) | set(self.supplemental_groups)
        return uids, gids


class NonRootRefused(Exception):
    """runAsNonRoot, and the container would run as root: the kubelet's CreateContainerConfigError."""

    reason = "CreateContainerConfigError"


def for_container(pod, container, pod_uid=""):
    """The confinement of `container` (nspod.spec.Container) of `pod`."""
    sc = pod.security(container)
    asked = sc.capabilities
    caps = capabilities.effective(asked.add, asked.drop) if asked else capabilities.DEFAULT
    if sc.privileged:  # containerd's WithPrivileged: every capability
        caps = capabilities.effective(add=(capabilities.ALL,))
    return Confinement(
        run_as_user=sc.run_as_user,
        run_as_group=sc.run_as_group,
        # The kubelet's order: fsGroup, then supplementalGroups (determineEffectiveSecurityContext).
        supplemental_groups=tuple(([] if sc.fs_group is None else [sc.fs_group]) + list(sc.supplemental_groups or ())),
        run_as_non_root=bool(sc.run_as_non_root),
        caps=caps,
        # Kubernetes: false -> no_new_privs, true -> not set. Unset: nspod sets it
        # (docs/ARCHITECTURE.md, "no_new_privs"), where the kubelet would not.
        # (privileged implies allowPrivilegeEscalation, as Kubernetes defaults it)
        no_new_privs=sc.allow_privilege_escalation is not True and not sc.privileged,
        read_only_root=bool(sc.read_only_root_filesystem),
        privileged=bool(sc.privileged),
        pod=f"{pod.name}_{pod.namespace}({pod_uid})",
        container=container.name,
    )


def check_ids(pods, maps):
    """Up front, before anything exists: every uid and gid a securityContext
    names must be mapped in the pod's user namespace (maps: idmap.plan(), or
    None as root, where every id exists). HostUnsupported names the fix."""
    if maps is None:
        return
    for pod in pods:
        for c in pod.containers:
            uids, gids = for_container(pod, c).requested_ids()
            for kind, wanted in (("uid", uids), ("gid", gids)):
                for value in sorted(wanted):
                    if not any(inside <= value < inside + count for inside, _, count in maps[kind]):
                        raise HostUnsupported(_unmapped(pod.name, c.name, kind, value, maps))


def _unmapped(pod, container, kind, value, maps):
    top = max(inside + count for inside, _, count in maps[kind]) - 1
    where = f'pod "{pod}", container "{container}": {kind} {value} does not exist in the pod\'s user namespace'
    if top == 0:
        return (f"{where}: without a subordinate id range only {kind} 0 (you) exists; "
                f"add one to /etc/sub{kind} (e.g. `usermod --add-subuids 100000-165535 "
                f"--add-subgids 100000-165535 USER`, uidmap installed)")
    return (f"{where}: it maps {kind}s 0..{top} (0 is you, 1..{top} your range in /etc/sub{kind}); "
            f"use an id in that range or widen the range in /etc/sub{kind}")


def shown(conf, pid=None, seccomp_mode="RuntimeDefault"):
    """`inspect`'s nspod.containers[].security: the confinement the process
    started with, read from /proc/PID/status right after its execve (so an
    image's User counts), else as planned."""
    from .rootfs import KERNEL_PATHS, MASK, READ_ONLY

    status = _status(pid)
    if status:
        uid, gid = int(status["Uid"].split()[0]), int(status["Gid"].split()[0])
        groups = [int(g) for g in status.get("Groups", "").split()]
        eff = int(status["CapEff"], 16)
        caps = [name for name, n in sorted(capabilities.NUMBERS.items(), key=lambda kv: kv[1]) if eff >> n & 1]
        no_new_privs = status.get("NoNewPrivs", "0").strip() == "1"
    else:
        try:
            uid, gid, groups = conf.identity()
        except NonRootRefused:
            uid = gid = groups = None
        groups = list(groups) if groups is not None else None
        caps, no_new_privs = list(conf.caps), conf.no_new_privs
    return {
        "uid": uid, "gid": gid, "groups": groups, "capabilities": caps,
        "noNewPrivs": no_new_privs, "readOnlyRootFilesystem": conf.read_only_root,
        "seccomp": seccomp_mode, "privileged": conf.privileged,
        "maskedPaths": [] if conf.privileged else [p for p, how in KERNEL_PATHS if how == MASK],
        "readonlyPaths": [] if conf.privileged else [p for p, how in KERNEL_PATHS if how == READ_ONLY],
    }


def _status(pid):
    if not pid:
        return None
    try:
        with open(f"/proc/{pid}/status") as f:
            return dict(line.rstrip("\n").split(":\t", 1) for line in f if ":\t" in line)
    except OSError:
        return None
