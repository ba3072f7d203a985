"""`simulate --report` on a cluster of a realistic size: work near-linear in the pods, a big
lone group folded."""

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
    """The report indexes the run's pods once (by name), so each node's pods are read a few
    times, not once per pod looked up (which was quadratic: 15,000 pods on 500 nodes took
    79 s). Here, 60 nodes and 600 pods."""
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
    screen' — a homogeneous cluster's lone group of 500 too."""
    from tests.cli.test_report import _browser, _chromium  # noqa: PLC0415

    browser = _browser()
    result = simulate(_cluster(tmp_path / "c.yaml", 500, 50))
    page = tmp_path / "report.html"
    page.write_text(render_report(result))
    dom = _chromium(browser, "--dump-dom", page.as_uri())
    groups = re.findall(r'<details class="group"[^>]*>', dom)
    assert len(groups) == 1
    assert "open" not in groups[0]
