"""Break tests for the cpuset hook (issue 16): inputs it should refuse or survive, and
the "nothing written" promise. Each test fails against the code as built."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from kubenexus.node.hook import run
from tests.node.hosts import FakeSysfs, cgroup_tree, oci_state

GIB = 2**30


@pytest.fixture
def sysfs(tmp_path: Path) -> Path:
    """Two zones: CPUs 0-7 (node 0) and 8-15 (node 1)."""
    return FakeSysfs(tmp_path).node(0, "0-7", 8 * GIB).node(1, "8-15", 8 * GIB).build()


def hook(stdin: str, *options: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = run(list(options), io.StringIO(stdin))
    return code, capsys.readouterr().err.strip()


# int() accepts all of these; none is a zone list as the scheduler writes it ("0" or "0,1").
# "0_1" is the label spelling of the list 0,1 (api/topology.py) and int() reads it as zone 1.
@pytest.mark.parametrize("zones", ["0_1", "+1", "\u0661"])
def test_malformed_zones_annotation_is_refused(
    tmp_path: Path, sysfs: Path, zones: str, capsys: pytest.CaptureFixture[str]
) -> None:
    cgroup, path, leaf = cgroup_tree(tmp_path, 2, "cgroupfs")
    state = oci_state(tmp_path, {"cpu-set": "8-9", "numa.kubenexus.io/zones": zones}, path)
    code, err = hook(state, "--cgroup-root", str(cgroup), "--sysfs-root", str(sysfs), capsys=capsys)
    assert code == 1, (
        f"zones {zones!r} accepted; cpuset.mems={(leaf / 'cpuset.mems').read_text()!r}"
    )
    assert "numa.kubenexus.io/zones" in err


def test_a_failed_mems_write_leaves_cpus_unwritten(
    tmp_path: Path, sysfs: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """docs: anything wrong "exits 1 ... and writes nothing". A cgroup whose cpuset.mems cannot
    be written (here: absent; on a host: the kernel refusing the value) still gets cpuset.cpus."""
    cgroup, path, leaf = cgroup_tree(tmp_path, 2, "cgroupfs")
    (leaf / "cpuset.mems").unlink()
    state = oci_state(tmp_path, {"cpu-set": "0-1", "numa.kubenexus.io/zones": "0"}, path)
    code, err = hook(state, "--cgroup-root", str(cgroup), "--sysfs-root", str(sysfs), capsys=capsys)
    assert code == 1
    assert "cpuset.mems" in err
    assert (leaf / "cpuset.cpus").read_text() == "", "cpuset.cpus was written before mems failed"


def test_the_error_line_of_a_long_annotation_is_bounded(
    tmp_path: Path, sysfs: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A pod may carry ~256 KiB of annotations; the refusal quotes the whole value, so the
    runtime's error (and the pod's Events) get a line hundreds of KiB long. (Parsing such a value
    also takes the hook ~12 s here with 30000 ranges of 0-8191: over its 5 s runtime timeout.)"""
    cgroup, path, _ = cgroup_tree(tmp_path, 2, "cgroupfs")
    state = oci_state(tmp_path, {"cpu-set": ",".join(["64"] * 20000)}, path)
    code, err = hook(state, "--cgroup-root", str(cgroup), "--sysfs-root", str(sysfs), capsys=capsys)
    assert code == 1
    assert len(err) < 2000, f"error line is {len(err)} characters"


def test_an_empty_systemd_slice_is_system_slice_as_runc_reads_it(
    tmp_path: Path, sysfs: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """runc (and runsc, crun) place ``:prefix:name`` in ``system.slice`` (their default parent);
    the hook looks for the scope at the cgroup root and refuses the container."""
    cgroup = tmp_path / "cgroup"
    leaf = cgroup / "system.slice" / "cri-containerd-c1.scope"
    leaf.mkdir(parents=True)
    (cgroup / "cgroup.controllers").write_text("cpuset cpu memory\n")
    for name in ("cpuset.cpus", "cpuset.mems"):
        (leaf / name).write_text("")
    state = oci_state(tmp_path, {"cpu-set": "0-1"}, ":cri-containerd:c1")
    code, err = hook(state, "--cgroup-root", str(cgroup), "--sysfs-root", str(sysfs), capsys=capsys)
    assert (code, err) == (0, "")
    assert (leaf / "cpuset.cpus").read_text() == "0-1"
