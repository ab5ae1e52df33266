"""A real Docker engine for tests, and a tiny local bot image (no registry: built with `docker import`).

Fixtures (register with `pytest_plugins = ["tests.fakes.docker_engine"]`, or import them in a test module):
    docker_engine  (session) a docker SDK client on a running engine; starts `dockerd --storage-driver=vfs`
                   when the binary is there and no engine answers; skips with the reason when none can run
    tiny_image     (session) "hbmesh/tiny-bot:test": a busybox rootfs, enough for `sh`, `cat`, `sleep`

CI needs `docker.io` (dockerd) and `busybox-static` (a static busybox for the image) from Debian.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import tarfile
import time
from pathlib import Path

import pytest

TINY_IMAGE = "hbmesh/tiny-bot:test"
SOCKET = Path("/var/run/docker.sock")
# A container that runs until stopped and exits at once on SIGTERM (PID 1 ignores signals without a trap).
IDLE_COMMAND = ["sh", "-c", "trap 'exit 0' TERM; while :; do sleep 1 & wait $!; done"]


def _client():
    import docker

    c = docker.from_env(timeout=60)
    c.ping()
    return c


def _start_dockerd() -> str | None:
    """Start dockerd in the background; returns why it could not, or None."""
    dockerd = shutil.which("dockerd")
    if dockerd is None:
        return "no Docker engine answers and dockerd is not installed (apt-get install docker.io)"
    if os.geteuid() != 0:
        return "no Docker engine answers and starting dockerd needs root"
    log = open("/tmp/hbmesh-dockerd.log", "ab")  # noqa: SIM115 - the daemon keeps it open
    subprocess.Popen([dockerd, "--storage-driver=vfs"], stdout=log, stderr=log, start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # daemon start-up, not test synchronisation
        try:
            _client()
            return None
        except Exception:  # noqa: BLE001
            time.sleep(0.25)
    return f"dockerd did not come up within 60 s; see /tmp/hbmesh-dockerd.log: {Path('/tmp/hbmesh-dockerd.log').read_text()[-500:]}"


@pytest.fixture(scope="session")
def docker_engine():
    try:
        import docker  # noqa: F401
    except ImportError:
        pytest.skip("the docker SDK is not installed")
    try:
        client = _client()
    except Exception:  # noqa: BLE001
        reason = _start_dockerd()
        if reason:
            pytest.skip(reason)
        client = _client()
    yield client
    client.close()


def _busybox() -> str | None:
    for candidate in ("/bin/busybox", "/usr/bin/busybox"):
        if Path(candidate).is_file():
            out = subprocess.run(["file", "-L", candidate], capture_output=True, text=True).stdout \
                if shutil.which("file") else "statically linked"
            if "statically linked" in out or "static-pie" in out:
                return candidate
    return None


@pytest.fixture(scope="session")
def tiny_image(docker_engine) -> str:
    import docker.errors

    try:
        docker_engine.images.get(TINY_IMAGE)
        return TINY_IMAGE
    except docker.errors.ImageNotFound:
        pass
    busybox = _busybox()
    if busybox is None:
        pytest.skip("no statically linked busybox to build the test image (apt-get install busybox-static)")
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for d in ("bin", "tmp", "home/hummingbot"):
            info = tarfile.TarInfo(d)
            info.type, info.mode = tarfile.DIRTYPE, 0o1777 if d == "tmp" else 0o755
            tar.addfile(info)
        tar.add(busybox, arcname="bin/busybox")
        for applet in ("sh", "cat", "sleep", "ls", "env", "test", "echo"):
            link = tarfile.TarInfo(f"bin/{applet}")
            link.type, link.linkname = tarfile.SYMTYPE, "busybox"
            tar.addfile(link)
    repo, tag = TINY_IMAGE.split(":")
    docker_engine.api.import_image_from_data(buf.getvalue(), repository=repo, tag=tag)
    docker_engine.images.get(TINY_IMAGE)
    return TINY_IMAGE
