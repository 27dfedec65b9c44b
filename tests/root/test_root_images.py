"""A pod that runs an image, as root (no user namespace): the same start path."""
from imagepods import busybox_image, image_dir, registry  # noqa: F401 (fixtures)
from podtest import nspod


def test_root_pod_runs_image(pods, registry, image_dir):
    image = registry.push("test/rootbox", "v1", busybox_image({"User": "www", "WorkingDir": "/data"}))
    ref = f"{registry.netloc}/test/rootbox:v1"
    pods.run(f"""
    apiVersion: v1
    kind: Pod
    metadata: {{name: img-rootpod}}
    spec:
      containers:
      - name: app
        image: "{ref}"
        command: [sleep, "60"]
    """)
    st = pods.status("img-rootpod", "app")
    assert "running" in st["state"], st
    assert st["imageID"] == f"{registry.netloc}/test/rootbox@{image.digest}"

    def sh(script):
        return nspod("exec", "img-rootpod", "--", "/bin/sh", "-c", script).stdout

    assert sh("cat /etc/image-file; test -e /etc/debian_version || echo no-host") == "from the image\nno-host\n"
    assert sh("test -e /etc/gone || echo hidden") == "hidden\n"
    assert sh("stat -c %u:%g /data/owned") == "33:33\n"
    assert sh("cat /proc/1/status | grep ^Uid") .split()[1] == "33"  # the image's User
    nspod("rm", "-f", "img-rootpod")
