"""``kubenexus bench --e2e`` on a real control plane: each contestant binds every pod, and the
figures come from where they say (the server's request counts, the processes' own /proc).
Nothing here asserts on speed: the benchmark prints it."""

from __future__ import annotations

import pytest

from kubenexus.shell.bench_real import render_real, run_real
from tests.realk8s.controlplane import NO_KUBE_SCHEDULER, assets_folder


async def test_the_three_contestants_bind_every_pod_and_are_measured() -> None:
    assets = assets_folder()
    if assets is None or not (assets / "kube-scheduler").is_file():
        pytest.skip(NO_KUBE_SCHEDULER)
    report = await run_real(nodes=20, pods=60, compare=True, qps=1000, burst=2000)
    by = {run.contestant: run for run in report.runs}
    assert sorted(by) == ["bind-only", "kube-scheduler", "kubenexus"]
    for run in report.runs:
        assert run.bound == 60, run
        assert 0 < run.first_bind <= run.last_bind
        assert run.cpu_seconds > 0
        assert run.peak_rss_bytes > 10 * 2**20
        assert run.calls_by_kind["POST pods/binding"] == 60
    ours = by["kubenexus"]
    # One Binding per pod carries the placement: no PATCH of the pod, no status write for a
    # pod that was never unschedulable.
    assert not any(kind.startswith("PATCH pods") for kind in ours.calls_by_kind)
    assert (ours.events_posted, ours.events_dropped) == (60, 0)
    assert ours.calls_by_kind["POST events"] == 60
    assert by["bind-only"].calls_by_kind.get("POST events", 0) == 0
    text = render_real(report)
    assert "kubenexus / bind-only ceiling: binds/s x" in text
    assert "kubenexus / kube-scheduler: binds/s x" in text
