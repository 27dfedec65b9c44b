"""scripts/lib/bench.py's pure parts for the image section: disk use of a
store, which Podman images are the bench's, the image it builds, and how the
image rows render in the table, the JSON and docs/BENCHMARKS.md."""
import datetime
import importlib.util
import json
import os
import subprocess
from pathlib import Path
from types import SimpleNamespace

import pytest

BENCH = Path(__file__).resolve().parents[2] / "scripts" / "lib" / "bench.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("nspod_bench", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def du_bytes(path):
    return int(subprocess.run(["du", "-s", "-B1", str(path)], check=True, capture_output=True,
                              text=True).stdout.split()[0])


def test_disk_bytes_counts_each_inode_once_as_du_does(bench, tmp_path):
    store = tmp_path / "store"
    (store / "layers" / "x").mkdir(parents=True)
    (store / "layers" / "x" / "f").write_bytes(os.urandom(300_000))
    os.link(store / "layers" / "x" / "f", store / "layers" / "x" / "g")
    (store / "layers" / "x" / "s").symlink_to("/usr")  # counted, never followed
    (store / "images.db").write_bytes(os.urandom(5000))
    parts = bench.disk_bytes(store)
    assert set(parts) == {"layers", "images.db"}
    assert parts["layers"] == du_bytes(store / "layers")
    assert parts["layers"] < 2 * 300_000  # the hard link is not counted twice
    assert parts["images.db"] == os.lstat(store / "images.db").st_blocks * 512


def test_disk_bytes_leaves_out_skipped_entries_and_a_missing_store(bench, tmp_path):
    (tmp_path / "libpod").mkdir()
    (tmp_path / "libpod" / "bolt_state.db").write_bytes(os.urandom(100_000))
    (tmp_path / "vfs").mkdir()
    assert set(bench.disk_bytes(tmp_path, skip=("libpod",))) == {"vfs"}
    assert bench.disk_bytes(tmp_path / "absent") == {}


def test_disk_bytes_fails_naming_the_store_when_an_entry_cannot_be_read(bench, tmp_path, monkeypatch):
    (tmp_path / "blobs").mkdir()
    (tmp_path / "blobs" / "b").write_bytes(b"x")
    real_lstat = os.lstat

    def lstat(path, *a, **kw):  # as root nothing is unreadable: refuse like EACCES would
        if str(path).endswith("/b"):
            raise PermissionError(13, "Permission denied", str(path))
        return real_lstat(path, *a, **kw)

    monkeypatch.setattr(bench.os, "lstat", lstat)
    with pytest.raises(bench.BenchError, match=f"disk used under {tmp_path}.*Permission denied"):
        bench.disk_bytes(tmp_path)


def test_only_images_from_a_loopback_registry_named_by_the_bench_are_its_own(bench):
    lines = ["aaa 127.0.0.1:41817/nbench-image", "bbb localhost/podman-pause",
             "ccc 127.0.0.1:5000/app", "ddd docker.io/library/nbench-image", "", "aaa 127.0.0.1:41817/nbench-image"]
    assert bench.bench_image_ids(lines) == ["aaa"]


def test_the_image_differs_from_run_to_run_in_every_layer(bench):
    _, *builders = bench.image_helpers()
    one, what = bench.build_image(*builders)
    two, _ = bench.build_image(*builders)
    assert len(one.layer_digests) == 1 + len(bench.IMAGE_TREES)
    assert not set(one.layer_digests) & set(two.layer_digests)
    assert f"{len(one.layer_digests)} layers" in what and "MiB as pulled" in what


def test_the_image_section_is_selectable_and_checked(bench, capsys):
    assert "image" in bench.SECTIONS
    with pytest.raises(SystemExit) as e:
        bench.main(["--only", "images"])
    assert e.value.code == 2
    assert "--only takes sections of" in capsys.readouterr().err


def image_results(bench):
    """The rows as bench_image adds them, with figures of a --quick run."""
    res = bench.Results()
    res.add("pod start from a cached image (1 container)", "ms", [0.209, 0.234, 0.267], [0.478, 0.642, 0.773],
            "image_cached")
    res.add("first pull + pod start of that image", "ms", [0.372, 0.390, 0.412], [1.674, 1.707, 1.715], "image_pull")
    res.add("disk per image (store growth)", "MiB", [8.64 * 1024], [18.69 * 1024])
    res.notes.append("Disk per image (no goal): nspod 8.6 MiB, Podman 18.7 MiB (vfs), nspod:podman 0.46.")
    res.details.append(("Disk per image: what the image added under each top-level entry of the store",
                        [("nspod: layers", [6.67 * 1024], "MiB")]))
    return res


def test_image_rows_in_the_json_with_their_goals(bench):
    figures = {f["figure"]: f for f in image_results(bench).figures()["figures"]}
    cached = figures["pod start from a cached image (1 container) [ms]"]
    assert cached["goal"] == 0.5 and cached["nspod"] == pytest.approx(234) and cached["podman"] == pytest.approx(642)
    assert figures["first pull + pod start of that image [ms]"]["goal"] == 1.0
    disk = figures["disk per image (store growth) [MiB]"]
    assert "goal" not in disk and disk["ratio"] == pytest.approx(8.64 / 18.69)
    json.dumps(figures)  # what --json writes


def test_image_rows_in_the_written_document(bench, tmp_path):
    args = SimpleNamespace(invocation="scripts/bench --quick --write-doc", runs=3, restarts=20, mem_runs=3, pods=10)
    info = {k: "x" for k in ("nproc", "cpu", "mem", "kernel", "distro", "python", "podman", "runc", "conmon",
                              "storage", "cgroups")}
    doc = tmp_path / "BENCHMARKS.md"
    started = datetime.datetime(2026, 12, 1, tzinfo=datetime.timezone.utc)
    bench.write_doc(doc, image_results(bench), info, args, started, 30)
    text = doc.read_text()
    assert "| pod start from a cached image (1 container) [ms] | 234 (209–267) | 642 (478–773) | 0.364 | " \
           "≤ 0.50: met |" in text
    assert "| first pull + pod start of that image [ms] | 390 (372–412) | 1707 (1674–1715) | 0.228 | " \
           "≤ 1.00: met |" in text
    assert "| disk per image (store growth) [MiB] | 8.64 (1 run) | 18.69 (1 run) | 0.462 |  |" in text
    assert "**Images**" in text and bench.IMAGE_TEXT in text
    assert "- Disk per image (no goal)" in text and "- nspod: layers: 6.67 MiB" in text


def test_the_section_measured_by_hand_is_kept(bench, tmp_path):
    doc = tmp_path / "BENCHMARKS.md"
    doc.write_text("# B\n\n## Notes\n\n- x\n\n## Measured by hand\n\nProbe cost: 1 ms.\n\n## Details\n\nold\n")
    kept = bench._kept_by_hand(doc)
    assert kept == "\n## Measured by hand\n\nProbe cost: 1 ms.\n\n"
    doc.write_text("# B\n\n## Notes\n")
    assert bench._kept_by_hand(doc) == "" and bench._kept_by_hand(tmp_path / "missing") == ""
