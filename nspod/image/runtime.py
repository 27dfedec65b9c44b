"""An image's runtime config merged with the container's spec, as containerd's
CRI plugin and the kubelet merge them (pure: no syscalls).

- argv (CRI `WithProcessArgs`): a pod `command` replaces Entrypoint and Cmd;
  with only `args`, Entrypoint + args; with neither, Entrypoint + Cmd. The
  kubelet expands `$(VAR)` in command and args from the pod's env only,
  before containerd sees them; the image's words are never expanded.
- env: the image's Env first, the container's env overriding by name.
- working directory: the pod's, else the image's, else "/".
- user: the image's `User` as the kubelet sees it (`image_user`: the part
  before ":", a uid or a name); `Accounts` reads the image's /etc/passwd and
  /etc/group for containerd's WithUser and WithAdditionalGIDs
  (nspod/confinement.py `identity` decides).
"""
from ..errors import NspodError
from ..record import record


class CreateContainerError(NspodError):
    """The container's spec cannot be made (Kubernetes' CreateContainerError)."""

    reason = "CreateContainerError"


def process_args(spec, config):
    """The argv of a container with an image: spec's command/args ($(VAR)
    expanded from the pod's env, by spec.argv()) merged with the image's
    Entrypoint/Cmd."""
    config = config or {}
    if spec.command:
        return spec.argv()  # command + args, both the pod's
    args = spec.argv() if spec.args else list(config.get("Cmd") or [])
    entrypoint = list(config.get("Entrypoint") or [])
    if entrypoint == [""]:  # containerd: an empty Entrypoint clears it
        entrypoint = []
    argv = entrypoint + args
    if not argv:
        raise CreateContainerError("failed to generate container spec: no command specified "
                                   "(the image has no Entrypoint or Cmd, and the pod no command)")
    return argv


def image_env(config):
    """The image's Env as an ordered dict (a later duplicate wins)."""
    env = {}
    for item in (config or {}).get("Env") or []:
        name, sep, value = item.partition("=")
        if name:
            env[name] = value if sep else ""
    return env


def environment(defaults, config, pod_env):
    """defaults (PATH, HOSTNAME, HOME), then the image's Env, then the pod's
    env (already expanded); PATH and HOME keep the image's value when it has one."""
    env = dict(defaults)
    env.update(image_env(config))
    env.update(pod_env)
    return env


def working_dir(spec, config):
    return spec.working_dir or (config or {}).get("WorkingDir") or "/"


MAX_ID = 2**31 - 1  # runc's (and so containerd's) largest uid and gid


def _entries(text):
    for line in (text or "").splitlines():
        if line.strip() and not line.startswith("#"):
            yield line.split(":")


def image_user(user):
    """The image's User as the kubelet takes it from the runtime (containerd's
    getUserFromImage): the part before ":" (the group is dropped, kubernetes
    issue 61967), an int when numeric, else a name; nothing is uid 0."""
    name = (user or "").strip().split(":")[0]
    if not name:
        return 0
    number = _number(name)
    return name if number is None else number


def _number(text):
    """An id written in ASCII digits, else None."""
    return int(text) if text.isascii() and text.isdigit() else None


@record(frozen=True)
class Account:
    name: str
    uid: int
    gid: int
    home: str


class Accounts:
    """An image's /etc/passwd and /etc/group (their text; "" when absent),
    looked up as containerd's oci package does: the first passwd entry with
    the name or uid; the groups that list a user as a member."""

    def __init__(self, passwd_text="", group_text=""):
        self.users = []
        for fields in _entries(passwd_text):
            if len(fields) >= 4 and None not in (_number(fields[2]), _number(fields[3])):
                home = fields[5] if len(fields) > 5 and fields[5] else "/"
                self.users.append(Account(fields[0], _number(fields[2]), _number(fields[3]), home))
        self.groups = []  # (name, gid, members)
        for fields in _entries(group_text):
            if len(fields) >= 3 and _number(fields[2]) is not None:
                members = [m.strip() for m in fields[3].split(",")] if len(fields) > 3 else []
                self.groups.append((fields[0], _number(fields[2]), members))

    def user(self, user):
        """The entry of a uid (int) or a name (str); None when there is none."""
        key = "uid" if isinstance(user, int) else "name"
        return next((u for u in self.users if getattr(u, key) == user), None)

    def member_of(self, name):
        """The gids of the groups that list `name` as a member, but not the
        group named like the user (WithAdditionalGIDs: "we only want
        supplemental groups")."""
        return [gid for group, gid, members in self.groups if group != name and name in members]
