"""Manifests, indexes and platform selection (pure)."""
import json

import pytest

from nspod.image import manifest as mf
from nspod.image.errors import PullError, UnsupportedMediaType

D = "sha256:" + "1" * 64


def desc(digest_char, platform=None, media_type=mf.OCI_MANIFEST, size=10):
    d = {"mediaType": media_type, "digest": "sha256:" + digest_char * 64, "size": size}
    if platform:
        os_, arch, *variant = platform.split("/")
        d["platform"] = {"os": os_, "architecture": arch, **({"variant": variant[0]} if variant else {})}
    return d


INDEX = {"schemaVersion": 2, "mediaType": mf.OCI_INDEX, "manifests": [
    desc("a", "linux/arm/v6"),
    desc("b", "linux/arm/v7"),
    desc("c", "linux/arm64/v8"),
    desc("d", "linux/amd64"),
    desc("e", "windows/amd64"),
    desc("f", "unknown/unknown"),
    desc("9", "linux/ppc64le"),
]}


@pytest.mark.parametrize("want,pick", [
    ({"os": "linux", "architecture": "amd64", "variant": ""}, "d"),
    ({"os": "linux", "architecture": "arm64", "variant": "v8"}, "c"),
    ({"os": "linux", "architecture": "arm64", "variant": ""}, "c"),
    ({"os": "linux", "architecture": "arm", "variant": "v7"}, "b"),
    ({"os": "linux", "architecture": "arm", "variant": "v6"}, "a"),
    ({"os": "linux", "architecture": "ppc64le", "variant": ""}, "9"),
])
def test_index_picks_the_platform(want, pick):
    assert mf.select(INDEX, want)["digest"] == "sha256:" + pick * 64


def test_arm_v8_falls_back_to_an_entry_without_variant_and_arm_v7_to_v6():
    index = {"manifests": [desc("a", "linux/arm64"), desc("b", "linux/arm/v6")]}
    assert mf.select(index, {"os": "linux", "architecture": "arm64", "variant": "v8"})["digest"].endswith("a")
    assert mf.select(index, {"os": "linux", "architecture": "arm", "variant": "v7"})["digest"].endswith("b")


def test_no_matching_platform_names_what_there_is():
    index = {"manifests": [desc("a", "linux/s390x"), desc("b", "windows/amd64")]}
    with pytest.raises(PullError) as e:
        mf.select(index, {"os": "linux", "architecture": "amd64"}, where="x")
    assert "no image for linux/amd64" in str(e.value) and "linux/s390x, windows/amd64" in str(e.value)


def test_attestations_and_nested_indexes_are_skipped():
    index = {"manifests": [desc("a", "linux/amd64", media_type=mf.OCI_INDEX), desc("b", "linux/amd64")]}
    assert mf.select(index, {"os": "linux", "architecture": "amd64"})["digest"].endswith("b")


def test_this_platform_is_linux():
    p = mf.this_platform()
    assert p["os"] == "linux" and p["architecture"] in ("amd64", "arm64", "arm", "386", "ppc64le", "s390x", "riscv64")


def manifest(**changes):
    doc = {"schemaVersion": 2, "mediaType": mf.DOCKER_MANIFEST,
           "config": desc("c", media_type="application/vnd.docker.container.image.v1+json"),
           "layers": [desc("1", media_type="application/vnd.docker.image.rootfs.diff.tar.gzip")]}
    doc.update(changes)
    return json.dumps(doc).encode()


def test_parse_docker_and_oci_manifests_and_indexes():
    assert mf.parse(manifest())[0] == mf.DOCKER_MANIFEST
    assert mf.parse(json.dumps(INDEX).encode())[0] == mf.OCI_INDEX
    # No mediaType field: the Content-Type, else the shape tells.
    body = json.dumps({"schemaVersion": 2, "manifests": []}).encode()
    assert mf.parse(body, "application/vnd.docker.distribution.manifest.list.v2+json")[0] == mf.DOCKER_LIST
    assert mf.parse(body)[0] == mf.OCI_INDEX


@pytest.mark.parametrize("body,error,message", [
    (b"{", PullError, "not valid JSON"),
    (b"[]", PullError, "not a JSON object"),
    (json.dumps({"schemaVersion": 1, "fsLayers": []}).encode(), UnsupportedMediaType, "schema 1"),
    (json.dumps({"schemaVersion": 2, "mediaType": "text/html"}).encode(), UnsupportedMediaType, "text/html"),
    (manifest(layers=[{"digest": "sha256:xyz", "size": 1}]), PullError, "invalid digest"),
    (manifest(layers=[{"digest": D, "size": -1}]), PullError, "invalid size"),
    (manifest(layers=[{"digest": D, "size": True}]), PullError, "invalid size"),
    (manifest(config=None), PullError, "config"),
    (manifest(layers=[desc("1")] * 300), PullError, "at most 256"),
])
def test_bad_manifests(body, error, message):
    with pytest.raises(error) as e:
        mf.parse(body)
    assert message in str(e.value)


def test_layer_media_types():
    assert mf.layer_compression({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip"}) == "gzip"
    assert mf.layer_compression({"mediaType": "application/vnd.oci.image.layer.v1.tar+zstd"}) == "zstd"
    assert mf.layer_compression({"mediaType": "application/vnd.docker.image.rootfs.diff.tar"}) == ""
    with pytest.raises(UnsupportedMediaType) as e:
        mf.layer_compression({"mediaType": "application/vnd.oci.image.layer.v1.tar+bzip2", "digest": D})
    assert "unsupported layer media type" in str(e.value) and D in str(e.value)


def test_config_keeps_the_runtime_part_and_checks_diff_ids():
    body = json.dumps({"architecture": "amd64", "os": "linux", "created": "2024-01-02T03:04:05.123456789Z",
                       "config": {"Entrypoint": ["/bin/sh"], "Cmd": ["-c", "x"], "Env": ["A=1"],
                                  "WorkingDir": "/w", "User": "33:33", "Volumes": None},
                       "rootfs": {"type": "layers", "diff_ids": [D]}}).encode()
    info = mf.parse_config(body, 1)
    assert info["config"] == {"Entrypoint": ["/bin/sh"], "Cmd": ["-c", "x"], "Env": ["A=1"],
                              "WorkingDir": "/w", "User": "33:33"}
    assert info["diff_ids"] == [D] and info["platform"] == {"os": "linux", "architecture": "amd64"}
    with pytest.raises(PullError, match="one digest per layer"):
        mf.parse_config(body, 2)
