"""`kubenexus simulate … --explain NAMESPACE/POD` on the bundled examples: each pending pod gets
the documented reasons, each placed pod its score breakdown."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from kubenexus.cli import main
from kubenexus.explain import TargetError, explain_simulation, parse_target
from kubenexus.plugins.numa_topology import NUMATopology
from kubenexus.simulator import simulate

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _explain(workload: str, pod: str, *extra: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(
        main,
        [
            "simulate",
            str(EXAMPLES / "cluster.yaml"),
            str(EXAMPLES / f"{workload}.yaml"),
            "--explain",
            pod,
            *extra,
        ],
    )
    return result.exit_code, result.stdout, result.stderr


def _json(workload: str, pod: str) -> dict[str, Any]:
    code, out, err = _explain(workload, pod, "-o", "json")
    assert code == 0, err
    return json.loads(out)  # type: ignore[no-any-return]


def _groups(data: dict[str, Any]) -> set[tuple[str, tuple[str, ...], int]]:
    return {(g["plugin"], tuple(g["reasons"]), g["count"]) for g in data["groups"]}


# (workload, pod, the groups: first rejecting filter, its reasons, how many nodes)
PENDING = [
    (
        "workload",
        "default/in-memory-db",
        {
            # cpu-small-2 holds a web replica (default spreading): short of cpu there too.
            ("NodeResourcesFit", ("Insufficient memory",), 4),
            ("NodeResourcesFit", ("Insufficient cpu", "Insufficient memory"), 2),
            ("TaintToleration", ("node(s) had untolerated taint(s)",), 5),
            ("NodeUnschedulable", ("node(s) were unschedulable",), 1),
        },
    ),
    (
        "workload",
        "default/edge-probe-4",
        {
            ("NodeAffinity", ("node(s) didn't satisfy plugin(s) [NodeAffinity]",), 11),
            ("NodeResourcesFit", ("Too many pods",), 1),
        },
    ),
    (
        "workload",
        "default/gpu-notebook",
        {
            ("NodeResourcesFit", ("Insufficient nvidia.com/gpu",), 6),
            ("TaintToleration", ("node(s) had untolerated taint(s)",), 5),
            ("NodeUnschedulable", ("node(s) were unschedulable",), 1),
        },
    ),
    (
        "spark",
        "default/nightly-batch-16",
        {
            ("NodeAffinity", ("node(s) didn't match Pod's node affinity/selector",), 3),
            ("TaintToleration", ("node(s) had untolerated taint(s)",), 5),
            ("NodeResourcesFit", ("Insufficient cpu",), 3),
            ("NodeUnschedulable", ("node(s) were unschedulable",), 1),
        },
    ),
    (
        "workload",
        "default/nvme-cache",
        {
            ("NodeAffinity", ("node(s) didn't match Pod's node affinity/selector",), 6),
            ("TaintToleration", ("node(s) had untolerated taint(s)",), 5),
            ("NodeUnschedulable", ("node(s) were unschedulable",), 1),
        },
    ),
    (
        "numa",
        "default/too-wide",
        {
            ("NodeResourcesFit", ("Insufficient cpu",), 5),
            ("TaintToleration", ("node(s) had untolerated taint(s)",), 6),
            (
                "NUMATopology",
                ("node(s) had no NUMA topology (single-numa-node needs it)",),
                3,
            ),
            (
                "NUMATopology",
                ("no single NUMA node has sufficient capacity (cpu 20 > 8 free in best zone)",),
                1,
            ),
            ("NodeUnschedulable", ("node(s) were unschedulable",), 1),
        },
    ),
    (
        "gpus",
        "default/llm-405b",
        {
            ("NodeResourcesFit", ("Insufficient nvidia.com/gpu",), 10),
            ("TaintToleration", ("node(s) had untolerated taint(s)",), 5),
            ("NodeUnschedulable", ("node(s) were unschedulable",), 1),
            (
                "VRAMScheduler",
                ("Insufficient GPUs with 100Gi of GPU memory each (1 needed)",),
                1,
            ),
        },
    ),
]


@pytest.mark.parametrize(("workload", "pod", "groups"), PENDING, ids=[p[1] for p in PENDING])
def test_pending_pods_get_every_nodes_fate_grouped(
    workload: str, pod: str, groups: set[tuple[str, tuple[str, ...], int]]
) -> None:
    data = _json(workload, pod)
    assert data["verdict"] == "Pending"
    assert _groups(data) == groups
    # Every node is accounted for once, and the one-line message is kube-scheduler's.
    assert sum(g["count"] for g in data["groups"]) == data["nodes"]["total"]
    assert data["message"].startswith(f"0/{data['nodes']['total']} nodes are available")


def test_numa_near_miss_names_each_zone_and_its_shortfall() -> None:
    data = _json("numa", "default/too-wide")
    numa_b = next(m for m in data["closest"] if m["node"] == "numa-b")
    assert numa_b["failed"] == [
        {
            "plugin": "NUMATopology",
            "reasons": [
                "no single NUMA node has sufficient capacity (cpu 20 > 8 free in best zone)"
            ],
        }
    ]
    assert "NUMA zone 2 free: cpu 8, memory 64Gi (cpu short by 12)" in numa_b["shortfalls"]
    # Zone 0 holds redis-primary (the training gang packs onto numa-a: WorkloadAwareScoring).
    assert (
        "NUMA zone 0 free: cpu 0, memory 0 (cpu short by 20, memory short by 8Gi)"
        in (numa_b["shortfalls"])
    )


def test_gpu_near_miss_names_the_devices_and_the_vram_asked() -> None:
    data = _json("gpus", "default/llm-405b")
    closest = data["closest"][0]
    assert closest["node"] == "a100-80g-1"  # fails one filter only, nothing short but VRAM
    assert closest["shortfalls"] == [
        "GPUs: 4× A100-80GB 80Gi; 4 free, 1 with 100Gi VRAM each requested",
        "no GPU has 100Gi: the largest is gpu-0 (80Gi)",
    ]


def test_resource_near_miss_says_by_how_much() -> None:
    data = _json("workload", "default/in-memory-db")
    mem = next(m for m in data["closest"] if m["node"] == "mem-1")
    # mem-1 holds a web replica (its own zone: TopologyScoring spreads the Deployment).
    assert mem["shortfalls"] == ["memory: 300Gi requested, 255Gi free (short by 45Gi)"]
    # Closest first: one filter failed and the least memory short comes before the others.
    order = [m["node"] for m in data["closest"] if m["node"].startswith(("mem", "cpu-large"))]
    assert order == ["mem-1", "cpu-large-3", "cpu-large-2", "cpu-large-1"]


def test_gang_member_names_the_member_that_blocks_its_gang() -> None:
    data = _json("gangs", "default/mpi-worker-0")
    assert data["verdict"] == "Pending"
    assert data["gang"]["name"] == "default/mpi"
    assert data["gang"]["minMember"] == 3
    assert data["gang"]["blocking"] == ["default/mpi-launcher"]
    assert data["message"] == (
        "pod group default/mpi: only 2 of minMember 3 members fit; blocked by default/mpi-launcher"
    )
    launcher = next(m for m in data["gang"]["members"] if m["pod"] == "default/mpi-launcher")
    assert launcher["state"] == "FitsNowhere"
    assert "didn't match Pod's node affinity/selector" in launcher["message"]


def test_placed_pod_gets_its_node_and_a_score_breakdown() -> None:
    data = _json("workload", "default/analytics")
    assert data["verdict"] == "Placed"
    assert data["node"] == "cpu-large-1"
    assert data["profile"] == {"tier": "bronze", "workloadType": "service"}
    first, runner_up = data["scores"][:2]
    assert (first["node"], first["rank"]) == ("cpu-large-1", 1)
    assert runner_up["rank"] == 2
    assert first["total"] >= runner_up["total"]
    for node in data["scores"]:
        assert node["total"] == pytest.approx(sum(p["weighted"] for p in node["plugins"]), abs=0.01)
        for plugin in node["plugins"]:
            assert plugin["weighted"] == pytest.approx(plugin["normalized"] * plugin["weight"])
            assert 0 <= plugin["normalized"] <= 100
    assert {p["plugin"] for p in first["plugins"]} >= {"NodeResourcesFit"}


def test_the_text_form_reads_as_a_table() -> None:
    code, out, err = _explain("numa", "default/too-wide")
    assert code == 0, err
    assert "verdict: Pending" in out
    assert "NODES  FIRST REJECTED BY  REASON" in out
    assert "Closest nodes:" in out
    code, out, _ = _explain("workload", "default/analytics")
    assert "cpu-large-1 (chosen)" in out
    assert "(runner-up)" in out


def test_pods_not_ours_or_unknown() -> None:
    data = _json("workload", "default/volcano-task")
    assert data["verdict"] == "NotOurs"
    assert data["message"] == "left to volcano"
    code, _, err = _explain("workload", "default/no-such-pod")
    assert code == 2
    assert err.strip() == "error: pod default/no-such-pod: not in the simulation's input"
    code, _, err = _explain("workload", "default/")
    assert code == 2
    assert err.strip() == "error: pod 'default/': expected NAMESPACE/POD"


def test_explaining_leaves_the_simulated_cluster_as_it_was() -> None:
    result = simulate(EXAMPLES / "cluster.yaml", EXAMPLES / "workload.yaml")
    assert result.scheduler is not None
    nodes = result.scheduler.cache.nodes
    before = nodes.requested[:, : nodes.size].copy()
    pods = result.scheduler.cache.pod_count
    for pod in ("default/analytics", "default/in-memory-db", "default/gpu-train-0"):
        explain_simulation(result, pod)
    assert (nodes.requested[:, : nodes.size] == before).all()
    assert result.scheduler.cache.pod_count == pods


@pytest.mark.parametrize(
    ("target", "namespace", "expected"),
    [("a/b", None, ("a", "b")), ("b", "a", ("a", "b")), ("b", None, ("default", "b"))],
)
def test_targets(target: str, namespace: str | None, expected: tuple[str, str]) -> None:
    assert parse_target(target, namespace) == expected


def test_target_namespace_conflict() -> None:
    with pytest.raises(TargetError, match="its namespace differs from -n c"):
        parse_target("a/b", "c")


def test_bench_explain_prints_each_question_and_the_target() -> None:
    result = CliRunner().invoke(
        main,
        ["bench-explain", "--nodes", "60", "--pods", "100", "--repeat", "1", "--gang-size", "64"],
    )
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("explain on 60 nodes, ")
    assert lines[1].startswith("  pending pod (fits nowhere): ")
    assert "Pending;" in lines[1]
    assert lines[2].startswith("  placeable pod (score breakdown): ")
    assert "Placeable on node-" in lines[2]
    assert lines[3].startswith("  gang member (gang cannot complete): ")
    assert "gang blocked by bench/gang-0" in lines[3]
    assert lines[4].startswith("  member of a 64-member gang (fits): ")
    assert "64/64 members fit" in lines[4]
    assert lines[5].startswith("slowest answer ")
    assert "the 2 s target" in lines[5]


RESERVED = """\
apiVersion: v1
kind: Node
metadata: {name: b}
status: {allocatable: {cpu: "4", memory: 8Gi, pods: "110"}}
---
apiVersion: scheduling.kubenexus.io/v1alpha1
kind: ResourceReservation
metadata: {name: etl-slots, namespace: etl}
spec:
  podGroupName: etl
  reservations:
    first: {node: b, resources: {cpu: '3', memory: 4Gi}}
---
apiVersion: v1
kind: Pod
metadata: {name: web, namespace: default}
spec:
  containers:
  - name: c
    resources: {requests: {cpu: "2"}}
"""


def test_a_pod_short_of_reserved_room_is_told_whose_slot(tmp_path: Path) -> None:
    path = tmp_path / "reserved.yaml"
    path.write_text(RESERVED)
    result = CliRunner().invoke(
        main, ["simulate", str(path), "--explain", "default/web", "-o", "json"]
    )
    assert result.exit_code == 0, result.stderr
    (miss,) = json.loads(result.stdout)["closest"]
    assert miss["shortfalls"] == [
        "cpu: 2 requested, 1 free (short by 1)",
        "room held for pod group etl/etl by reservation etl/etl-slots (slot first: cpu 3, memory 4Gi)",
    ]


EXECUTOR = (
    RESERVED.split("---\napiVersion: v1\nkind: Pod", maxsplit=1)[0]
    + """---
apiVersion: v1
kind: Pod
metadata:
  name: exec-big
  namespace: etl
  labels: {scheduling.kubenexus.io/role: executor, pod-group.scheduling.kubenexus.io/name: etl}
spec:
  containers:
  - name: c
    resources: {requests: {cpu: "8"}}
"""
)


def test_an_executor_sees_its_groups_slots_free_and_they_stay_held(tmp_path: Path) -> None:
    path = tmp_path / "executor.yaml"
    path.write_text(EXECUTOR)
    result = simulate(path)
    assert result.scheduler is not None
    nodes = result.scheduler.cache.nodes
    cpu_row, slot = nodes.resource_index["cpu"], nodes.slot_of("b")
    assert int(nodes.requested[cpu_row, slot]) == 3000  # the slot's room is held
    answer = explain_simulation(result, "etl/exec-big")
    assert answer.verdict == "Pending"
    # Its gang cannot be sized (no PodGroup, no min-available): the scheduler's own reason.
    assert answer.message == (
        "waiting for PodGroup etl/etl: its members name it but do not say how many must run "
        "together"
    )
    (miss,) = answer.closest
    assert miss.shortfalls == ("cpu: 8 requested, 4 free (short by 4)",)  # the slot is its room
    assert answer.notes == [
        "an executor claims a free slot of its group's reservations first: "
        "etl/etl-slots slot first on b"
    ]
    assert int(nodes.requested[cpu_row, slot]) == 3000  # held again


def test_explaining_placed_numa_pods_leaves_their_zones_and_cpus_as_they_were() -> None:
    result = simulate(EXAMPLES / "cluster.yaml", EXAMPLES / "numa.yaml")
    assert result.scheduler is not None
    profile = next(iter(result.scheduler.profiles.values()))
    numa = next(p for p in profile.filters if isinstance(p, NUMATopology))
    used = numa.zones.used.copy()
    free_cpus = {slot: [set(z) for z in zones] for slot, zones in numa.zones.free_cpus.items()}
    placed = [p.pod for p in result.pods if p.status == "Scheduled"]
    assert len(placed) == 7
    for pod in placed:
        assert explain_simulation(result, pod).verdict == "Placed"
    assert (numa.zones.used == used).all()
    assert {s: [set(z) for z in zones] for s, zones in numa.zones.free_cpus.items()} == free_cpus
