"""Real podman for the container workspace tests, without a registry: an image made of the host's
``sh`` and a few tools with their libraries, plus a marker file only the image has, ``podman
import``-ed into a store of the test session's own.

The podman settings are what this machine needs (a VM without systemd, with cgroups v1 and v2
mixed: runc rather than crun, cgroupfs, the vfs storage driver, ulimits within the VM's limits); on
a usual host podman's defaults do. Where podman is not installed the tests using ``podman_here``
are skipped, saying so (``apt-get install podman runc``).
"""

from __future__ import annotations

import secrets
import shutil
import subprocess
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

IMAGE = "localhost/fleetport-workspace-test:latest"
NO_SLEEP = "localhost/fleetport-workspace-test:no-sleep"  # its sleep is true: it exits at once
MARKER = "/etc/fleetport-image-marker"
TOOLS = ("sh", "sleep", "cat", "wc", "uname", "pwd", "ls", "ln", "mkdir", "true", "hostname")
RUN_OPTIONS = ("--network=none", "--ulimit=nofile=1024:1024", "--ulimit=nproc=1024:1024")


@dataclass
class Podman:
    marker: str  # what MARKER holds in the image

    def names(self) -> list[str]:
        return podman("ps", "--all", "--format", "{{.Names}}").split()


def podman(*args: str) -> str:
    done = subprocess.run(["podman", *args], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"podman {args[0]}: {done.stderr}"
    return done.stdout.strip()


def make_rootfs(root: Path, marker: str, sleep_is_true: bool = False) -> None:
    """The host's tools and the libraries they load, copied into ``root``."""
    for tool in TOOLS:
        found = shutil.which(tool)
        assert found, f"{tool} is not on this machine"
        (root / "bin").mkdir(parents=True, exist_ok=True)
        source = shutil.which("true") if tool == "sleep" and sleep_is_true else found
        shutil.copy(str(source), root / "bin" / tool)
        libraries = subprocess.run(["ldd", found], capture_output=True, text=True).stdout
        for word in libraries.split():
            if word.startswith("/") and Path(word).exists():
                target = root / word.lstrip("/")
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy(word, target)
    for directory in ("etc", "root", "tmp", "proc", "sys", "dev"):
        (root / directory).mkdir(exist_ok=True)
    (root / MARKER.lstrip("/")).write_text(marker + "\n")


@pytest.fixture(scope="session")
def podman_here(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Podman]:
    """Podman with a store of this session's own, holding the test images."""
    if shutil.which("podman") is None:
        pytest.skip("podman is not installed (apt-get install podman runc)")
    base = tmp_path_factory.mktemp("podman")
    engine = 'runtime = "runc"\n' if shutil.which("runc") else ""
    (base / "containers.conf").write_text(
        f'[engine]\n{engine}cgroup_manager = "cgroupfs"\ntmp_dir = "{base / "tmp"}"\n'
    )
    (base / "storage.conf").write_text(
        f'[storage]\ndriver = "vfs"\ngraphroot = "{base / "graph"}"\nrunroot = "{base / "run"}"\n'
    )
    marker = secrets.token_hex(8)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CONTAINERS_CONF", str(base / "containers.conf"))
        patch.setenv("CONTAINERS_STORAGE_CONF", str(base / "storage.conf"))
        for image, sleep_is_true in ((IMAGE, False), (NO_SLEEP, True)):
            root = base / f"rootfs-{sleep_is_true}"
            make_rootfs(root, marker, sleep_is_true)
            with tarfile.open(base / "rootfs.tar", "w") as tar:
                tar.add(root, arcname=".")
            podman("import", str(base / "rootfs.tar"), image)
        try:
            yield Podman(marker)
        finally:
            subprocess.run(["podman", "rm", "--all", "--force"], capture_output=True, timeout=120)


def podman_options(image: str = IMAGE) -> list[str]:
    """The agent's options for workspaces that are podman containers of ``image``."""
    runs = [f"--workspace-run-option={option}" for option in RUN_OPTIONS]
    return ["--workspace-runtime", "podman", "--workspace-image", image, *runs]
