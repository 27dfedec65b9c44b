"""An image's runtime config merged with the container's spec, as containerd's
CRI plugin and the kubelet merge them (pure: no syscalls).

- argv (CRI `WithProcessArgs`): a pod `command` replaces Entrypoint and Cmd;
  with only `args`, Entrypoint + args; with neither, Entrypoint + Cmd. The
  kubelet expands `$(VAR)` in command and args from the pod's env only,
  before containerd sees them; the image's words are never expanded.
- env: the image's Env first, the container's env overriding by name.
- working directory: the pod's, else the image's, else "/".
- user: the image's `User` ("uid", "name", "uid:gid", "name:group"),
  numeric or looked up in the image's /etc/passwd and /etc/group, as runc's
  user.GetExecUser does.
"""
from ..errors import NspodError


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


def _entries(text):
    for line in (text or "").splitlines():
        if line and not line.startswith("#"):
            yield line.split(":")


def resolve_user(user, passwd_text, group_text):
    """(uid, gid, home) for the image's User, as runc's GetExecUser: a name
    must be in /etc/passwd; a number need not be (its gid is then 0, or the
    passwd entry's); a group given by name must be in /etc/group.
    Empty means root. CreateContainerError when a name is unknown."""
    user = (user or "").strip()
    if not user:
        return 0, 0, "/root"
    name, _, group = user.partition(":")
    uid = gid = None
    home = "/"
    for fields in _entries(passwd_text):
        if len(fields) < 6:
            continue
        if fields[0] == name or (name.isdigit() and fields[2] == name):
            try:
                uid, gid, home = int(fields[2]), int(fields[3]), fields[5] or "/"
            except ValueError:
                continue
            break
    if uid is None:
        if not name.isdigit():
            raise CreateContainerError(f'unable to find user {name}: no matching entries in passwd file')
        uid, gid = int(name), 0
        home = "/root" if uid == 0 else "/"
    if group:
        if group.isdigit():
            gid = int(group)
        else:
            for fields in _entries(group_text):
                if len(fields) >= 3 and fields[0] == group:
                    gid = int(fields[2])
                    break
            else:
                raise CreateContainerError(f'unable to find group {group}: no matching entries in group file')
    return uid, gid, home
