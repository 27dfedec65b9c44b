"""describe's layout and the user config file (pure: no processes)."""
import pytest

from nspod import config
from nspod.describe import describe
from nspod.errors import BadInput

POD = {
    "metadata": {"name": "web", "namespace": "default", "labels": {"app": "x"}},
    "spec": {"restartPolicy": "Always",
             "containers": [{"name": "app", "command": ["sh", "-c", "exit 1"],
                             "ports": [{"containerPort": 80, "hostPort": 8080, "protocol": "TCP"}],
                             "volumeMounts": [{"name": "d", "mountPath": "/d", "readOnly": True}]}],
             "volumes": [{"name": "d", "emptyDir": {"medium": "Memory"}}]},
    "status": {"phase": "Running", "startTime": "2026-01-02T03:04:05Z",
               "conditions": [{"type": "Ready", "status": "False"}],
               "containerStatuses": [{
                   "name": "app", "ready": False, "restartCount": 2,
                   "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 20s"}},
                   "lastState": {"terminated": {"exitCode": 1, "reason": "Error",
                                                "startedAt": "2026-01-02T03:04:05Z",
                                                "finishedAt": "2026-01-02T03:04:06Z"}}}]},
}
EVENTS = [{"type": "Warning", "reason": "BackOff", "message": "Back-off restarting failed container app",
           "count": 3, "first": 100.0, "last": 160.0}]


def test_describe_shows_states_mounts_volumes_and_repeated_events():
    text = describe(POD, EVENTS, now=170.0)
    assert "Status:           Running" in text
    assert "Labels:           app=x" in text
    assert "State:          Waiting" in text and "Reason:       CrashLoopBackOff" in text
    assert "Last State:     Terminated" in text and "Exit Code:    1" in text
    assert "Restart Count:  2" in text
    assert "Port:           80/TCP" in text and "Host Port:      8080/TCP" in text
    assert "/d from d (ro)" in text
    assert "Medium:     Memory" in text
    assert "10s (x3 over 70s)" in text
    assert text.splitlines()[-1].strip().endswith("Back-off restarting failed container app")


def test_describe_without_events():
    assert describe(POD, [], now=0).splitlines()[-1] == "Events:            <none>"


def write(tmp_path, monkeypatch, text):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    (tmp_path / "nspod").mkdir(exist_ok=True)
    (tmp_path / "nspod" / "config.toml").write_text(text)


def test_config_reads_durations_and_pids_max(tmp_path, monkeypatch):
    write(tmp_path, monkeypatch, 'backoff_base = "250ms"\npids_max = 100\n')
    assert config.load() == {"backoff_base": 0.25, "pids_max": 100}


def test_config_missing_file_is_empty(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    assert config.load() == {}


@pytest.mark.parametrize("text,fragment", [
    ('backoff_base = "soon"\n', "backoff_base"),
    ("pids_max = -1\n", "pids_max"),
    ('typo = 1\n', "unknown setting"),
    ("not toml [\n", "config.toml"),
])
def test_config_errors_name_the_setting(tmp_path, monkeypatch, text, fragment):
    write(tmp_path, monkeypatch, text)
    with pytest.raises(BadInput, match=fragment):
        config.load()
