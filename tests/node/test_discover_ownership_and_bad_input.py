"""Node discovery removes only keys it wrote (hand-written bandwidth and GPU zones stay), treats
an odd SMT file as a warning, keeps its --interval loop alive through any error, refuses sysfs
the scheduler would refuse to read, and reads nvidia-smi's underlined header."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from kubenexus.api.topology import topology_from_labels
from kubenexus.cli import main
from kubenexus.node.discover import (
    Discovery,
    DiscoveryError,
    desired_annotations,
    desired_labels,
    discover,
    node_patch,
    parse_topo_matrix,
)
from kubenexus.node.publish import publish_loop
from kubenexus.node.sysfs import SysfsError
from tests.node.hosts import FakeSysfs
from tests.node.test_discover import two_zone_host

GIB = 2**30
N = "numa.kubenexus.io/"


def test_discovery_keeps_the_hand_written_bandwidth_the_scheduler_reads(tmp_path: Path) -> None:
    """docs/numa.md documents node-N-bandwidth as a key written by hand (discovery cannot know
    it) and the scheduler reads it: discovery leaves it alone."""
    found = discover(str(two_zone_host(tmp_path)), nvidia_smi=None)
    node = {
        "metadata": {
            "labels": dict(desired_labels(found)),
            "annotations": {**desired_annotations(found), f"{N}node-0-bandwidth": "102400"},
        }
    }
    patch = node_patch(node, found)
    assert patch is None, f"discovery would send {patch}"


def _bad_smt_file(tmp_path: Path) -> Path:
    root = two_zone_host(tmp_path)
    (root / "devices/system/cpu/cpu0/topology/thread_siblings_list").write_text("0-1,x\n")
    return root


def test_a_gpu_zone_written_by_hand_for_a_gpu_discovery_cannot_see_stays(tmp_path: Path) -> None:
    """gpu2-numa for a GPU outside the device table: discovery never wrote it (its record lists
    GPUs 0-1), so it stays; gpu1-numa, which it wrote, is corrected."""
    found = discover(str(two_zone_host(tmp_path)), nvidia_smi=None)
    labels = {**desired_labels(found), "gpu.kubenexus.io/gpu2-numa": "1"}
    labels["gpu.kubenexus.io/gpu1-numa"] = "0"
    node = {"metadata": {"labels": labels, "annotations": desired_annotations(found)}}
    assert node_patch(node, found) == {"metadata": {"labels": {"gpu.kubenexus.io/gpu1-numa": "1"}}}


def test_an_unreadable_smt_file_is_a_warning(tmp_path: Path) -> None:
    """SMT is shown only: an odd thread_siblings_list is a warning naming the file, and the
    zones are still printed and published."""
    root = _bad_smt_file(tmp_path)
    result = CliRunner().invoke(
        main, ["node", "discover", "--sysfs-root", str(root), "--nvidia-smi", "", "-o", "json"]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["threadsPerCore"] is None
    assert [z["cpus"] for z in data["zones"]] == ["0-15,32-47", "16-31,48-59"]
    [warning] = data["warnings"]
    assert warning.startswith("threads per core unknown: ")
    assert "cpu0/topology/thread_siblings_list: invalid CPU list '0-1,x'" in warning
    table = CliRunner().invoke(main, ["node", "discover", "--sysfs-root", str(root)])
    assert table.exit_code == 0
    assert "? thread(s) per core" in table.output
    assert "warning: threads per core unknown: " in table.output


def test_a_bad_smt_file_still_publishes_the_zones(tmp_path: Path) -> None:
    root = _bad_smt_file(tmp_path)
    found = discover(str(root), nvidia_smi=None)
    assert len(found.warnings) == 1
    assert desired_annotations(found)[f"{N}node-1-cpus"] == "16-31,48-59"


def _failing(error: Exception, calls: list[int]) -> Any:
    def read() -> Discovery:
        calls.append(1)
        raise error

    return read


@pytest.mark.parametrize(
    ("error", "line"),
    [
        (DiscoveryError("/sys/x: cannot read"), "error: /sys/x: cannot read"),
        # No KubeNexusError: a bug, or an error from code that forgot to wrap it.
        (SysfsError("/sys/y: odd"), "error: unexpected SysfsError: /sys/y: odd"),
        (KeyError("z"), "error: unexpected KeyError: 'z'"),
    ],
)
def test_the_publish_loop_survives_any_error(error: Exception, line: str) -> None:
    """Once (--interval 0): the error is one line and the exit code 1. Every N seconds: the
    loop reports it and tries again, round after round."""
    client: Any = None  # never reached: discovery fails first
    lines: list[str] = []
    calls: list[int] = []
    once = publish_loop(
        client, "n1", _failing(error, calls), what="labels", interval=0, report=lines.append
    )
    assert asyncio.run(once) == 1
    assert lines == [line]

    async def rounds() -> None:
        task = asyncio.create_task(
            publish_loop(
                client, "n1", _failing(error, calls), what="labels", interval=0.01, report=print
            )
        )
        while len(calls) < 4:
            await asyncio.sleep(0.01)
            assert not task.done()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(rounds())


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("meminfo", "Node 1 MemTotal:  -5 kB\n"),  # int() takes the sign
        ("cpulist", "3-7\n"),  # overlaps node 0's 0-3
    ],
)
def test_discovery_never_publishes_a_topology_the_scheduler_rejects(
    tmp_path: Path, name: str, content: str
) -> None:
    """Garbage or odd sysfs would make the scheduler ignore the node's whole topology ("must be
    positive", "already in another zone"): discovery refuses it, naming the file."""
    root = FakeSysfs(tmp_path).node(0, "0-3", 8 * GIB).node(1, "4-7", 8 * GIB).build()
    (root / f"devices/system/node/node1/{name}").write_text(content)
    with pytest.raises(DiscoveryError, match=f"node1/{name}: "):
        discover(str(root), nvidia_smi=None)


def test_a_host_the_scheduler_cannot_read_is_refused(tmp_path: Path) -> None:
    """The last check is the scheduler's own reader: 65 zones is more than it takes."""
    host = FakeSysfs(tmp_path)
    for node in range(65):
        host.node(node, str(node), GIB)
    with pytest.raises(DiscoveryError, match=r"the scheduler refuses .*between 1 and 64"):
        discover(str(host.build()), nvidia_smi=None)
    found = discover(str(FakeSysfs(tmp_path / "ok").node(0, "0", GIB).build()), nvidia_smi=None)
    assert topology_from_labels(desired_labels(found), desired_annotations(found)) is not None


def _topo_matrix(gpus: int, link: Any, underlined: bool) -> str:
    """``nvidia-smi topo -m`` as the driver prints it: the header row is underlined with ANSI
    escapes (``\\x1b[4m`` … ``\\x1b[0m``), even into a pipe."""
    on, off = ("\x1b[4m", "\x1b[0m") if underlined else ("", "")
    names = "\t".join(f"GPU{i}" for i in range(gpus))
    text = f"\t{on}{names}\tCPU Affinity\tNUMA Affinity\tGPU NUMA ID{off}\n"
    for i in range(gpus):
        cells = "\t".join(" X " if i == j else link(i, j) for j in range(gpus))
        text += f"GPU{i}\t{cells}\t0-63\t0\t\tN/A\n"
    return text


def test_nvidia_smi_underlined_header_is_read() -> None:
    """ANSI escapes are dropped before parsing: the header row (and so every column) is found
    even with the underline's escape right before GPU0."""
    hgx = parse_topo_matrix(_topo_matrix(8, lambda i, j: "NV18", underlined=True))
    assert hgx is not None
    assert hgx.kind == "nvswitch"
    pairs = parse_topo_matrix(
        _topo_matrix(
            4, lambda i, j: "NV4" if {i, j} in ({0, 1}, {2, 3}) else "SYS", underlined=True
        )
    )
    assert pairs is not None
    assert pairs.pairs == {(0, 1), (2, 3)}
