"""A container's confinement from its effective securityContext (pod's
merged under the container's, as Kubernetes merges them): who it runs as,
the capabilities it keeps, no_new_privs, a read-only root, the kernel paths
it sees masked. Pure: computed
when the watchdog plans a start (and by `exec`, `run`'s up-front checks and
`inspect`); nspod-exec applies it (nspod/executor/identity.c, the `caps` operation)."""
from . import capabilities
from .errors import HostUnsupported, ManifestError
from .image.runtime import MAX_ID, CreateContainerError
from .record import record


@record(frozen=True)
class Confinement:
    run_as_user: int | None = None      # None: the image's user, else 0
    run_as_group: int | None = None
    supplemental_groups: tuple = ()
    run_as_non_root: bool = False
    caps: tuple = capabilities.DEFAULT  # the effective set, canonical names
    no_new_privs: bool = True
    read_only_root: bool = False
    privileged: bool = False            # every capability, no seccomp, no masks, /sys writable, host devices
    proc_mount: str = "Default"         # Unmasked: no masked or read-only kernel paths
    pod: str = ""                       # as the kubelet names it in messages: name_namespace(uid)
    container: str = ""

    def identity(self, image_user=0):
        """(uid, gid, groups, home) of a process with no image files to look
        its user up in (a process container; `exec` of an instance that
        recorded none), decided as the kubelet and containerd's CRI decide:
        runAsUser over image_user (a uid), the gid runAsGroup or 0, the
        groups the gid and supplementalGroups (mergeGids sorts them). An
        image's user is looked up in its /etc/passwd and /etc/group by
        nspod-exec (executor/identity.c), after user_to_find. Raises
        NonRootRefused (the kubelet's verifyRunAsNonRoot) and
        CreateContainerError (a user name, with no passwd to find it in)."""
        user = self.user_to_find(image_user)
        if isinstance(user, str):  # containerd's WithUsername
            raise CreateContainerError(f"unable to find user {user}: no matching entries in passwd file")
        gid = self.run_as_group if self.run_as_group is not None else 0
        groups = tuple(sorted({gid, *self.supplemental_groups}))
        return user, gid, groups, "/root" if user == 0 else "/"

    def user_to_find(self, image_user):
        """The user (a uid or a name) to look up in the image's /etc/passwd:
        runAsUser over the image's, once the checks that need no file passed
        (runAsNonRoot, the id range)."""
        self.check_non_root(image_user)
        user = image_user if self.run_as_user is None else self.run_as_user
        if isinstance(user, int) and user > MAX_ID:
            raise CreateContainerError(f'"{user}" is not a valid uid')
        return user

    def check_non_root(self, image_user):
        """The kubelet's verifyRunAsNonRoot: on runAsUser when set, else on the
        image's user, which must then be numeric to be verified."""
        if not self.run_as_non_root:
            return
        where = f"(pod: \"{self.pod}\", container: {self.container})"
        if self.run_as_user is not None:
            if self.run_as_user == 0:
                raise NonRootRefused(f"container's runAsUser breaks non-root policy {where}")
        elif isinstance(image_user, str):
            raise NonRootRefused(f"container has runAsNonRoot and image has non-numeric user ({image_user}), "
                                 f"cannot verify user is non-root {where}")
        elif image_user == 0:
            raise NonRootRefused(f"container has runAsNonRoot and image will run as root {where}")

    @property
    def masks_kernel_paths(self):
        """containerd's masked and read-only paths (rootfs.KERNEL_PATHS) apply:
        not for privileged (WithPrivileged clears them) nor procMount
        Unmasked (the kubelet then sends empty lists)."""
        return not self.privileged and self.proc_mount != "Unmasked"

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
        proc_mount=sc.proc_mount or "Default",
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
        for c in pod.all_containers():
            uids, gids = for_container(pod, c).requested_ids()
            for kind, wanted in (("uid", uids), ("gid", gids)):
                for value in sorted(wanted):
                    if not any(inside <= value < inside + count for inside, _, count in maps[kind]):
                        raise HostUnsupported(_unmapped(pod.name, c.name, kind, value, maps))


def check_user_namespace(pods, rootless):
    """Up front: spec.hostUsers must name what nspod does. Rootless, every pod
    lives in the user's user namespace (false); as root, in the host's (true).
    Unset means either. The other value is bad input, exit 2."""
    problems = []
    for d, pod in enumerate(pods):
        if pod.host_users is None or pod.host_users != rootless:
            continue
        field = (f"[{d}]." if len(pods) > 1 else "") + "spec.hostUsers"
        if rootless:
            problems.append((field, "true is not possible rootless: nspod runs every rootless pod in your "
                                    "user namespace (its root is you on the host); leave hostUsers out or "
                                    "set it to false, or run nspod as root"))
        else:
            problems.append((field, "false is not supported as root: root pods run in the host's user "
                                    "namespace; leave hostUsers out (or true), or run the pod rootless, "
                                    "where every pod has a user namespace"))
    if problems:
        raise ManifestError(problems)


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
            uid, gid, groups, _ = conf.identity()
        except NonRootRefused:
            uid = gid = groups = None
        groups = list(groups) if groups is not None else None
        caps, no_new_privs = list(conf.caps), conf.no_new_privs
    return {
        "uid": uid, "gid": gid, "groups": groups, "capabilities": caps,
        "noNewPrivs": no_new_privs, "readOnlyRootFilesystem": conf.read_only_root,
        "seccomp": seccomp_mode, "privileged": conf.privileged, "procMount": conf.proc_mount,
        "maskedPaths": [p for p, how in KERNEL_PATHS if how == MASK and conf.masks_kernel_paths],
        "readonlyPaths": [p for p, how in KERNEL_PATHS if how == READ_ONLY and conf.masks_kernel_paths],
    }


def _status(pid):
    if not pid:
        return None
    try:
        with open(f"/proc/{pid}/status") as f:
            return dict(line.rstrip("\n").split(":\t", 1) for line in f if ":\t" in line)
    except OSError:
        return None
