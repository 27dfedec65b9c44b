"""Container logs for real: a container that writes a lot ends, every line is in
its log, and `logs --tail` reads a rotated log from its end. As an unprivileged user."""
from podtest import nspod, state_dir, wait_for

LINES = 220_000  # of 91 bytes: 20 MB of output, about 29 MB of CRI log (3 files)


def test_big_output_is_all_logged_and_tail_reads_the_rotated_log(pods):
    pods.run(f"""
    apiVersion: v1
    kind: Pod
    metadata: {{name: chatty}}
    spec:
      restartPolicy: Never
      containers:
      - name: app
        command: [seq, -f, "%090g", "1", "{LINES}"]
    """)
    # The container can end only once the watchdog has read all it wrote.
    wait_for(lambda: pods.inspect("chatty")["status"]["phase"] == "Succeeded", timeout=120,
             what="the container to write its output and end")
    logdir = state_dir() / "pods" / "chatty" / "logs" / "app"
    assert (logdir / "0.log.1").exists() and (logdir / "0.log.2").exists()  # rotated at 10 MiB

    out = nspod("logs", "chatty", timeout=120).stdout
    lines = out.split("\n")
    assert lines.pop() == ""
    assert len(lines) == LINES
    assert all(len(line) == 90 for line in lines)
    assert [int(line) for line in lines] == list(range(1, LINES + 1))  # none lost, none doubled, in order

    last = [f"{i:090d}" for i in range(LINES - 2, LINES + 1)]
    assert nspod("logs", "chatty", "--tail", "3").stdout.splitlines() == last
    stamped = nspod("logs", "chatty", "--tail", "3", "--timestamps").stdout.splitlines()
    assert [line.split(" ", 1)[1] for line in stamped] == last
    assert all(line.split(" ", 1)[0].endswith("Z") for line in stamped)
    assert nspod("logs", "chatty", "--tail", "0").stdout == ""
