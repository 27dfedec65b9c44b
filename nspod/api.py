"""The Python API under the CLI: run, ps, inspect, exec, attach, stop, start, rm.
The CLI only parses arguments and prints what these return."""
import json
import os
import signal
import socket
import sys
import time

from . import faults, node, phase, sandbox, steps
from .errors import BadInput, NspodError, NotFound
from .kernel import child, namespaces, process
from .paths import pod_dir
from .store import Store


def run(text, source, backoff_base=None, no_limits=False, warn=print):
    """Create and start every pod in a manifest; return their names.
    Returns once every container has started (or failed to)."""
    from .confinement import check_user_namespace
    from .spec import load_pods, port_conflicts  # (only the verbs that need manifests import them: CLI start time)

    pods, warnings = load_pods(text, source)
    check_user_namespace(pods, node.rootless())  # spec.hostUsers names what nspod does (bad input: exit 2)
    node.prestart()  # a valid manifest: the node holder starts while we go on (a cold start's longest step)
    for w in warnings:
        warn(w)
    for pod in pods:
        for w in port_conflicts(pod):
            warn(f'pod "{pod.name}": {w}')
    from .config import load as load_config

    settings = load_config()
    if backoff_base is not None:
        settings["backoff_base"] = backoff_base
    settings["no_limits"] = no_limits
    from .seccomp import read_localhost_profiles

    settings["seccomp_profiles"] = read_localhost_profiles(pods)  # read once, kept with the pod
    if any(c.image is not None for pod in pods for c in pod.all_containers()):
        from .image.store import image_dir

        # Decided here, outside the user namespace (where the watchdog is uid 0).
        settings["image_dir"] = str(image_dir())
        driver = os.environ.get("NSPOD_IMAGE_DRIVER")  # for tests: force a fallback (image/api.py prepare)
        if driver in ("overlay", "fuse-overlayfs", "copy"):
            settings["image_driver"] = driver
    _check_limits(pods, no_limits, warn, settings.get("pids_max"))
    from .confinement import check_ids
    from .kernel import idmap

    check_ids(pods, idmap.plan() if node.rootless() else None)  # runAsUser & co. exist in the pod's user namespace
    store = Store()
    created = []  # (name, uid): each row we may have made, counted before it is made
    try:
        for pod in pods:
            uid = _uuid4()
            created.append((pod.name, uid))  # (a Ctrl-C as create_pod returns must not leave its row)
            store.create_pod(pod, uid, settings)
            faults.point("run:created")
            _spawn_watchdog(pod.name)
            faults.point("run:spawned")
    except BaseException:
        # Undo everything done so far, whatever stopped us (Ctrl-C included):
        # the rows with our uid, not a pod of that name that was there before.
        for name, uid in created:
            try:
                if store.pod(name)["uid"] == uid:
                    _remove(store, name)
            except NspodError:
                pass
        raise
    return [p.name for p in pods]


def _uuid4():
    """A random (version 4) UUID, as metadata.uid: str(uuid.uuid4()) without
    the uuid module, which loads platform (~2 ms of the command)."""
    b = bytearray(os.urandom(16))
    b[6] = (b[6] & 0x0F) | 0x40  # version 4
    b[8] = (b[8] & 0x3F) | 0x80  # the RFC 4122 variant
    h = b.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _check_limits(pods, no_limits, warn, pids_max=None):
    """Up front, before anything exists: can the limits the pods ask for be
    applied here? If not, the error names the missing controller and the fix.
    The pids.max every pod gets is not asked for, so where it cannot be
    applied that is a warning, not an error."""
    from .cgroups import DEFAULT_PIDS_MAX, open_cgroups, requested_controllers

    required = set()
    for pod in pods:
        required |= requested_controllers(pod.resources)
        for c in pod.all_containers():
            required |= requested_controllers(c.resources)
    cg = open_cgroups(required, strict=not (no_limits or not required))
    if required and no_limits and getattr(cg, "warning", None):
        warn(cg.warning)
    if "pids" not in cg.controllers:
        why = getattr(cg, "reason", None) or "the pids controller is not available to nspod here"
        why = why.splitlines()[0]  # the fixes follow in the full message; one line is enough here
        warn(f"pods get no pids.max ({pids_max or DEFAULT_PIDS_MAX}): {why}")


def _spawn_watchdog(name, adopt=False):
    """Ask the node holder to fork the pod's watchdog; wait for its set-up report.
    The node holder first says it took the request: only a request it never
    took (it was exiting as we connected) is sent again, to a new one."""
    for attempt in range(2):
        sock = node.connect()
        interrupted = False
        accepted = reply = ""
        try:
            request = {"op": "spawn", "pod": name, "adopt": adopt, "fault": faults.wanted}
            _send_request(sock, request)
            accepted = _read_reply(sock)
            reply = _read_reply(sock) if accepted else ""
        except KeyboardInterrupt:
            # Ctrl-C while the watchdog sets up: let it finish (it takes a
            # moment), so the clean-up that follows knows every process it made.
            interrupted = True
            previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
            try:
                if not accepted:
                    accepted = _read_reply(sock)
                if accepted:
                    _read_reply(sock)
            finally:
                signal.signal(signal.SIGINT, previous)
        finally:
            sock.close()
        if interrupted:
            raise KeyboardInterrupt
        if accepted:
            break
    if not reply:
        raise NspodError(f'pod "{name}": the watchdog ended before it reported; see {node.state_dir() / "node.log"}')
    result = json.loads(reply)
    if not result.get("ok"):
        raise NspodError(f'pod "{name}": {result.get("error")}')


def _read_reply(sock):
    """One line from the node holder or the watchdog ("" at EOF)."""
    data = b""
    while not data.endswith(b"\n"):
        chunk = sock.recv(1)  # a byte at a time: the next line is read separately
        if not chunk:
            return ""
        data += chunk
    return data.decode()


# -- reading state ------------------------------------------------------------
def _watchdog_alive(row):
    return process.alive(row["watchdog_pid"], row["watchdog_start"])


def _watchdog_shown(row, alive):
    """inspect's nspod.watchdog: which process supervises the pod. The
    supervisor (nspod-supervise, Python) while the pod needs it; else the
    node holder (nspod-keeper, named nspod-node), which holds it alone until
    a command, a process's end or output starts a supervisor again."""
    if not alive:
        return {"pid": None}
    keeper = row["watchdog_pid"] == node.node_pid()
    return {"pid": row["watchdog_pid"], "process": "nspod-keeper" if keeper else "nspod-supervise"}


def pod_phase(row, alive=None):
    """The phase to show. A pod whose watchdog is gone (and that did not end
    or stop) is Unknown: nobody can vouch for its state."""
    alive = _watchdog_alive(row) if alive is None else alive
    if alive or row["phase"] in phase.TERMINAL_PHASES or row["desired"] == "stopped":
        return row["phase"]
    return "Unknown"


def ps():
    store = Store()
    out = []
    from .net.ipam import all_ips  # (nspod.net is imported only where needed: CLI start time)

    ips = all_ips(store)
    for row in store.pods():
        rows = store.containers(row["name"])
        statuses, init = _statuses(row, rows)
        shown = pod_phase(row)
        initialized = any(c["type"] == "Initialized" and c["status"] == "True"
                          for c in phase.conditions(shown, statuses, init=init)) if init else True
        status, ready, total, restarts = phase.print_pod(
            shown, statuses, stopping=row["desired"] == "stopped" and _watchdog_alive(row),
            init=init, initialized_condition=initialized, reason=row["reason"])
        out.append({
            "name": row["name"],
            "phase": shown,
            "status": shown if shown == "Unknown" else status,
            "ready": f"{ready}/{total}",
            "restarts": restarts,
            "age": time.time() - row["created"],
            "uid": row["uid"],
            "ip": ips.get(row["name"]),
            "labels": json.loads(row["manifest"])["metadata"].get("labels") or {},
        })
    return out


def _statuses(row, rows):
    """(app container statuses, [(init container status, is_sidecar)]) of a pod's rows."""
    spec = json.loads(row["manifest"])["spec"]
    sidecars = {c["name"] for c in spec.get("initContainers", ()) if c.get("restartPolicy") == "Always"}
    apps = [json.loads(c["status"]) for c in rows if not c["init"]]
    init = [(json.loads(c["status"]), c["name"] in sidecars) for c in rows if c["init"]]
    return apps, init


def inspect(name):
    """A Kubernetes v1 Pod object, plus what nspod knows of the kernel objects."""
    store = Store()
    row = store.pod(name)
    containers = store.containers(name)
    manifest = json.loads(row["manifest"])
    alive = _watchdog_alive(row)
    statuses, init = _statuses(row, containers)
    p = pod_phase(row, alive)
    metadata = dict(manifest["metadata"], uid=row["uid"], creationTimestamp=phase.rfc3339(row["created"]))
    recorded = json.loads(row["conditions"]) if row["conditions"] else None  # with their transition times
    status = {"phase": p, "conditions": phase.conditions(p, statuses, True, phase.rfc3339(row["created"]),
                                                         init=init, previous=recorded)}
    if row["reason"]:  # e.g. DeadlineExceeded (nspod/hooks.py)
        status["reason"], status["message"] = row["reason"], row["message"]
    if row["started"]:
        status["startTime"] = phase.rfc3339(row["started"])
    from .net import podnet

    status.update(podnet.status_fields(store, name))  # podIP, podIPs
    if init:
        status["initContainerStatuses"] = [st for st, _ in init]
    status["containerStatuses"] = statuses
    pause_ns = json.loads(row["pause_ns"]) if row["pause_ns"] else {}
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": metadata,
        "spec": manifest["spec"],
        "status": status,
        "nspod": {
            "watchdog": _watchdog_shown(row, alive),
            "pause": {"pid": row["pause_pid"] if process.alive(row["pause_pid"], row["pause_start"]) else None,
                      "namespaces": pause_ns},
            "cgroup": json.loads(row["cgroup"]) if row["cgroup"] else None,
            "containers": [
                {"name": c["name"],
                 **({"init": True} if c["init"] else {}),
                 "pid": c["pid"] if process.alive(c["pid"], c["pid_start"]) else None,
                 "namespaces": json.loads(c["namespaces"]) if c["namespaces"] else {},
                 "cgroup": json.loads(c["cgroup"]) if c["cgroup"] else None,
                 "security": json.loads(c["security"]) if c["security"] else None,
                 "rootfs": _rootfs_shown(c["rootfs"])}
                for c in containers
            ],
            "network": podnet.inspect(store, name),
            "stateDir": str(pod_dir(name)),
        },
    }


# -- changing pods ------------------------------------------------------------
def stop(name, timeout=None):
    """TERM each container, KILL after the grace period (or `timeout` s); the
    pod's processes all end and it is not restarted."""
    store = Store()
    row = store.pod(name)
    store.update_pod(name, desired="stopped", stop_timeout=timeout)
    if _watchdog_alive(row):
        grace = timeout if timeout is not None else json.loads(row["manifest"])["spec"].get(
            "terminationGracePeriodSeconds", 30)
        if _ask_supervisor_to_stop(name, grace + 30):
            return
        row = store.pod(name)
        if _watchdog_alive(row):
            raise NspodError(f'pod "{name}": the watchdog did not stop in time')
    _end_orphans(store, name, timeout if timeout is not None else 0)


def _send_request(sock, request):
    """One request line to the node holder, with our --explain pipe if we
    explain (the supervisor tells the steps it takes for this request there)."""
    line = json.dumps(request).encode() + b"\n"
    if steps.sink is not None:
        socket.send_fds(sock, [line], [steps.sink])
    else:
        sock.sendall(line)


def _ask_supervisor_to_stop(name, wait):
    """Ask the node holder to stop the pod; True once it says the pod has
    ended. False when it did not answer in `wait` seconds, or is gone (then
    nobody supervises the pod: the caller takes over)."""
    sock = node.connect_running()
    if sock is None:
        return False
    try:
        sock.settimeout(wait)
        _send_request(sock, {"op": "stop", "pod": name})
        reply = _read_reply(sock)
    except OSError:
        return False
    finally:
        sock.close()
    return bool(reply) and json.loads(reply).get("supervised", True)


def _end_orphans(store, name, grace):
    """The watchdog is gone: TERM the containers, wait the grace period, then
    the one teardown (KILL what is left, network, cgroups)."""
    procs = [(c["pid"], c["pid_start"]) for c in store.containers(name) if c["pid"]]
    if grace > 0:
        process.kill_and_wait(procs, signal.SIGTERM, grace)
    sandbox.teardown(store, name)


def start(name):
    """Start a stopped (or ended) pod again: a new sandbox, the same pod.
    A pod whose watchdog died (phase Unknown) gets a new watchdog that adopts
    the containers still running."""
    store = Store()
    row = _settled(store, name)
    if _watchdog_alive(row):
        raise NspodError(f'pod "{name}" is already running')
    if pod_phase(row, alive=False) == "Unknown":
        _spawn_watchdog(name, adopt=True)
        return
    _end_orphans(store, name, 0)
    has_init = bool(json.loads(row["manifest"])["spec"].get("initContainers"))
    with store.tx():
        store.update_pod(name, desired="running", phase="Pending", stop_timeout=None, reason=None, message=None)
        for c in store.containers(name):
            st = json.loads(c["status"])
            st.update(state=phase.initial_waiting(has_init), ready=False, started=False)
            store.update_container(name, c["name"], status=st)
    _spawn_watchdog(name)


def rm(name, force=False, timeout=None):
    """Remove a pod; `force`: stop a running one first, at once, or
    gracefully within `timeout` seconds (its preStop hooks, TERM, KILL)."""
    store = Store()
    row = _settled(store, name)
    if _watchdog_alive(row) and not force:
        raise NspodError(f'pod "{name}" is running: stop it first, or use rm -f')
    _remove(store, name, timeout or 0)


def _settled(store, name):
    """The pod's row, once a pod that ended (its phase says so) is no longer
    supervised: its supervisor writes the phase before it takes the sandbox
    apart, and a user who saw Succeeded or Failed may rm or start it at once.
    Asked to stop, it answers when it has let the pod go."""
    row = store.pod(name)
    if row["phase"] in phase.TERMINAL_PHASES and _watchdog_alive(row):
        stop(name)
        row = store.pod(name)
    return row


def _remove(store, name, grace=0):
    row = store.pod(name)
    # First: a node holder that starts now (remove_in_user_ns starts one)
    # must not adopt the pod we are taking apart.
    store.update_pod(name, desired="stopped")
    if _watchdog_alive(row):
        try:
            stop(name, timeout=grace)
        except NspodError:  # a stuck watchdog must not keep the pod alive (but the keeper keeps the others)
            if row["watchdog_pid"] != node.node_pid():
                process.kill_and_wait([(row["watchdog_pid"], row["watchdog_start"])])
    faults.point("rm:stopped")
    sandbox.teardown(store, name)  # what the watchdog left, or all of it if it is gone
    faults.point("rm:torn-down")
    import shutil  # (here: shutil loads bz2 and lzma, for every command)

    shutil.rmtree(pod_dir(name), ignore_errors=True)
    if pod_dir(name).exists() and node.rootless():
        remove_in_user_ns(pod_dir(name))
    store.delete_pod(name)


def _rootfs_shown(record):
    """inspect's nspod.containers[].rootfs: an image's root, its driver and
    layer count (and why overlay was not used, for a fallback)."""
    record = json.loads(record) if record else None
    return record and {k: record[k] for k in ("driver", "layers", "fallback") if record.get(k) is not None}


def remove_in_user_ns(*paths):
    """What rmtree left: a container's root (overlay upper dir, or copy of its
    image) holds files of the image's owners (subordinate ids), which only
    the node's user namespace may remove. The watchdog removes them when the
    pod ends; this is for a pod whose watchdog is gone (and for the store's
    unused unpacked layers, image/api.py)."""
    from .image.unpack import remove_tree
    from .kernel import child

    pid = node.ping()  # a node holder (started if need be), so its user namespace, exists
    if not pid:
        raise NspodError(f"cannot remove {', '.join(map(str, paths))}: "
                         "no node holder to enter the user namespace through")
    userns = namespaces.open_ns(pid, "user")

    def remove():
        namespaces.setns(userns, "user")
        for path in paths:
            remove_tree(str(path))

    try:
        child.call(remove)
    finally:
        os.close(userns)


# -- exec ---------------------------------------------------------------------
def exec_(name, container, argv, stdin=True, tty=False):
    """Run argv inside a running container: join its namespaces, fork, exec.
    `stdin`: pass ours (else /dev/null, as kubectl without -i); `tty`: a
    pseudo-terminal made in the container, joined to ours (nspod/terminal.py).
    Returns the command's exit code."""
    store = Store()
    row = store.pod(name)
    c = _pick_container(store, row, container)
    if not process.alive(c["pid"], c["pid_start"]):
        raise NspodError(f'container "{c["name"]}" in pod "{name}" is not running')
    from .spec import load_stored

    pod = load_stored(row["manifest"], f"pod {name}")
    spec = pod.container(c["name"])
    kinds = (["user"] if node.rootless() else []) + ["net", "ipc", "uts", "pid", "mnt"]
    # A hostNetwork container is in our own net and uts namespaces: nothing to join there.
    kinds = [k for k in kinds if namespaces.ns_id(c["pid"], k) != namespaces.ns_id(os.getpid(), k)]
    fds = {kind: namespaces.open_ns(c["pid"], kind) for kind in kinds}
    procs = json.loads(c["cgroup"])["procs"] if c["cgroup"] else []
    from .seccomp import for_container

    filter_ = for_container(pod, spec, json.loads(row["settings"]))  # the container's own seccomp
    from .confinement import for_container as confinement_for

    # The user, groups and capabilities the container started with (recorded
    # then, so an image's User counts), the capabilities and no_new_privs its
    # securityContext gives.
    confinement = confinement_for(pod, spec, row["uid"])
    started = json.loads(c["security"]) if c["security"] else {}
    image_config = json.loads(c["image_config"]) if c["image_config"] else None  # its Env and WorkingDir
    if started.get("uid") is not None:
        user = started["uid"], started["gid"], tuple(started.get("groups") or ())
    else:  # not recorded (it ended at once): as planned without an image (runAsUser, else root)
        from .confinement import NonRootRefused

        try:
            user = confinement.identity()[:3]
        except NonRootRefused as e:
            raise NspodError(f'container "{c["name"]}" in pod "{name}": {e}') from None
    from . import container as container_start
    from . import executor

    ours, theirs = socket.socketpair() if tty else (None, None)  # the pty master comes back on it
    try:
        ops = container_start.exec_plan(spec, argv, [(k, fds[k]) for k in kinds], procs, filter_, confinement, user,
                                        image_config, stdin=stdin, tty=theirs.fileno() if tty else None)
        pid, report = executor.spawn(ops, "exec command", "exec")
    except (ValueError, child.ChildFailed, NspodError) as e:
        for sock in (ours, theirs):
            if sock is not None:
                sock.close()
        raise NspodError(f"exec: {e}") from None
    finally:
        for fd in fds.values():
            os.close(fd)
    if ours is not None:
        from . import terminal

        theirs.close()
        master = terminal.receive_master(ours)  # None: it failed before (it said why)
        ours.close()
        if master is not None:
            try:
                terminal.relay(master, forward_input=stdin)
            finally:
                os.close(master)
    _, status = os.waitpid(pid, 0)  # nspod-exec waits for the command and ends as it did
    for m in executor.read_report(report):
        if "error" in m:
            os.write(2, f"nspod exec: {m['error']['message']}\n".encode())
    return os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) else 128 + os.WTERMSIG(status)


# -- attach -------------------------------------------------------------------
def attach(name, container=None, stdin=False, tty=False, warn=print, ready=lambda: None):
    """`nspod attach`: join the running container's own stdin and output (its
    terminal with `tty: true`) through the supervisor (nspod/console.py).
    Returns the container's exit code when it ends, None when the user
    detached (Ctrl-P Ctrl-Q; it runs on). As kubectl: -t on a container
    without a terminal warns and goes on without; a container with one is
    always attached as a terminal. `ready()` is called once the supervisor
    took the session (kubectl's prompt hint goes there)."""
    from . import terminal
    from .console import no_stdin_error
    from .spec import load_stored

    store = Store()
    row = store.pod(name)
    c = _pick_container(store, row, container)
    shown = pod_phase(row)
    if shown in phase.TERMINAL_PHASES:
        raise NspodError(f"cannot attach a container in a completed pod; current phase is {shown}")
    pod = load_stored(row["manifest"], f"pod {name}")
    spec = pod.container(c["name"])
    if not process.alive(c["pid"], c["pid_start"]):
        raise NspodError(f'container "{c["name"]}" in pod "{name}" is not running')
    if stdin and not spec.stdin:
        raise NspodError(no_stdin_error(name, c["name"]))
    if tty and not spec.tty:
        warn(f"error: Unable to use a TTY - container {c['name']} did not allocate one")
    tty = spec.tty
    sock = node.connect_running() if _watchdog_alive(row) else None
    if sock is None:
        raise NspodError(f'pod "{name}" is not supervised (its phase is Unknown): '
                         f"nspod start {name} takes it over, then attach")
    try:
        request = {"op": "attach", "pod": name, "container": c["name"], "stdin": stdin}
        sock.sendall(json.dumps(request).encode() + b"\n")
        reply = _read_reply(sock)
        if not reply:
            raise NspodError(f'pod "{name}": the supervisor did not answer; see {node.state_dir() / "node.log"}')
        answer = json.loads(reply)
        if not answer.get("ok"):
            raise NspodError(answer.get("error"))
        ready()
        code = terminal.attach_relay(sock, forward_input=stdin, with_tty=tty)
        if code is not None and tty and stdin and os.isatty(0) and pod.restart_policy == "Always":
            print(f"Session ended, resume using 'nspod attach {name} -c {c['name']} -i -t' command "
                  "when the pod is running")  # (as kubectl says it)
        return code
    finally:
        sock.close()


# -- logs and events ------------------------------------------------------------
def cp(src, dst, container=None):
    """`nspod cp`: one of src and dst is POD:PATH (nspod/copy.py)."""
    from . import copy

    (src_pod, src_path), (dst_pod, dst_path) = copy.split_spec(src), copy.split_spec(dst)
    if (src_pod is None) == (dst_pod is None):
        raise BadInput("cp: one of the two must be POD:PATH, the other a local path")
    name = src_pod or dst_pod
    store = Store()
    c = _pick_container(store, store.pod(name), container)
    if not process.alive(c["pid"], c["pid_start"]):
        raise NspodError(f'container "{c["name"]}" in pod "{name}" is not running')
    if src_pod is None:
        copy.to_container(c["pid"], node.rootless(), src_path, dst_path)
    else:
        copy.from_container(c["pid"], node.rootless(), src_path, dst_path)


DEFAULT_CONTAINER = "kubectl.kubernetes.io/default-container"  # the pod annotation kubectl honours


def _pick_container(store, row, container):
    """The container of the pod (its `row`) a verb acts on: `container` (it
    must exist), else as kubectl picks one (podcmd.FindOrDefaultContainerByName):
    the one the pod's default-container annotation names, else the first app
    container, saying so on stderr when the pod has others."""
    name = row["name"]
    rows = {r["name"]: r for r in store.containers(name)}
    if container is None:
        container = _default_container(name, json.loads(row["manifest"]))
    if container in rows:
        return rows[container]
    raise NotFound(f'container "{container}" not found in pod "{name}"')


def _default_container(name, manifest):
    spec, annotations = manifest["spec"], manifest["metadata"].get("annotations") or {}
    apps = [c["name"] for c in spec["containers"]]
    inits = [c["name"] for c in spec.get("initContainers") or []]
    wanted = annotations.get(DEFAULT_CONTAINER)
    if wanted in apps + inits:
        return wanted
    if wanted:
        print(f'Default container name "{wanted}" not found in pod {name}', file=sys.stderr)
    if len(apps) > 1 or inits:
        print(f'Defaulted container "{apps[0]}" out of: ' + ", ".join(apps + [f"{i} (init)" for i in inits]),
              file=sys.stderr)
    return apps[0]


def container_name(name, container=None):
    """The container that logs, exec and cp act on: `container` (it must
    exist), else the pod's only app container."""
    store = Store()
    return _pick_container(store, store.pod(name), container)["name"]


def logs(name, container=None, follow=False, previous=False, timestamps=False, tail=None):
    """The container's log lines, like kubectl logs: the current instance, or
    with previous=True the one before the last restart. A generator."""
    from . import crilog

    store = Store()
    c = _pick_container(store, store.pod(name), container)
    status = json.loads(c["status"])
    n = status["restartCount"] - (1 if previous else 0)
    path = pod_dir(name) / "logs" / c["name"] / f"{n}.log"
    if n < 0 or not path.exists():
        waiting = status["state"].get("waiting")
        if waiting and not previous:  # the kubelet's words (kubectl exits 1)
            raise NspodError(f'container "{c["name"]}" in pod "{name}" is waiting to start: '
                             f'{waiting.get("reason") or "ContainerCreating"}')
        what = "previous terminated container" if previous else "container"
        raise NotFound(f'{what} "{c["name"]}" in pod "{name}" not found')
    if not follow or previous:
        yield from crilog.read_lines(str(path), timestamps=timestamps, tail=tail)
        return

    def instance_over():
        # kubectl logs -f ends when the container it follows terminates (or its pod is removed).
        try:
            row = store.pod(name)
            st = json.loads(_pick_container(store, row, c["name"])["status"])
        except NotFound:
            return True
        return st["restartCount"] != n or "running" not in st["state"] or not _watchdog_alive(row)

    yield from crilog.follow(str(path), stop=instance_over, timestamps=timestamps, tail=tail)


def events(name):
    store = Store()
    store.pod(name)
    return [dict(r) for r in store.events(name)]


# -- wait -------------------------------------------------------------------------
def parse_wait_condition(text):
    """kubectl wait's --for: "delete" | "create" | "condition=TYPE[=STATUS]" |
    "jsonpath={EXPR}[=VALUE]", as a tuple; BadInput for anything else."""
    from .jsonpath import JSONPathError, parse

    kind, _, rest = text.partition("=")
    kind = kind.lower()
    if kind in ("delete", "create") and not rest:
        return (kind,)
    if kind == "condition" and rest:
        ctype, _, status = rest.partition("=")
        if not ctype:
            raise BadInput(f"--for={text}: name the condition, e.g. --for=condition=Ready")
        return ("condition", ctype, status or "True")
    if kind == "jsonpath" and rest:
        expr, value = rest, None
        if not rest.rstrip().endswith("}"):
            expr, _, value = rest.rpartition("=")
        try:
            parse(expr)
        except JSONPathError as e:
            raise BadInput(f"--for: {e}") from None
        return ("jsonpath", expr, value)
    raise BadInput(f'--for={text}: unrecognized condition (use delete, create, condition=TYPE[=STATUS] '
                   "or jsonpath={.PATH}[=VALUE])")


def wait(names, condition, timeout, met=lambda name: None, interval=0.2):
    """Until each pod meets `condition` (parse_wait_condition), as kubectl
    wait; `met(name)` is called for each as it does. One deadline for all:
    `timeout` seconds from now (0: look once). A pod that does not exist is an
    error, except for delete (it is gone: met, and said only if it was there
    when we first looked, as kubectl) and create (waited for)."""
    deadline = time.monotonic() + timeout
    said = set(names) if condition != ("delete",) else {n for n in names if not _meets(n, condition)}
    for name in names:
        while not _meets(name, condition):
            if time.monotonic() >= deadline:
                raise NspodError(f"timed out waiting for the condition on pods/{name}")
            time.sleep(min(interval, max(0.0, deadline - time.monotonic())))
        if name in said:
            met(name)


def _meets(name, condition):
    from .jsonpath import find, text

    kind = condition[0]
    try:
        pod = inspect(name) if kind in ("condition", "jsonpath") else Store().pod(name)
    except NotFound:
        if kind in ("delete", "create"):
            return kind == "delete"
        raise
    if kind in ("delete", "create"):
        return kind == "create"
    if kind == "condition":
        _, ctype, status = condition
        return any(c["type"].lower() == ctype.lower() and c["status"].lower() == status.lower()
                   for c in pod["status"].get("conditions", []))
    _, expr, value = condition
    found = find(pod, expr)
    if len(found) > 1:
        raise BadInput(f"--for=jsonpath={expr}: matches {len(found)} values; it must match one")
    if value is None:
        return bool(found) and text(found[0]) != ""
    return bool(found) and text(found[0]) == value


# -- top ----------------------------------------------------------------------------
def top(names=None, window=0.5):
    """CPU (millicores) and memory working set per running container, as
    kubectl top (nspod/top.py says where the figures come from):
    [{"pod", "container", "cpu_m", "memory", "source"}]."""
    from . import top as usage

    store = Store()
    wanted = {}
    for row in store.pods():
        if names and row["name"] not in names:
            continue
        for c in store.containers(row["name"]):
            if not process.alive(c["pid"], c["pid_start"]):
                continue
            procs = json.loads(c["cgroup"])["procs"] if c["cgroup"] else []
            wanted[(row["name"], c["name"])] = {"pid": c["pid"], "cgroup_dirs": [os.path.dirname(p) for p in procs]}
    for name in names or ():
        store.pod(name)  # NotFound for a pod that does not exist
    measured = usage.measure(wanted, window) if wanted else {}
    return [dict(pod=pod, container=c, **m) for (pod, c), m in measured.items()]


# -- port-forward ---------------------------------------------------------------------
def port_forward(name, specs, address="127.0.0.1", say=print):
    """kubectl port-forward: until Ctrl-C (nspod/portforward.py).
    `address`: IP addresses or localhost, comma-separated."""
    from . import portforward

    ports = portforward.parse_ports(specs)
    addresses = portforward.parse_addresses(address)
    row = Store().pod(name)
    if not process.alive(row["pause_pid"], row["pause_start"]):
        raise NspodError(f'unable to forward port because pod "{name}" is not running. '
                         f"Current status={pod_phase(row)}")  # kubectl's words
    kinds = ["user"] if node.rootless() else []
    if namespaces.ns_id(row["pause_pid"], "net") != namespaces.ns_id(os.getpid(), "net"):
        kinds.append("net")
    else:
        kinds = []  # hostNetwork: the pod's loopback is ours
    ns_fds = {kind: namespaces.open_ns(row["pause_pid"], kind) for kind in kinds}
    try:
        portforward.forward(ns_fds, ports, addresses, say)
    finally:
        for fd in ns_fds.values():
            os.close(fd)
