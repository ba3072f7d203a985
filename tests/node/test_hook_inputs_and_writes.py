"""The cpuset hook's stricter edges: the zones annotation is digits and commas only, writes are
all or nothing (cpuset.cpus untouched, or put back, when cpuset.mems fails), a huge annotation
costs a short refusal (bounded line, bounded parsing), and ``:prefix:name`` lives in
system.slice as runc places it."""

from __future__ import annotations

import errno
import io
import json
import os
import threading
from pathlib import Path
from typing import Any

import pytest

from kubenexus.node.hook import HookError, run, write_all
from kubenexus.node.sysfs import MAX_LIST_CHARS, MAX_LIST_CPUS, SysfsError, parse_cpus
from tests.node.hosts import FakeSysfs, cgroup_tree, oci_state

GIB = 2**30


@pytest.fixture
def sysfs(tmp_path: Path) -> Path:
    """Two zones: CPUs 0-7 (node 0) and 8-15 (node 1)."""
    return FakeSysfs(tmp_path).node(0, "0-7", 8 * GIB).node(1, "8-15", 8 * GIB).build()


def hook(stdin: str, *options: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = run(list(options), io.StringIO(stdin))
    return code, capsys.readouterr().err.strip()


# int() accepts most of these; none is a zone list as the scheduler writes it ("0" or "0,1").
# "0_1" is the label spelling of the list 0,1 (api/topology.py) and int() reads it as zone 1.
@pytest.mark.parametrize("zones", ["0_1", "+1", "\u0661", "-0", "1,", "", " ", "0;1", "9" * 5000])
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
    """Both files are opened before either is written: a cgroup without cpuset.mems keeps its
    cpuset.cpus as it was."""
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
    """A pod may carry ~256 KiB of annotations; the refusal quotes only the start of the value,
    so the runtime's error (and the pod's Events) stay one short line."""
    cgroup, path, _ = cgroup_tree(tmp_path, 2, "cgroupfs")
    state = oci_state(tmp_path, {"cpu-set": ",".join(["64"] * 20000)}, path)
    code, err = hook(state, "--cgroup-root", str(cgroup), "--sysfs-root", str(sysfs), capsys=capsys)
    assert code == 1
    assert len(err) < 2000, f"error line is {len(err)} characters"


def test_an_empty_systemd_slice_is_system_slice_as_runc_reads_it(
    tmp_path: Path, sysfs: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """runc (and runsc, crun) place ``:prefix:name`` in ``system.slice`` (their default parent),
    and so does the hook."""
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


def test_cpus_are_put_back_when_the_kernel_refuses_mems(
    tmp_path: Path, sysfs: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The kernel may refuse cpuset.mems (memory nodes outside the parent's) after it took
    cpuset.cpus: the hook writes the old cpuset.cpus back and says so in its one line."""
    cgroup, path, leaf = cgroup_tree(tmp_path, 2, "cgroupfs")
    (leaf / "cpuset.cpus").write_text("8-15\n")
    real_write = os.write

    def kernel(fd: int, data: bytes) -> int:
        if os.readlink(f"/proc/self/fd/{fd}").endswith("cpuset.mems"):
            raise OSError(errno.EINVAL, os.strerror(errno.EINVAL))
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", kernel)
    state = oci_state(tmp_path, {"cpu-set": "0-1", "numa.kubenexus.io/zones": "0"}, path)
    code, err = hook(state, "--cgroup-root", str(cgroup), "--sysfs-root", str(sysfs), capsys=capsys)
    monkeypatch.undo()
    assert code == 1
    assert err == f"cpuset-hook: {leaf}/cpuset.mems: the kernel refused '0' (Invalid argument)"
    assert (leaf / "cpuset.cpus").read_text() == "8-15\n"
    assert (leaf / "cpuset.mems").read_text() == ""


def test_the_hook_writes_both_files_when_both_are_taken(
    tmp_path: Path, sysfs: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cgroup, path, leaf = cgroup_tree(tmp_path, 1, "systemd")
    state = oci_state(tmp_path, {"cpu-set": "8-9", "numa.kubenexus.io/zones": "1"}, path)
    code, err = hook(state, "--cgroup-root", str(cgroup), "--sysfs-root", str(sysfs), capsys=capsys)
    assert (code, err) == (0, "")
    assert (leaf / "cpuset.cpus").read_text() == "8-9"
    assert (leaf / "cpuset.mems").read_text() == "1"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("0," * (MAX_LIST_CHARS // 2 + 1), f"CPU list of {MAX_LIST_CHARS + 2} characters"),
        (",".join(["0-8191"] * 13), f"names more than {MAX_LIST_CPUS} CPUs"),
        ("1" * 5000, "invalid CPU range '1111"),  # past int()'s 4300 digits: no ValueError
        ("99999999999999999999", "invalid CPU range"),
    ],
    ids=["64KiB", "100000-cpus", "5000-digits", "20-digits"],
)
def test_a_cpu_list_is_bounded_before_it_is_parsed(text: str, message: str) -> None:
    with pytest.raises(SysfsError) as refused:
        parse_cpus(text, "annotation cpu-set")
    assert message in str(refused.value)
    assert len(str(refused.value)) < 300


def test_a_huge_cpu_set_is_a_short_refusal(
    tmp_path: Path, sysfs: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cgroup, path, leaf = cgroup_tree(tmp_path, 2, "cgroupfs")
    state = oci_state(tmp_path, {"cpu-set": ",".join(["0-8191"] * 30000)}, path)
    code, err = hook(state, "--cgroup-root", str(cgroup), "--sysfs-root", str(sysfs), capsys=capsys)
    assert code == 1
    assert err.startswith("cpuset-hook: annotation cpu-set: CPU list of 209999 characters")
    assert len(err) < 300
    assert (leaf / "cpuset.cpus").read_text() == ""


def test_no_error_line_is_longer_than_the_limit(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Whatever the message (here: a bundle path of 5000 characters), one line ≤ 1000."""
    state: dict[str, Any] = {"bundle": str(tmp_path / ("b" * 5000))}
    code, err = hook(json.dumps(state), capsys=capsys)
    assert code == 1
    assert len(err) == 1000
    assert err.endswith("…")
    assert "\n" not in err


def test_writes_work_on_a_kernel_seq_file() -> None:
    """cgroup files are kernel seq_files, which refuse pwrite() (ESPIPE): the hook's writes
    must work on one. A thread's own /proc comm is such a file, writable without privileges."""
    outcome: list[str] = []

    def rename_this_thread() -> None:
        path = f"/proc/self/task/{threading.get_native_id()}/comm"
        try:
            write_all([(path, "kn-hook-test")])
            outcome.append(Path(path).read_text().strip())
        except HookError as exc:
            outcome.append(f"refused: {exc}")

    thread = threading.Thread(target=rename_this_thread)
    thread.start()
    thread.join()
    assert outcome == ["kn-hook-test"]
