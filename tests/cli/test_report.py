"""`kubenexus simulate … --report report.html`: the page's content, and the page as a real
headless browser renders it (Chromium from the distribution's packages; .ci/run installs it)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from kubenexus.cli import main

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
BROWSERS = ("chromium-headless-shell", "chromium", "chromium-browser", "google-chrome")


def _report(tmp_path: Path, cluster: Path, workload: Path | None = None) -> str:
    out = tmp_path / "report.html"
    args = ["simulate", str(cluster), *([str(workload)] if workload else []), "--report", str(out)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.stderr
    return out.read_text()


def test_report_is_self_contained_and_shows_the_run(tmp_path: Path) -> None:
    page = _report(tmp_path, EXAMPLES / "cluster.yaml", EXAMPLES / "numa.yaml")
    # No network: nothing loaded from elsewhere.
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page)
    assert "@import" not in page
    # Each node as a card with bars; numa-b's zones as a grid of CPUs held by named pods.
    assert 'id="node-numa-b"' in page
    assert 'class="zone" data-zone="3"' in page
    assert re.search(r'title="CPU \d+: default/redis-primary"', page)
    # The waiting pod with its reasons, grouped as explain groups them.
    assert "default/too-wide" in page
    assert "no single NUMA node has sufficient capacity (cpu 20 &gt; 8 free in best zone)" in page
    # The gang highlighted with its members.
    assert "default/ml-training-job" in page
    assert 'data-gang="default/ml-training-job"' in page


def test_report_shows_gpus_and_reservations(tmp_path: Path) -> None:
    page = _report(tmp_path, EXAMPLES / "cluster.yaml", EXAMPLES / "gpus.yaml")
    assert re.search(r'<i class="gpu used" title="GPU 0: H100-80GB [^"]*, used">', page)
    page = _report(tmp_path, EXAMPLES / "cluster.yaml", EXAMPLES / "spark.yaml")
    assert "default/spark-pi-driver" in page
    assert 'class="pod slot claimed"' in page


def test_report_to_an_unwritable_path_is_a_one_line_error(tmp_path: Path) -> None:
    target = tmp_path / "missing" / "report.html"
    result = CliRunner().invoke(
        main, ["simulate", str(EXAMPLES / "cluster.yaml"), "--report", str(target)]
    )
    assert result.exit_code == 2
    assert (
        result.stderr.strip()
        == f"error: --report {target}: cannot write: No such file or directory"
    )


def _big_cluster(tmp_path: Path, nodes: int = 500) -> Path:
    """500 nodes in five pools (some with GPUs, some with NUMA zones), pods filling part of
    them, a gang, and pods that fit nowhere."""
    docs: list[dict[str, object]] = []
    for i in range(nodes):
        pool = ("cpu", "mem", "gpu", "numa", "edge")[i % 5]
        labels: dict[str, str] = {"pool": pool}
        annotations: dict[str, str] = {}
        allocatable = {"cpu": "32", "memory": "128Gi", "pods": "110"}
        if pool == "gpu":
            allocatable["nvidia.com/gpu"] = "8"
            labels |= {
                "nvidia.com/gpu.product": "NVIDIA-A100-SXM4-80GB",
                "nvidia.com/gpu.memory": "81920",
                "nvidia.com/gpu.count": "8",
            }
        if pool == "numa":
            labels["numa.kubenexus.io/node-count"] = "2"
            annotations |= {
                "numa.kubenexus.io/node-0-cpus": "0-15",
                "numa.kubenexus.io/node-0-memory": "64Gi",
                "numa.kubenexus.io/node-1-cpus": "16-31",
                "numa.kubenexus.io/node-1-memory": "64Gi",
            }
        if pool == "edge":
            allocatable = {"cpu": "4", "memory": "8Gi", "pods": "10"}
        docs.append(
            {
                "apiVersion": "v1",
                "kind": "Node",
                "metadata": {
                    "name": f"{pool}-{i // 5:03d}",
                    "labels": labels,
                    "annotations": annotations,
                },
                "status": {"allocatable": allocatable},
            }
        )

    def pod(name: str, cpu: str, memory: str, **extra: object) -> dict[str, object]:
        meta: dict[str, object] = {"name": name, "namespace": "default"}
        meta |= extra.pop("meta", {})  # type: ignore[arg-type]
        container = {"name": "c", "resources": {"requests": {"cpu": cpu, "memory": memory}}}
        container |= extra
        return {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": meta,
            "spec": {"containers": [container]},
        }

    docs += [pod(f"web-{i}", "2", "4Gi") for i in range(300)]
    numa = {"annotations": {"scheduling.kubenexus.io/numa-policy": "single-numa-node"}}
    docs += [pod(f"pinned-{i}", "8", "16Gi", meta=numa) for i in range(40)]
    gang = {
        "labels": {
            "pod-group.scheduling.kubenexus.io/name": "train",
            "pod-group.scheduling.kubenexus.io/min-available": "4",
        }
    }
    docs += [pod(f"train-{i}", "16", "32Gi", meta=gang) for i in range(4)]
    docs += [pod(f"huge-{i}", "64", "512Gi") for i in range(3)]
    path = tmp_path / "big.yaml"
    path.write_text(yaml.safe_dump_all(docs))
    return path


def _browser() -> str:
    for name in BROWSERS:
        found = shutil.which(name)
        if found:
            return found
    pytest.skip(
        "no headless Chromium installed (apt-get install chromium-headless-shell; .ci/run does)"
    )


def _chromium(browser: str, *args: str) -> str:
    done = subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return done.stdout


def test_report_renders_in_headless_chromium_at_500_nodes(tmp_path: Path) -> None:
    browser = _browser()
    page = tmp_path / "report.html"
    page.write_text(_report(tmp_path, _big_cluster(tmp_path)))
    # The script ran: nodes are regrouped by pool into one collapsible group per pool.
    dom = _chromium(browser, "--dump-dom", page.as_uri())
    summaries = re.findall(r'<summary>([^<]*)<span class="agg">', dom)
    assert summaries == [
        "cpu (100 nodes)",
        "edge (100 nodes)",
        "gpu (100 nodes)",
        "mem (100 nodes)",
        "numa (100 nodes)",
    ]
    # 100 nodes to a group: folded, the page reads in one screen.
    assert all("open" not in tag for tag in re.findall(r'<details class="group"[^>]*>', dom))
    assert "Waiting pods" in dom
    assert "default/huge-0" in dom
    # Searching (a link may carry it) hides every other node, and groups left empty.
    dom = _chromium(browser, "--dump-dom", page.as_uri() + "#q=numa-042&group=shape")
    shown = re.findall(r'<div class="node" id="node-([^"]+)"', dom)
    assert shown == ["numa-042"]
    visible = re.findall(r'<details class="group"[^>]*><summary>([^<]*)<span', dom)
    assert visible == ["32 cpu · 128Gi (1 node)"]
    # Each group says how full its nodes are; a big group starts folded, a searched one opens.
    assert re.search(r'<span class="agg"> · requested: cpu \d+%, memory \d+%</span>', dom)
    assert re.search(r'<details class="group" [^>]*open', dom)
    # And it paints: a screenshot of a real size.
    shot = tmp_path / "report.png"
    _chromium(browser, "--window-size=1400,1000", f"--screenshot={shot}", page.as_uri())
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert shot.stat().st_size > 20_000
