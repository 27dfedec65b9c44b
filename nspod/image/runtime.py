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
