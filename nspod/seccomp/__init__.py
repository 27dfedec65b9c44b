"""seccomp profiles: which one a container gets, what it says, and the
filter it becomes.

Profiles are data in the Docker/OCI seccomp profile format (JSON):
`defaultAction`, `defaultErrnoRet`, `architectures` or `archMap`, `flags`,
and `syscalls[]` with `names`, `action`, `errnoRet`, `args` and the Docker
format's `includes`/`excludes` (`caps`, `arches`, `minKernel`). Three kinds,
as Kubernetes' `seccompProfile.type` names them:

- RuntimeDefault (nspod's default, as in Podman and containerd's CRI with
  the kubelet's `--seccomp-default`): runtime-default.json beside this file,
  containerd's DefaultProfile (contrib/seccomp/seccomp_default.go) written
  out as data: its allow list, its argument filters (clone flags, personality
  values, socket families), its capability and architecture conditionals;
- Localhost: a JSON file under the profiles directory, read when `nspod run`
  creates the pod (the pod keeps that copy for its life, restarts and exec);
- Unconfined: no filter.

A profile is resolved (`resolve`) against the capabilities the container
keeps, the machine and the kernel, into a Filter: the rules libseccomp gets
(nspod/kernel/seccomp.py), loaded in the container right before execve.
Everything here but `confine` is pure; it is unit-tested without libseccomp.
"""
import json
import os
import stat
import re
from pathlib import Path

from ..errors import BadInput, HostUnsupported, ManifestError
from .. import capabilities
from ..kernel import seccomp as libseccomp  # libseccomp: opened now, before any pivot_root
from ..record import record

ACTIONS = ("SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL_THREAD", "SCMP_ACT_TRAP",
           "SCMP_ACT_ERRNO", "SCMP_ACT_TRACE", "SCMP_ACT_ALLOW", "SCMP_ACT_LOG")
OPERATORS = ("SCMP_CMP_NE", "SCMP_CMP_LT", "SCMP_CMP_LE", "SCMP_CMP_EQ", "SCMP_CMP_GE",
             "SCMP_CMP_GT", "SCMP_CMP_MASKED_EQ")
ARCHITECTURES = tuple("SCMP_ARCH_" + a for a in (
    "X86 X86_64 X32 ARM AARCH64 MIPS MIPS64 MIPS64N32 MIPSEL MIPSEL64 MIPSEL64N32 PPC PPC64 "
    "PPC64LE S390 S390X PARISC PARISC64 RISCV64 LOONGARCH64").split())
# SECCOMP_FILTER_FLAG_TSYNC asks for nothing here: the process is single-threaded.
FLAGS = ("SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW")
EPERM, ENOSYS = 1, 38
MAX_ARGS = 6  # a syscall has six arguments

# uname's machine -> (the name `includes.arches` uses, as Docker's profiles
# spell it, i.e. Go's GOARCH; the libseccomp architecture).
MACHINES = {"x86_64": ("amd64", "SCMP_ARCH_X86_64"), "aarch64": ("arm64", "SCMP_ARCH_AARCH64")}


class ProfileError(ValueError):
    """A profile that is not valid; the message says where in it."""


@record(frozen=True)
class Condition:
    index: int  # which argument, 0-5
    op: str  # one of OPERATORS
    value: int
    value_two: int = 0  # SCMP_CMP_MASKED_EQ: value is the mask, value_two the expected result


@record(frozen=True)
class Selector:
    """`includes` / `excludes` of a Docker-format rule."""
    caps: tuple = ()
    arches: tuple = ()
    min_kernel: tuple | None = None  # (major, minor)


@record(frozen=True)
class Syscalls:
    """One entry of `syscalls`: these names get this action (when args match)."""
    names: tuple
    action: str
    errno: int | None = None  # SCMP_ACT_ERRNO's errno (SCMP_ACT_TRACE's message)
    args: tuple = ()  # Conditions, all of which must hold
    includes: Selector = Selector()
    excludes: Selector = Selector()


@record(frozen=True)
class Profile:
    default_action: str
    default_errno: int | None
    architectures: tuple  # explicit list (OCI format), or () with arch_map
    arch_map: tuple  # ((architecture, (sub-architectures...)), ...) (Docker format)
    flags: tuple
    syscalls: tuple  # Syscalls


@record(frozen=True)
class Filter:
    """A profile resolved for one container on this machine: what libseccomp is told."""
    default_action: str
    default_errno: int | None
    architectures: tuple
    flags: tuple
    syscalls: tuple  # Syscalls whose includes/excludes held

    def rules(self):
        """(name, action, errno, conditions) for each libseccomp rule, as runc
        adds them: a rule with the default action is left out (libseccomp
        refuses it); conditions on distinct arguments make one rule (all must
        hold); two on the same argument make one rule each (either may hold)."""
        for call in self.syscalls:
            if (call.action, call.errno) == (self.default_action, self.default_errno):
                continue
            indexes = [c.index for c in call.args]
            groups = [(c,) for c in call.args] if len(set(indexes)) < len(indexes) else [call.args]
            for name in call.names:
                for conditions in groups:
                    yield name, call.action, call.errno, conditions


# -- reading a profile ---------------------------------------------------------
def parse_profile(data):
    """A Profile from JSON data (dict), checked as runc and Docker check it,
    plus unknown keys (a misspelt key would silently weaken a profile)."""
    if not isinstance(data, dict):
        raise ProfileError("must be a JSON object with defaultAction and syscalls")
    _keys(data, "", ("defaultAction", "defaultErrnoRet", "architectures", "archMap", "flags",
                     "syscalls", "listenerPath", "listenerMetadata"))
    if data.get("listenerPath") or data.get("listenerMetadata"):
        raise ProfileError("listenerPath: a seccomp agent (SCMP_ACT_NOTIFY) is not supported by nspod")
    if "defaultAction" not in data:
        raise ProfileError("defaultAction: is required")
    default_action = _action(data["defaultAction"], "defaultAction")
    default_errno = _errno(data.get("defaultErrnoRet"), default_action, "defaultErrnoRet")
    architectures = tuple(_arch(a, f"architectures[{i}]")
                          for i, a in enumerate(_list(data.get("architectures"), "architectures")))
    arch_map = []
    for i, entry in enumerate(_list(data.get("archMap"), "archMap")):
        path = f"archMap[{i}]"
        if not isinstance(entry, dict):
            raise ProfileError(f"{path}: must be an object with architecture and subArchitectures")
        _keys(entry, path, ("architecture", "subArchitectures"))
        subs = _list(entry.get("subArchitectures"), f"{path}.subArchitectures")
        arch_map.append((_arch(entry.get("architecture"), f"{path}.architecture"),
                         tuple(_arch(a, f"{path}.subArchitectures[{j}]") for j, a in enumerate(subs))))
    if architectures and arch_map:
        raise ProfileError("architectures and archMap: use one of them, not both")
    flags = tuple(_choice(f, FLAGS, f"flags[{i}]", "a seccomp filter flag nspod knows")
                  for i, f in enumerate(_list(data.get("flags"), "flags")))
    syscalls = tuple(_syscalls(node, f"syscalls[{i}]", default_action)
                     for i, node in enumerate(_list(data.get("syscalls"), "syscalls")))
    return Profile(default_action, default_errno, architectures, tuple(arch_map), flags, syscalls)


def _keys(node, path, known):
    for key in node:
        if key not in known:
            raise ProfileError(f"{path + '.' if path else ''}{key}: unknown field (known: {', '.join(known)})")


def _list(value, path):
    if value is None:
        return []
    if not isinstance(value, list):
        raise ProfileError(f"{path}: must be a list")
    return value


def _choice(value, choices, path, what):
    if value not in choices:
        raise ProfileError(f"{path}: {json.dumps(value)} is not {what} ({', '.join(choices)})")
    return value


def _action(value, path):
    if value == "SCMP_ACT_NOTIFY":
        raise ProfileError(f"{path}: SCMP_ACT_NOTIFY needs a seccomp agent, which nspod does not have")
    return _choice(value, ACTIONS, path, "a seccomp action")


def _arch(value, path):
    return _choice(value, ARCHITECTURES, path, "a seccomp architecture")


def _uint(value, path, bits=64):
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < (1 << bits):
        raise ProfileError(f"{path}: must be an integer from 0 to {(1 << bits) - 1}")
    return value


def _errno(value, action, path):
    """The errno of an ERRNO (or TRACE) action: EPERM unless the profile says."""
    if value is None:
        return EPERM if action in ("SCMP_ACT_ERRNO", "SCMP_ACT_TRACE") else None
    if action not in ("SCMP_ACT_ERRNO", "SCMP_ACT_TRACE"):
        raise ProfileError(f"{path}: only SCMP_ACT_ERRNO and SCMP_ACT_TRACE take an errno")
    return _uint(value, path, bits=16)


def _syscalls(node, path, default_action):
    if not isinstance(node, dict):
        raise ProfileError(f"{path}: must be an object with names and action")
    _keys(node, path, ("names", "name", "action", "errnoRet", "args", "includes", "excludes", "comment"))
    if "name" in node and node.get("names"):
        raise ProfileError(f"{path}: name and names: use one of them, not both")
    names = [node["name"]] if "name" in node else _list(node.get("names"), f"{path}.names")
    if not names or not all(isinstance(n, str) and n for n in names):
        raise ProfileError(f"{path}.names: must be a list of syscall names")
    if "action" not in node:
        raise ProfileError(f"{path}.action: is required")
    action = _action(node["action"], f"{path}.action")
    args = []
    for i, arg in enumerate(_list(node.get("args"), f"{path}.args")):
        sub = f"{path}.args[{i}]"
        if not isinstance(arg, dict):
            raise ProfileError(f"{sub}: must be an object with index, value and op")
        _keys(arg, sub, ("index", "value", "valueTwo", "op"))
        index = arg.get("index")
        if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < MAX_ARGS:
            raise ProfileError(f"{sub}.index: must be an argument number from 0 to {MAX_ARGS - 1}")
        args.append(Condition(index, _choice(arg.get("op"), OPERATORS, f"{sub}.op", "a comparison"),
                              _uint(arg.get("value", 0), f"{sub}.value"),
                              _uint(arg.get("valueTwo", 0), f"{sub}.valueTwo")))
    if len(args) > MAX_ARGS:
        raise ProfileError(f"{path}.args: at most {MAX_ARGS} conditions")
    return Syscalls(tuple(names), action, _errno(node.get("errnoRet"), action, f"{path}.errnoRet"),
                    tuple(args), _selector(node.get("includes"), f"{path}.includes"),
                    _selector(node.get("excludes"), f"{path}.excludes"))


def _selector(node, path):
    if node is None:
        return Selector()
    if not isinstance(node, dict):
        raise ProfileError(f"{path}: must be an object (caps, arches, minKernel)")
    _keys(node, path, ("caps", "arches", "minKernel"))
    caps = _list(node.get("caps"), f"{path}.caps")
    arches = _list(node.get("arches"), f"{path}.arches")
    if not all(isinstance(c, str) and c.startswith("CAP_") for c in caps):
        raise ProfileError(f"{path}.caps: must be capability names (CAP_...)")
    if not all(isinstance(a, str) for a in arches):
        raise ProfileError(f"{path}.arches: must be architecture names (amd64, arm64, ...)")
    min_kernel = node.get("minKernel")
    if min_kernel is not None:
        min_kernel = _kernel_version(min_kernel, f"{path}.minKernel")
    return Selector(tuple(caps), tuple(arches), min_kernel)


def _kernel_version(value, path):
    parts = value.split(".") if isinstance(value, str) else []
    if len(parts) != 2 or not all(p.isdigit() for p in parts):
        raise ProfileError(f"{path}: {json.dumps(value)} must be a kernel version MAJOR.MINOR, e.g. \"4.8\"")
    return int(parts[0]), int(parts[1])


def kernel_release(release):
    """(major, minor) of a kernel release string ("6.1.0-18-amd64")."""
    found = re.match(r"(\d+)\.(\d+)", release)
    return (int(found[1]), int(found[2])) if found else (0, 0)


# -- resolving it for a container ------------------------------------------------
def resolve(profile, caps, machine, kernel):
    """The Filter a container gets from `profile`: caps are the capabilities it
    keeps ("CAP_CHOWN", ...), machine uname's ("x86_64"), kernel (major, minor).
    Conditionals as Docker resolves them: a rule is kept when all of its
    includes hold (every cap kept, this architecture, kernel at least) and
    none of its excludes does (any cap kept, this architecture, kernel at least)."""
    arch, native = MACHINES.get(machine, (machine, None))
    caps = set(caps)
    architectures = profile.architectures
    if profile.arch_map:  # the native architecture's entry: it, and what it can also run
        architectures = next(((a, *subs) for a, subs in profile.arch_map if a == native), ())

    def holds(sel, all_of):
        tests = []
        if sel.caps:
            tests.append((all if all_of else any)(c in caps for c in sel.caps))
        if sel.arches:
            tests.append(arch in sel.arches)
        if sel.min_kernel:
            tests.append(kernel >= sel.min_kernel)
        return tests

    kept = tuple(
        call for call in profile.syscalls
        if all(holds(call.includes, True)) and not any(holds(call.excludes, False))
    )
    return Filter(profile.default_action, profile.default_errno, tuple(architectures), profile.flags, kept)


def _load_runtime_default():
    with open(Path(__file__).with_name("runtime-default.json"), "rb") as f:
        return parse_profile(json.load(f))


# Read once, when nspod starts: the node holder preloads it, so every
# watchdog and container shares it.
RUNTIME_DEFAULT = _load_runtime_default()


# -- which profile a container gets ----------------------------------------------
@record(frozen=True)
class Seccomp:
    """A container's seccomp, chosen from its securityContext."""
    mode: str  # as `nspod inspect` shows it: RuntimeDefault, Unconfined, Localhost/NAME
    profile: dict | None = None  # Localhost: the profile's JSON data, as `nspod run` read it


def for_container(pod, container, settings):
    """The container's seccomp: its securityContext.seccompProfile, else the
    pod's, else RuntimeDefault. settings: the pod's stored settings, which hold
    the Localhost profiles read when it was created."""
    sc = pod.security(container)
    if sc.privileged:  # as containerd's CRI: a privileged container runs without a filter
        return Seccomp("Unconfined")
    chosen = sc.seccomp_profile
    if chosen is None:
        return Seccomp("RuntimeDefault")
    if chosen.type == "Localhost":
        return Seccomp(chosen.mode(), settings.get("seccomp_profiles", {}).get(chosen.localhost_profile))
    return Seccomp(chosen.type)


def program(seccomp, caps=None):
    """(BPF program, flags) of the filter a container gets, or None
    (Unconfined). Built once per filter and kept (a restart reuses it).
    Raises ProfileError."""
    if seccomp.mode == "Unconfined":
        return None
    if seccomp.mode == "RuntimeDefault":
        profile = RUNTIME_DEFAULT
    elif seccomp.profile is None:
        raise ProfileError(f"seccomp profile {seccomp.mode}: not read when the pod was created "
                           "(remove the pod and run it again)")
    else:
        try:
            profile = parse_profile(seccomp.profile)
        except ProfileError as e:
            raise ProfileError(f"seccomp profile {seccomp.mode}: {e}") from None
    filter_ = _resolve_here(profile, caps)
    return _program(filter_), filter_.flags


def warm():
    """Build RuntimeDefault's program for containerd's capability set now
    (the node holder does, once: every container forks from it). Building
    it takes ~10 ms, on a cold start's path: so it is kept in the user's
    cache folder too, and the next node holder reads it from there."""
    if libseccomp.unavailable():
        return  # `run` said so already, unless every container is Unconfined
    filter_ = _resolve_here(RUNTIME_DEFAULT, None)
    key = _cache_key()
    program = _read_cached(key)
    if program is None:
        program = _program(filter_)
        _write_cached(key, program)
    _PROGRAMS[filter_] = program


# -- the cached program ------------------------------------------------------------
# A file per key: its first line is the key, the rest the program. The key
# names everything the program is made of, and is compared whole when read.
def _cache_key():
    import zlib

    with open(Path(__file__).with_name("runtime-default.json"), "rb") as f:
        profile = f.read()
    machine, release = libseccomp.host()
    return (f"nspod-seccomp 2 RuntimeDefault crc32={zlib.crc32(profile):08x} size={len(profile)} "
            f"libseccomp={libseccomp.version()} {machine} {release} "
            f"caps={','.join(sorted(capabilities.DEFAULT))}").encode()


def _cache_path(key):
    """The file for key in the state folder: owned by the user, mode 0700
    (paths.state_dir checks it), and gone at reboot. Not ~/.cache: a folder a
    pod may be given as a hostPath volume must not hold the filter every
    container runs under."""
    import zlib

    from ..paths import state_dir

    try:
        return os.path.join(state_dir(), f"seccomp-{zlib.crc32(key):08x}.bpf")
    except Exception:  # (no usable state folder: build the program, keep nothing)
        return None


def _read_cached(key):
    path = _cache_path(key)
    if path is None:
        return None
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_uid != os.geteuid() or st.st_mode & 0o022:
            return None  # not a file we wrote: ignored (and written again)
        data = os.read(fd, 1 << 20)
    except OSError:
        return None
    finally:
        os.close(fd)
    head, _, program = data.partition(b"\n")
    if head != key or not program or len(program) % 8:  # (struct sock_filter: 8 bytes)
        return None
    return program


def _write_cached(key, program):
    """(Best effort: without it the next node holder builds the program again.)"""
    path = _cache_path(key)
    if path is None:
        return
    try:
        tmp = f"{path}.{os.getpid()}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(key + b"\n" + program)
        os.replace(tmp, path)
    except OSError:
        pass


_PROGRAMS = {}  # Filter -> BPF program, built once per process (and inherited)


def _program(filter_):
    if filter_ not in _PROGRAMS:
        if len(_PROGRAMS) >= 64:  # bounded: a supervisor serves many pods' profiles
            _PROGRAMS.clear()
        _PROGRAMS[filter_] = libseccomp.compile(filter_)
    return _PROGRAMS[filter_]


def _resolve_here(profile, caps):
    if caps is None:
        caps = list(capabilities.DEFAULT)
    machine, release = libseccomp.host()
    return resolve(profile, caps, machine, kernel_release(release))


# -- Localhost profiles ----------------------------------------------------------
def profiles_dir():
    """Where Localhost profiles live: /etc/nspod/seccomp as root,
    $XDG_CONFIG_HOME/nspod/seccomp (~/.config/nspod/seccomp) rootless.
    Decided by the CLI, outside the user namespace (where everyone is root)."""
    if os.geteuid() == 0:
        return Path("/etc/nspod/seccomp")
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return Path(base) / "nspod" / "seccomp"


def _indexed(pod):
    """(list name, index, container) for every container, init containers first."""
    return ([("initContainers", i, c) for i, c in enumerate(pod.init_containers)]
            + [("containers", i, c) for i, c in enumerate(pod.containers)])


def read_localhost_profiles(pods):
    """Up front, before anything is created (`nspod run`): every Localhost
    profile the pods name, read and checked, as {localhostProfile: data} for
    the pods' settings; and libseccomp must be there if any container is
    confined. Problems name the manifest field and the file."""
    base = profiles_dir()
    profiles, problems, confined = {}, [], False
    for d, pod in enumerate(pods):
        prefix = f"[{d}]." if len(pods) > 1 else ""
        for kind, i, container in _indexed(pod):
            chosen = pod.security(container).seccomp_profile
            confined |= chosen is None or chosen.type != "Unconfined"
            if chosen is None or chosen.type != "Localhost":
                continue
            own = container.security_context.seccomp_profile is not None
            field = (f"{prefix}spec.{kind}[{i}].securityContext" if own else f"{prefix}spec.securityContext")
            field += ".seccompProfile.localhostProfile"
            name = chosen.localhost_profile
            if name in profiles or any(f == field for f, _ in problems):
                continue  # read already, or its problem told (a pod-level one, once)
            try:
                profiles[name] = _read_profile(base / name)
            except BadInput as e:
                problems.append((field, str(e)))
    if problems:
        raise ManifestError(problems)
    if confined and (missing := libseccomp.unavailable()):
        raise HostUnsupported(
            f"seccomp: {missing}; install libseccomp (apt-get install libseccomp2), or run the "
            "containers with securityContext.seccompProfile.type: Unconfined")
    return profiles


def _read_profile(path):
    try:
        with open(path, "rb") as f:
            data = json.load(f)
    except FileNotFoundError:
        raise BadInput(f"seccomp profile {path} does not exist (put the profile there)") from None
    except IsADirectoryError:
        raise BadInput(f"seccomp profile {path} is a directory, not a profile") from None
    except OSError as e:
        raise BadInput(f"cannot read seccomp profile {path}: {e.strerror}") from None
    except (ValueError, UnicodeDecodeError) as e:
        raise BadInput(f"seccomp profile {path} is not JSON: {e}") from None
    try:
        parse_profile(data)
    except ProfileError as e:
        raise BadInput(f"seccomp profile {path} is not a valid profile: {e}") from None
    return data
