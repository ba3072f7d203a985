"""`kubenexus bench` runs and prints its figures (timings are never asserted)."""

from __future__ import annotations

import re

from click.testing import CliRunner

from kubenexus.cli import main


def test_bench_prints_throughput_latency_and_memory() -> None:
    result = CliRunner().invoke(
        main, ["bench", "--nodes", "50", "--pods", "200", "--repeat", "2", "--workload", "mixed"]
    )
    assert result.exit_code == 0, result.output
    out = result.output
    assert "50 nodes, 200 pods, workload=mixed, 2 run(s)" in out
    assert re.search(r"throughput\s+median [\d,]+ pods/s \(runs: [\d,]+, [\d,]+\)", out)
    assert re.search(r"latency p50\s+median [\d,]+ µs", out)
    assert re.search(r"latency p99\s+median [\d,]+ µs", out)
    placed = re.search(r"placed\s+(\d+) scheduled, (\d+) unschedulable", out)
    assert placed is not None
    assert int(placed[1]) + int(placed[2]) == 200
    assert re.search(r"peak RSS\s+[\d,]+ MiB", out)


def test_bench_rejects_nonsense_sizes() -> None:
    result = CliRunner().invoke(main, ["bench", "--nodes", "0"])
    assert result.exit_code == 2
    assert "--nodes" in result.output
