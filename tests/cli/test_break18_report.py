"""Break test (issue 18): `simulate --report` on a cluster of a realistic size."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from kubenexus.report import render_report
from kubenexus.scheduler.cache import ClusterCache
from kubenexus.simulator import simulate


def _cluster(path: Path, nodes: int, pods: int) -> Path:
    docs = [
        f"apiVersion: v1\nkind: Node\nmetadata: {{name: pool-{i:03d}}}\n"
        'status: {allocatable: {cpu: "64", memory: 256Gi, pods: "110"}}\n'
        for i in range(nodes)
    ]
    docs += [
        f"apiVersion: v1\nkind: Pod\nmetadata: {{name: p-{i:05d}, namespace: default}}\n"
        "spec:\n  containers:\n  - name: c\n"
        "    resources: {requests: {cpu: 100m, memory: 128Mi}}\n"
        for i in range(pods)
    ]
    path.write_text("---\n".join(docs))
    return path


def test_the_report_reads_each_nodes_pods_a_bounded_number_of_times(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The gang table looks every pod of the run up with find_pod, which walks the queue and
    every pod of every node: quadratic in the pods. Measured (500 nodes): 5,000 pods add 2.6 s
    to the run, 15,000 pods 79 s; a 500-node cluster holds up to 55,000. Here, 60 nodes and
    600 pods: the report asks for a node's pods thousands of times, where a few per node do."""
    result = simulate(_cluster(tmp_path / "c.yaml", 60, 600))
    calls = 0
    pods_on = ClusterCache.pods_on

    def counted(self: ClusterCache, node: str) -> object:
        nonlocal calls
        calls += 1
        return pods_on(self, node)

    monkeypatch.setattr(ClusterCache, "pods_on", counted)
    render_report(result)
    assert calls <= 5 * 60, f"{calls} reads of a node's pods for 60 nodes"


def test_a_single_pool_of_500_nodes_starts_folded(tmp_path: Path) -> None:
    """docs/explain.md: 'a group of more than 60 nodes starts folded, so 500 nodes read in one
    screen'. A homogeneous cluster (one pool, one shape: the common case) makes one group,
    and a lone group is always opened: 500 cards at once."""
    from tests.cli.test_report import _browser, _chromium  # noqa: PLC0415

    browser = _browser()
    result = simulate(_cluster(tmp_path / "c.yaml", 500, 50))
    page = tmp_path / "report.html"
    page.write_text(render_report(result))
    dom = _chromium(browser, "--dump-dom", page.as_uri())
    groups = re.findall(r'<details class="group"[^>]*>', dom)
    assert len(groups) == 1
    assert "open" not in groups[0]
