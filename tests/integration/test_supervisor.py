"""One supervisor (the node holder) for every pod: one pod's trouble must not
become the others'. A pod flooding its log next to a pod that restarts all
the time; a pod whose handling fails (NSPOD_FAULT=watchdog:event:fail) next
to a healthy one."""
import json
import os
import subprocess
import time

from podtest import NSPOD, nspod, supervisor_pid, wait_for


def pod(name, command, policy="Always"):
    return json.dumps({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
                       "spec": {"restartPolicy": policy, "terminationGracePeriodSeconds": 0,
                                "containers": [{"name": "app", "command": command}]}})


def restarts(pods, name):
    return pods.status(name, "app")["restartCount"]


def test_a_flooding_pod_does_not_hold_up_another_pods_restarts(pods):
    pods.run(pod("flood", ["yes"]))  # 2-byte lines as fast as it can: the costliest output to log
    pods.run(pod("quick", ["true"]), "--backoff-base", "0")  # restarts at once, every time
    # Both are served: the flood is logged, and the restarts go on.
    wait_for(lambda: _log_size("flood") > 1 << 20, timeout=20, what="1 MiB of the flood logged")
    logged = _last_write("flood")
    before = restarts(pods, "quick")
    time.sleep(3)
    after = restarts(pods, "quick")
    print("RESTARTS", after - before)
    # Alone, `true` restarts every ~5 ms here. Beside the flood it kept that
    # only once a wake-up logged one pipeful (watchdog.OUTPUT_PER_WAKE), after
    # the exits, and rotation stopped freeing files on the loop's time: before,
    # ~80 restarts came in these 3 s (~40 ms each), now ~490.
    assert after - before >= 150, f"only {after - before} restarts in 3 s beside a flooding pod"
    # And the flood is still being logged. (Names and sizes alone do not tell:
    # every rotated file is full, and a listing taken while a rotation replaces
    # 0.log.4 -- slow where the disk discards the blocks it frees -- shows the
    # same names and sizes each time.)
    assert _last_write("flood") > logged
    assert pods.inspect("flood")["status"]["phase"] == "Running"


def _log_files(name):
    """{log file: its stat} of the pod's container (rotated files come and go)."""
    from podtest import state_dir

    logs = state_dir() / "pods" / name / "logs" / "app"
    sizes = {}
    for path in logs.glob("*.log*") if logs.exists() else ():
        try:
            sizes[path.name] = path.stat()
        except FileNotFoundError:  # rotated away since the listing
            pass
    return sizes


def _log_size(name):
    return sum(st.st_size for st in _log_files(name).values())


def _last_write(name):
    return max((st.st_mtime_ns for st in _log_files(name).values()), default=0)


def test_a_failure_in_one_pods_handling_leaves_the_others_supervised(pods, tmp_path):
    pods.run(pod("healthy", ["sh", "-c", "sleep 0.2; exit 1"]), "--backoff-base", "0")
    supervisor = supervisor_pid()
    manifest = tmp_path / "broken.yaml"
    manifest.write_text(pod("broken", ["sh", "-c", "exit 1"]))
    pods.names.append("broken")
    done = subprocess.run(NSPOD + ["run", str(manifest)], capture_output=True, text=True, timeout=60,
                          env=dict(os.environ, NSPOD_FAULT="watchdog:event:fail"))
    assert done.returncode == 0, done.stderr
    # Its first event (the container's exit) fails: that pod is dropped...
    wait_for(lambda: pods.inspect("broken")["status"]["phase"] == "Unknown", what="the broken pod to be Unknown")
    assert "SupervisionError" in nspod("describe", "broken").stdout
    # ...and only that one: the same supervisor goes on restarting the other.
    assert supervisor_pid() == supervisor
    before = restarts(pods, "healthy")
    wait_for(lambda: restarts(pods, "healthy") >= before + 2, what="the healthy pod to restart on")
    assert pods.inspect("healthy")["nspod"]["watchdog"]["pid"] == supervisor
    # `start` has the dropped pod taken over again (no fault this time).
    nspod("start", "broken")
    wait_for(lambda: restarts(pods, "broken") >= 1, what="the adopted pod to restart its container")
    assert pods.inspect("broken")["status"]["phase"] == "Running"


def test_an_ended_containers_output_fifo_does_not_spin_the_supervisor(pods):
    """A container that ended leaves its FIFOs without a writer; the
    supervisor holds a write end of its own, so the selector does not report
    them "hung up" on every wake-up (it did: 50-80% of a CPU for one such pod).
    A tty container, whose stdio moved to its terminal: the same."""
    pods.run("""
apiVersion: v1
kind: Pod
metadata: {name: quiet}
spec:
  restartPolicy: Never
  containers:
  - {name: done, command: ["true"]}
  - {name: srv, command: [sleep, "300"]}
  - {name: term, command: [sleep, "300"], tty: true}
""")
    wait_for(lambda: "terminated" in pods.status("quiet", "done")["state"], what="done to end")
    time.sleep(0.5)
    pid = supervisor_pid()  # (the tty container keeps it: it does not leave)

    def cpu_ticks():
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])  # utime + stime

    before = cpu_ticks()
    time.sleep(2)
    used = (cpu_ticks() - before) / os.sysconf("SC_CLK_TCK")
    assert used < 0.2, f"the supervisor used {used:.2f} s of CPU in 2 s with nothing to do"


def test_the_supervisor_yields_the_cpu_and_its_containers_do_not(pods):
    """The supervisor is SCHED_BATCH: woken by an exit or a spawn, it does not
    preempt the container being started on that CPU. What it starts must not
    inherit that: the pause holder (forked), a container (nspod-exec), and a
    process `exec` starts in it run at the normal policy."""
    pods.run(pod("sched", ["sleep", "300"]))
    supervisor = supervisor_pid()
    assert supervisor, "no supervisor runs while a pod starts"
    assert os.sched_getscheduler(supervisor) == os.SCHED_BATCH
    info = pods.inspect("sched")["nspod"]
    assert os.sched_getscheduler(info["pause"]["pid"]) == os.SCHED_OTHER
    assert os.sched_getscheduler(info["containers"][0]["pid"]) == os.SCHED_OTHER
    # The policy field of /proc/PID/stat (the 41st), seen inside: the
    # container's first process and `exec`'s own.
    shown = nspod("exec", "sched", "--", "sh", "-c", "cat /proc/1/stat; cat /proc/self/stat").stdout
    policies = [line.rsplit(")", 1)[1].split()[38] for line in shown.splitlines()]
    assert policies == ["0", "0"], shown


def signal_masks(pid):
    fields = dict(line.split(":\t", 1) for line in open(f"/proc/{pid}/status").read().splitlines())
    return int(fields["SigIgn"], 16), int(fields["SigBlk"], 16)


def test_a_container_starts_with_no_signal_ignored_or_blocked(pods):
    """Ignored signals stay ignored across exec: what the supervisor ignores
    (Python ignores SIGPIPE and SIGXFSZ) must not reach the container, nor a
    blocked one."""
    pods.run(pod("signals", ["sleep", "300"]))
    supervisor = supervisor_pid()
    assert supervisor, "no supervisor runs while a pod starts"
    ignored_by_supervisor, _ = signal_masks(supervisor)
    assert ignored_by_supervisor & (1 << (13 - 1)), "the supervisor no longer ignores SIGPIPE: test nothing"
    container = pods.inspect("signals")["nspod"]["containers"][0]["pid"]
    assert signal_masks(container) == (0, 0)
