"""`kubenexus bench` runs and prints its figures (timings are never asserted)."""

from __future__ import annotations

import re

from click.testing import CliRunner

from kubenexus.bench import run_bench
from kubenexus.cli import main
from kubenexus.config import parse_config


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


def test_bench_spark_prints_drivers_executors_and_reserved_slots() -> None:
    args = ["--workload", "spark", "--nodes", "40", "--pods", "50", "--apps", "12", "--repeat", "2"]
    result = CliRunner().invoke(main, ["bench", *args])
    assert result.exit_code == 0, result.output
    out = result.output
    assert "40 nodes, 50 pods + 12 Spark apps (2-16 executors each), workload=spark" in out
    assert re.search(r"drivers\s+median [\d,]+ admitted/s \(runs: [\d,]+, [\d,]+\)", out)
    assert re.search(r"executors\s+median [\d,]+ bound/s \(runs: [\d,]+, [\d,]+\)", out)
    slots = re.search(
        r"reserved slots\s+(\d+) of (\d+) executors .* \(100\.0 %\), (\d+) created", out
    )
    assert slots is not None, out
    assert int(slots[1]) == int(slots[2]) == int(slots[3]) >= 12 * 2
    assert "drivers waited  0 of 12 waited for room, 12 admitted" in out


def test_bench_spark_counts_outcomes_with_room() -> None:
    report = run_bench(nodes=40, pods=50, workload="spark", apps=12, repeat=1)
    spark = report.runs[0].spark
    assert spark is not None
    assert spark.drivers_admitted == 12
    assert spark.drivers_waited == 0
    assert 12 * 2 <= spark.executors <= 12 * 16
    assert spark.executors_bound == spark.on_reserved_slot == spark.executors
    assert report.runs[0].scheduled == 50 + 12 + spark.executors
    assert report.runs[0].unschedulable == 0


def test_bench_spark_drivers_wait_when_the_cluster_is_too_small() -> None:
    """Two nodes cannot hold 10 applications: drivers wait (refused, not placed without their
    executors' room); the executors of those admitted all land on their reserved slots."""
    report = run_bench(nodes=2, pods=1, workload="spark", apps=10, repeat=1)
    spark = report.runs[0].spark
    assert spark is not None
    assert spark.drivers_waited > 0
    assert 0 < spark.drivers_admitted < 10
    assert spark.drivers_admitted + spark.drivers_waited == 10
    assert spark.executors_bound == spark.on_reserved_slot == spark.executors > 0
    assert report.runs[0].unschedulable == spark.drivers_waited


def test_bench_spark_reserved_share_is_counted_not_assumed() -> None:
    """Without the ResourceReservation plugin, drivers and executors are ordinary pods: none of
    the executors is counted on a reserved slot."""
    config = parse_config(
        {
            "apiVersion": "kubescheduler.config.k8s.io/v1",
            "kind": "KubeSchedulerConfiguration",
            "profiles": [
                {"plugins": {"multiPoint": {"disabled": [{"name": "ResourceReservation"}]}}}
            ],
        }
    )
    report = run_bench(nodes=40, pods=50, workload="spark", apps=12, repeat=1, config=config)
    spark = report.runs[0].spark
    assert spark is not None
    assert spark.drivers_admitted == 12
    assert spark.executors_bound == spark.executors > 0
    assert spark.on_reserved_slot == 0


def test_bench_spark_rejects_options_of_other_workloads() -> None:
    result = CliRunner().invoke(main, ["bench", "--workload", "spark", "--gang-size", "3"])
    assert result.exit_code == 2
    assert "--workload spark" in result.output
