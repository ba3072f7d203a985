"""The self-contained hook (PyInstaller, one directory) as nodes run it: built once per session,
then fed OCI states like any runtime would. Skipped, saying why, where PyInstaller is missing."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from kubenexus.node.build import build_hook, missing_builder
from tests.node.hosts import FakeSysfs, cgroup_tree, oci_state

MISSING = missing_builder()
pytestmark = pytest.mark.skipif(
    MISSING is not None, reason=f"the hook's executable is not built here: {MISSING}"
)
GIB = 2**30


@pytest.fixture(scope="module")
def program(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_hook(tmp_path_factory.mktemp("dist"), tmp_path_factory.mktemp("build"))


def run(program: Path, stdin: str, *args: str) -> subprocess.CompletedProcess[str]:
    # No PYTHONPATH, no virtualenv: the program must carry everything it needs.
    return subprocess.run(
        [str(program), *args],
        input=stdin,
        capture_output=True,
        text=True,
        check=False,
        env={"PATH": "/usr/bin:/bin"},
        timeout=60,
    )


@pytest.mark.parametrize(("version", "driver"), [(1, "systemd"), (2, "cgroupfs")])
def test_the_built_program_pins_a_container(
    program: Path, tmp_path: Path, version: int, driver: str
) -> None:
    sysfs = FakeSysfs(tmp_path).node(0, "0-3", GIB).node(1, "4-7", GIB).build()
    cgroup, path, leaf = cgroup_tree(tmp_path, version, driver)
    done = run(
        program,
        oci_state(tmp_path, {"cpu-set": "4-5", "numa.kubenexus.io/zones": "1"}, path),
        "--cgroup-root",
        str(cgroup),
        "--sysfs-root",
        str(sysfs),
    )
    assert (done.returncode, done.stderr) == (0, "")
    assert (leaf / "cpuset.cpus").read_text() == "4-5"
    assert (leaf / "cpuset.mems").read_text() == "1"


def test_the_built_program_refuses_in_one_line_and_skips_unannotated(
    program: Path, tmp_path: Path
) -> None:
    sysfs = FakeSysfs(tmp_path).node(0, "0-3", GIB).build()
    cgroup, path, leaf = cgroup_tree(tmp_path, 2, "systemd")
    done = run(
        program,
        oci_state(tmp_path, {"cpu-set": "0-9"}, path),
        "--cgroup-root",
        str(cgroup),
        "--sysfs-root",
        str(sysfs),
    )
    assert done.returncode == 1
    assert (
        done.stderr
        == "cpuset-hook: annotation cpu-set '0-9': CPUs 4-9 are not online on this host (online: 0-3)\n"
    )
    assert (leaf / "cpuset.cpus").read_text() == ""
    skipped = run(program, '{"ociVersion": "1.2.0", "bundle": "/nonexistent", "annotations": {}}')
    assert (skipped.returncode, skipped.stderr) == (0, "")
