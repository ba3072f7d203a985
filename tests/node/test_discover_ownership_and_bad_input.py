"""Break tests for node discovery and the hook installer (issue 16). Each fails against the code
as built."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from kubenexus.api.topology import topology_from_labels
from kubenexus.cli import main
from kubenexus.node import install
from kubenexus.node.build import NAME
from kubenexus.node.discover import (
    desired_annotations,
    desired_labels,
    discover,
    node_patch,
    parse_topo_matrix,
)
from kubenexus.node.publish import publish_loop
from tests.node.hosts import FakeSysfs
from tests.node.test_discover import two_zone_host

GIB = 2**30
N = "numa.kubenexus.io/"


def test_discovery_keeps_the_hand_written_bandwidth_the_scheduler_reads(tmp_path: Path) -> None:
    """docs/numa.md documents node-N-bandwidth as a key written by hand (discovery cannot know
    it) and the scheduler reads it; discovery's "owned" pattern node-<N>-<anything> deletes it
    every round."""
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


def test_an_unreadable_smt_file_is_a_clear_error_not_a_traceback(tmp_path: Path) -> None:
    """SMT is "shown only", yet one odd thread_siblings_list raises SysfsError, which is no
    KubeNexusError: the CLI dies with a traceback instead of "error: <file>: ..." (exit 2)."""
    root = _bad_smt_file(tmp_path)
    result = CliRunner().invoke(main, ["node", "discover", "--sysfs-root", str(root)])
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(
        result.exception
    )
    assert result.exit_code == 2
    assert "thread_siblings_list" in result.output


def test_the_publish_loop_survives_an_unreadable_smt_file(tmp_path: Path) -> None:
    """publish_loop catches KubeNexusError only: the DaemonSet's loop (--interval=300) dies on
    the SysfsError instead of reporting it and retrying."""
    root = _bad_smt_file(tmp_path)
    lines: list[str] = []
    client: Any = None  # never reached: discovery fails first
    code = asyncio.run(
        publish_loop(
            client,
            "n1",
            lambda: discover(str(root), nvidia_smi=None),
            what="labels",
            interval=0,
            report=lines.append,
        )
    )
    assert code == 1
    assert lines
    assert lines[0].startswith("error:")


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
    """Garbage or odd sysfs is published as is, and the scheduler then ignores the node's whole
    topology ("must be positive"): discovery should refuse (or leave the zone out) instead."""
    root = FakeSysfs(tmp_path).node(0, "0-3", 8 * GIB).node(1, "4-7", 8 * GIB).build()
    (root / f"devices/system/node/node1/{name}").write_text(content)
    try:
        found = discover(str(root), nvidia_smi=None)
    except Exception:  # refusing is fine
        return
    topology_from_labels(desired_labels(found), desired_annotations(found))


def test_the_hook_is_never_missing_while_a_new_build_is_installed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """install.py: "a container starting meanwhile runs the old or the new one" — but between
    renaming the old directory away and the new one in, the hook path does not exist, and
    containerd/CRI-O fail every container start that happens then."""
    host = tmp_path / "host"
    for version in ("v1", "v2"):
        source = tmp_path / version
        source.mkdir()
        (source / NAME).write_text(version)
    install.install_hook(tmp_path / "v1", host, [])
    program = host / install.HOOK_PATH.lstrip("/")
    gaps: list[str] = []
    real_replace = os.replace

    def watching(src: Any, dst: Any) -> None:
        real_replace(src, dst)
        if not program.exists():
            gaps.append(f"after {Path(src).name} -> {Path(dst).name}")

    monkeypatch.setattr(os, "replace", watching)
    install.install_hook(tmp_path / "v2", host, [])
    monkeypatch.undo()
    assert program.read_text() == "v2"
    assert gaps == [], f"no hook at {install.HOOK_PATH} {gaps}"


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
    """The parser takes the first line matching \\bGPU0\\b as the header; with the escape before
    GPU0 there is no word boundary, so it takes the GPU0 data row instead: columns shift, only
    GPU0's links count, and an 8-GPU NVSwitch board is labelled nvlink."""
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
