"""`kubenexus bench` runs and prints its figures (timings are never asserted)."""

from __future__ import annotations

import random
import re
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from kubenexus.api.gpu import SOURCE_GFD, SOURCE_LABELS, SOURCE_NFD, SOURCE_SLICES
from kubenexus.bench import GPU_SOURCES, run_bench, synthetic_gpu_cluster
from kubenexus.cli import main
from kubenexus.config import SchedulerConfiguration, build_scheduler, parse_config


def without(*plugins: str) -> SchedulerConfiguration:
    """The default profile without these plugins."""
    disabled = [{"name": plugin} for plugin in plugins]
    return parse_config(
        {
            "apiVersion": "kubescheduler.config.k8s.io/v1",
            "kind": "KubeSchedulerConfiguration",
            "profiles": [{"plugins": {"multiPoint": {"disabled": disabled}}}],
        }
    )


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


def test_bench_gpu_prints_gpu_pods_and_the_vram_check() -> None:
    args = ["--workload", "gpu", "--nodes", "60", "--pods", "300", "--repeat", "2"]
    result = CliRunner().invoke(main, ["bench", *args])
    assert result.exit_code == 0, result.output
    out = result.output
    assert "60 nodes, 300 pods, workload=gpu, 2 run(s)" in out
    assert re.search(r"throughput\s+median [\d,]+ pods/s \(runs: [\d,]+, [\d,]+\)", out)
    assert re.search(r"VRAM pods\s+p50 [\d,]+ µs per pod with a VRAM request, [\d,]+ µs", out)
    gpu = re.search(r"GPU pods\s+(\d+) placed, (\d+) unschedulable of (\d+) \((\d+) asking", out)
    assert gpu is not None, out
    assert int(gpu[1]) + int(gpu[2]) == int(gpu[3]) > int(gpu[4]) > 0
    check = re.search(
        r"VRAM check\s+(\d+) of (\d+) VRAM pods placed on cards holding their request "
        r"\(100\.0 %\); (\d+) of (\d+) product pods on an accepted product \((.*?)\); "
        r"0 nodes given more GPUs than they have",
        out,
    )
    assert check is not None, out
    assert check[1] == check[2]
    assert int(check[1]) > 0
    assert check[3] == check[4]


def test_bench_gpu_every_vram_pod_lands_on_cards_holding_its_request() -> None:
    report = run_bench(nodes=200, pods=400, workload="gpu", repeat=2)
    for run in report.runs:
        gpu = run.gpu
        assert gpu is not None
        assert run.scheduled + run.unschedulable == 400
        assert gpu.gpu_placed + gpu.gpu_unschedulable == gpu.gpu_pods > 0
        assert gpu.vram_qualifying == gpu.vram_placed > 0
        assert gpu.product_accepted == gpu.product_placed
        assert gpu.nodes_over == 0
        assert gpu.vram_latencies.size > 0
        assert gpu.other_latencies.size > 0


def test_bench_gpu_pods_wait_when_the_cluster_is_too_small() -> None:
    """Eight nodes cannot hold 200 pods' GPUs: some GPU pods are refused, those placed still
    sit on cards holding their request, and no node is given more GPUs than it has."""
    report = run_bench(nodes=8, pods=200, workload="gpu", repeat=1)
    gpu = report.runs[0].gpu
    assert gpu is not None
    assert gpu.gpu_unschedulable > 0
    assert gpu.gpu_placed > 0
    assert gpu.vram_qualifying == gpu.vram_placed
    assert gpu.nodes_over == 0
    assert report.runs[0].unschedulable >= gpu.gpu_unschedulable


def test_bench_gpu_check_is_counted_not_assumed() -> None:
    """Without VRAMScheduler only the GPU count is checked: VRAM pods land on cards too small
    for them, and the check counts them."""
    report = run_bench(
        nodes=100, pods=300, workload="gpu", repeat=1, config=without("VRAMScheduler")
    )
    gpu = report.runs[0].gpu
    assert gpu is not None
    assert gpu.vram_qualifying < gpu.vram_placed
    assert gpu.nodes_over == 0


def test_bench_gpu_cluster_is_read_as_built_from_every_source() -> None:
    """Each GPU node's cards, read by the scheduler from its labels (manual, GFD, NFD) or its
    ResourceSlices (set_node_slices), are the ones the benchmark built."""
    cluster = synthetic_gpu_cluster(300, random.Random(1))
    scheduler = build_scheduler(None)
    for node in cluster.nodes:
        scheduler.upsert_node(node)
    for name, slices in cluster.slices.items():
        assert scheduler.set_node_slices(name, slices) == ""
    read_as = {"labels": SOURCE_LABELS, "gfd": SOURCE_GFD, "nfd": SOURCE_NFD, "dra": SOURCE_SLICES}
    seen = set()
    for node in cluster.nodes:
        info = scheduler.cache.node_info(node.name)
        assert info is not None
        built = cluster.gpus.get(node.name)
        if built is None:
            assert info.gpus is None
            continue
        assert info.gpus is not None
        assert info.gpus.source == read_as[built.source]
        assert [d.memory for d in info.gpus.devices] == [built.memory] * built.count
        assert not info.gpus.disagreements
        assert not info.gpus.warnings
        seen.add(built.source)
    assert seen == {source for source, _ in GPU_SOURCES}


def test_bench_affinity_prints_the_rules_check() -> None:
    args = ["--workload", "affinity", "--nodes", "90", "--pods", "300", "--repeat", "1"]
    result = CliRunner().invoke(main, ["bench", *args])
    assert result.exit_code == 0, result.output
    out = result.output
    assert "90 nodes, 300 pods, workload=affinity, 1 run(s)" in out
    rules = re.search(
        r"rules\s+0 broken among 300 placed \((\d+) with required anti-affinity on the "
        r"hostname, (\d+) with a zone spread constraint; 360 pods already running",
        out,
    )
    assert rules is not None, out
    assert int(rules[1]) > 0
    assert int(rules[2]) > 0


def test_bench_affinity_check_is_counted_not_assumed() -> None:
    """Without the two plugins the same workload breaks rules, and the check counts them."""
    config = without("InterPodAffinity", "PodTopologySpread")
    report = run_bench(nodes=60, pods=600, workload="affinity", repeat=1, config=config)
    figures = report.runs[0].affinity
    assert figures is not None
    assert figures.violations > 0
    assert figures.placed == 600


def test_bench_preemption_prints_the_decision_time_and_places_every_preemptor() -> None:
    args = ["--workload", "preemption", "--nodes", "60", "--pods", "40", "--repeat", "1"]
    result = CliRunner().invoke(main, ["bench", *args])
    assert result.exit_code == 0, result.output
    out = result.output
    assert re.search(r"preemption\s+median [\d.]+ ms per decision", out), out
    found = re.search(
        r"victims\s+[\d.]+ per preemption; (\d+) covered by a budget; (\d+) of (\d+) "
        r"preemptors bound on their nominated node, (\d+) urgent pods placed without evicting; "
        r"600 pods were running",
        out,
    )
    assert found is not None, out
    assert found[1] == "0"  # a budget-free choice always existed
    assert found[2] == found[3]
    assert int(found[3]) > 0
    assert int(found[3]) + int(found[4]) == 40


def test_bench_preemption_without_the_plugin_evicts_nothing() -> None:
    report = run_bench(
        nodes=30, pods=10, workload="preemption", repeat=1, config=without("DefaultPreemption")
    )
    figures = report.runs[0].preemption
    assert figures is not None
    assert figures.preemptions == 0


def test_e2e_only_flags_without_e2e_are_refused_not_ignored() -> None:
    for flags in (["--compare"], ["--server", "http://127.0.0.1:1"], ["--running-pods", "5"]):
        result = CliRunner().invoke(main, ["bench", "--nodes", "5", "--pods", "5", *flags])
        assert result.exit_code == 2, (flags, result.output)
        assert f"{flags[0]} needs --e2e" in result.output, result.output


def test_e2e_against_a_server_that_does_not_answer_is_one_line() -> None:
    result = CliRunner().invoke(main, ["bench", "--e2e", "--server", "http://127.0.0.1:9"])
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("error: --server http://127.0.0.1:9: "), result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_e2e_without_a_control_plane_folder_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KUBEBUILDER_ASSETS", raising=False)
    result = CliRunner().invoke(main, ["bench", "--e2e", "--nodes", "5", "--pods", "5"])
    assert result.exit_code == 2, result.output
    assert result.stderr == (
        "error: bench --e2e without --server needs KUBEBUILDER_ASSETS: a folder holding etcd, "
        "kube-apiserver and kube-scheduler\n"
    )


def test_e2e_compare_names_the_missing_kube_scheduler_before_starting_anything(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """envtest's own folders hold etcd and kube-apiserver only: --compare also needs
    kube-scheduler, said before a control plane is started."""
    for name in ("etcd", "kube-apiserver"):
        (tmp_path / name).write_text("#!/bin/sh\nexit 1\n")
    monkeypatch.setenv("KUBEBUILDER_ASSETS", str(tmp_path))
    result = CliRunner().invoke(main, ["bench", "--e2e", "--compare", "--nodes", "5"])
    assert result.exit_code == 2, result.output
    assert result.stderr == f"error: bench --e2e --compare: no kube-scheduler in {tmp_path}\n"


def test_e2e_without_the_bench_extra_says_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "cryptography", None)  # import fails, as when not installed
    monkeypatch.delitem(sys.modules, "kubenexus.shell.controlplane", raising=False)
    result = CliRunner().invoke(main, ["bench", "--e2e", "--nodes", "5", "--pods", "5"])
    assert result.exit_code == 2, result.output
    assert result.stderr == (
        "error: bench --e2e needs the bench extra: pip install 'kubenexus[bench]' "
        "(cryptography is missing)\n"
    )


def test_sizes_that_would_fill_the_memory_are_refused_at_once() -> None:
    for flag, value in (("--nodes", "999999999999"), ("--pods", "999999999999")):
        for command in ("bench", "bench-explain"):
            result = CliRunner().invoke(main, [command, flag, value])
            assert result.exit_code == 2, (command, flag, result.output)
            assert f"Invalid value for '{flag}'" in result.output
