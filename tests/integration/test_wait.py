"""nspod wait, as kubectl wait: conditions, jsonpath, delete, timeouts and
exit codes, against real pods."""
import subprocess
import time

from podtest import NSPOD, nspod

POD = """
apiVersion: v1
kind: Pod
metadata: {name: waited}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - {name: app, command: [sleep, "300"]}
"""


def test_wait_for_conditions_jsonpath_and_delete(pods):
    pods.run(POD)
    done = nspod("wait", "waited", "--for=condition=Ready", "--timeout=20s")
    assert done.stdout == "pod/waited condition met\n"
    assert nspod("wait", "waited", "--for", "jsonpath={.status.phase}=Running").stdout == "pod/waited condition met\n"
    assert nspod("wait", "waited", '--for=jsonpath={.status.containerStatuses[?(@.name=="app")].ready}=true',
                 "--timeout=5s").returncode == 0
    # A condition that does not hold: exit 1 and kubectl's message, after the timeout.
    late = nspod("wait", "waited", "--for=condition=Ready=false", "--timeout=1s", check=False)
    assert late.returncode == 1
    assert late.stderr.strip() == "Error: timed out waiting for the condition on pods/waited"
    # delete: waits until rm has removed it.
    waiting = subprocess.Popen(NSPOD + ["wait", "waited", "--for=delete", "--timeout=60s"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(1)  # it has seen the pod (one gone before its first look is met silently)
    nspod("rm", "-f", "waited")
    out, err = waiting.communicate(timeout=60)
    assert waiting.returncode == 0 and out == "pod/waited condition met\n", (out, err)


def test_wait_errors():
    missing = nspod("wait", "nopod", "--for=condition=Ready", "--timeout=1s", check=False)
    assert missing.returncode == 1 and 'pod "nopod" not found' in missing.stderr
    # A pod that is gone already meets --for=delete, silently, as kubectl (it ignores NotFound then),
    # and so does a selector that matches nothing.
    for args in (["nopod"], ["-l", "app=nothing"]):
        gone = nspod("wait", *args, "--for=delete", "--timeout=0", check=False)
        assert (gone.returncode, gone.stdout, gone.stderr) == (0, "", ""), args
    for bad in (["--for=ready"], ["--for=condition=Ready", "--timeout=soon"], ["--for=jsonpath=status.phase"]):
        done = nspod("wait", "nopod", *bad, check=False)
        assert done.returncode == 2 and done.stderr.startswith("Error: "), (bad, done.stderr)


def test_inspect_output_formats(pods):
    import json

    import yaml

    pods.run(POD)
    as_json = json.loads(nspod("inspect", "waited").stdout)
    assert yaml.safe_load(nspod("inspect", "waited", "-o", "yaml").stdout) == as_json
    shown = nspod("inspect", "waited", "-o", "jsonpath={.metadata.name} {.status.containerStatuses[*].name}").stdout
    assert shown == "waited app\n"
    for bad in (["-o", "xml"], ["-o", "jsonpath={.status"], ["-o", "jsonpath={.a[1:2]}"]):
        done = nspod("inspect", "waited", *bad, check=False)
        assert done.returncode == 2 and done.stderr.startswith("Error: "), (bad, done.stderr)


def test_run_wait_returns_once_ready(pods, tmp_path):
    pods.run(POD, "--wait")
    assert pods.inspect("waited")["status"]["phase"] == "Running"
    # A container that cannot start is never Ready (one that exits at once
    # may be seen running, so Ready, for an instant).
    never = POD.replace("name: waited", "name: neverready").replace('command: [sleep, "300"]',
                                                                   'command: ["/no/such/program"]')
    done = pods.run(never.replace("terminationGracePeriodSeconds: 1", "restartPolicy: Never"), "--wait=2s", check=False)
    assert done.returncode == 1 and "timed out waiting for the condition on pods/neverready" in done.stderr


def test_run_wait_before_the_manifest(pods, tmp_path):
    """`run --wait pod.yaml`: the manifest is not taken for --wait's timeout."""
    manifest = tmp_path / "first.yaml"
    manifest.write_text(POD.replace("name: waited", "name: waitfirst"))
    done = nspod("run", "--wait", manifest, check=False)
    pods.names += done.stdout.split()
    assert (done.returncode, done.stdout) == (0, "waitfirst\n"), done.stderr
    ready = [c for c in pods.inspect("waitfirst")["status"]["conditions"] if c["type"] == "Ready"]
    assert ready[0]["status"] == "True"
    for argv in (["run", "--wait"], ["run", "--wait", "10s"], ["run"]):
        missing = nspod(*argv, check=False)
        assert (missing.returncode, missing.stderr) == (2, "Error: run: name the manifest, e.g. nspod run pod.yaml\n")


def test_ps_output_formats_and_version(pods):
    import json

    import yaml

    pods.run(POD)
    listing = json.loads(nspod("ps", "-o", "json").stdout)
    assert listing["kind"] == "List" and [p["metadata"]["name"] for p in listing["items"]] == ["waited"]
    assert yaml.safe_load(nspod("ps", "-o", "yaml").stdout)["items"][0]["status"]["phase"] == "Running"
    assert nspod("ps", "-o", "name").stdout == "pod/waited\n"
    assert nspod("ps", "-o", "xml", check=False).returncode == 2
    assert nspod("--version").stdout.startswith("nspod ")
