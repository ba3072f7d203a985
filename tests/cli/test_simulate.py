"""`kubenexus simulate` on the bundled example and on bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from kubenexus.cli import main
from kubenexus.simulator import simulate
from tests.builders import no_victims, not_helpful

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture(scope="module")
def example_json() -> dict:
    code, out, err = _run(
        "simulate", str(EXAMPLES / "cluster.yaml"), str(EXAMPLES / "workload.yaml"), "-o", "json"
    )
    assert code == 0, err
    return json.loads(out)  # type: ignore[no-any-return]


def _pods(data: dict) -> dict[str, dict]:
    return {p["pod"]: p for p in data["pods"]}


def test_example_places_each_pod_where_the_plugins_say(example_json: dict) -> None:
    pods = _pods(example_json)
    assert pods["kube-system/coredns-0"] == {
        "pod": "kube-system/coredns-0",
        "status": "Running",
        "node": "cpu-small-1",
        "message": None,
        "annotations": {},
        "profile": {
            "tier": "bronze",
            "tenant": "kube-system",
            "tierSource": "default",
            "workload": "service",
            "gang": False,
            "preemptible": False,
        },
    }
    assert pods["default/volcano-task"]["status"] == "OtherScheduler"
    assert pods["default/migration-done"]["status"] == "Finished"
    # nodeSelector zone-b: cpu-small-2 or cpu-large-2 only
    assert {pods[f"default/nightly-etl-{i}"]["node"] for i in range(3)} <= {
        "cpu-small-2",
        "cpu-large-2",
    }
    # Gt 4 and In [c7i.8xlarge]: a large node; it has priority, so it gets the emptiest one.
    assert pods["default/analytics"]["node"] == "cpu-large-1"
    # Lt 5, NotIn zone-b, DoesNotExist workload-class: only cpu-small-1 qualifies.
    assert pods["default/legacy-batch"]["node"] == "cpu-small-1"
    assert {pods[f"default/gpu-train-{i}"]["node"] for i in range(3)} <= {
        "gpu-a100-1",
        "gpu-a100-2",
    }
    assert pods["default/log-shipper"]["node"] == "infra-1"
    assert pods["default/node-debugger"]["node"] == "cordoned-1"
    assert [pods[f"default/edge-probe-{i}"]["node"] for i in range(4)] == ["edge-1"] * 4


def test_example_failure_messages(example_json: dict) -> None:
    pods = _pods(example_json)
    assert pods["default/gpu-notebook"]["message"] == (
        "0/12 nodes are available: 1 node(s) were unschedulable, "
        "5 node(s) had untolerated taint(s), 6 Insufficient nvidia.com/gpu." + not_helpful(12)
    )
    assert "1 Too many pods" in pods["default/edge-probe-4"]["message"]
    # matchFields on metadata.name: the other nodes are ruled out before any filter runs, as
    # kube-scheduler's NodeAffinity pre-filter does (and says).
    assert pods["default/edge-probe-4"]["message"] == (
        "0/12 nodes are available: 1 Too many pods, "
        "11 node(s) didn't satisfy plugin(s) [NodeAffinity]. no new claims to deallocate, "
        "preemption: 0/12 nodes are available: 1 No preemption victims found for incoming pod, "
        "11 Preemption is not helpful for scheduling."
    )
    assert "6 Insufficient memory" in pods["default/in-memory-db"]["message"]
    assert (
        "6 node(s) didn't match Pod's node affinity/selector"
        in pods["default/nvme-cache"]["message"]
    )


def test_example_summary_and_node_usage(example_json: dict) -> None:
    assert example_json["summary"] == {
        "Scheduled": 18,
        "Unschedulable": 4,
        "Running": 1,
        "OtherScheduler": 1,
        "Finished": 1,
        "Terminating": 0,
        "Gated": 0,
        "WaitingForDriver": 0,
        "Preempted": 0,
    }
    assert example_json["reservations"] == []
    nodes = {n["name"]: n for n in example_json["nodes"]}
    assert len(nodes) == 12
    assert nodes["edge-1"]["pods"] == 4
    # coredns (2 cpu) + legacy-batch (3 cpu: its init container outweighs the 1 cpu container)
    assert nodes["cpu-small-1"]["requested"]["cpu"] == 5000
    # every node within capacity
    for node in nodes.values():
        for resource, amount in node["requested"].items():
            assert amount <= node["allocatable"][resource], (node["name"], resource)


def test_table_output_is_readable() -> None:
    code, out, _ = _run("simulate", str(EXAMPLES / "cluster.yaml"), str(EXAMPLES / "workload.yaml"))
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["POD", "STATUS", "NODE", "MESSAGE"]
    assert any(
        line.split()[:3] == ["default/log-shipper", "Scheduled", "infra-1"] for line in lines
    )
    assert any(line.startswith("NODE") and "NVIDIA.COM/GPU" in line for line in lines)
    assert any(line.split()[:2] == ["edge-1", "400m/4"] for line in lines)
    assert (
        "25 pods: 18 scheduled, 4 unschedulable, 1 already running, 1 left to other schedulers, 1 finished; 12 nodes"
        in out
    )


def test_cluster_alone_is_a_valid_simulation() -> None:
    code, out, _ = _run("simulate", str(EXAMPLES / "cluster.yaml"))
    assert code == 0
    assert "0 pods:" in out


def test_config_changes_the_outcome(tmp_path: Path) -> None:
    cluster = tmp_path / "c.yaml"
    cluster.write_text(
        "kind: Node\nmetadata: {name: a}\nstatus: {allocatable: {cpu: '4', memory: 8Gi}}\n---\n"
        "kind: Node\nmetadata: {name: b}\nstatus: {allocatable: {cpu: '4', memory: 8Gi}}\n---\n"
        "kind: Deployment\nmetadata: {name: j}\nspec:\n  replicas: 2\n  template:\n    spec:\n"
        "      containers: [{name: c, resources: {requests: {cpu: '1'}}}]\n"
    )
    config = tmp_path / "k.yaml"
    config.write_text(
        "apiVersion: kubescheduler.config.k8s.io/v1\nkind: KubeSchedulerConfiguration\nprofiles:\n"
        "- schedulerName: kubenexus-scheduler\n  pluginConfig:\n  - name: NodeResourcesFit\n"
        "    args: {scoringStrategy: {type: MostAllocated}}\n  plugins:\n    score:\n"
        "      disabled: [{name: NodeResourcesBalancedAllocation}]\n"
    )
    _, spread, _ = _run("simulate", str(cluster), "-o", "json")
    _, packed, _ = _run("simulate", str(cluster), "--config", str(config), "-o", "json")
    assert sorted(p["node"] for p in json.loads(spread)["pods"]) == ["a", "b"]
    assert sorted(p["node"] for p in json.loads(packed)["pods"]) == ["a", "a"]


def test_unknown_kinds_are_noted_not_fatal(tmp_path: Path) -> None:
    cluster = tmp_path / "c.yaml"
    cluster.write_text(
        "kind: ConfigMap\nmetadata: {name: x}\n---\nkind: Node\nmetadata: {name: a}\n"
    )
    code, out, _ = _run("simulate", str(cluster))
    assert code == 0
    assert "note: ignored 1 ConfigMap (not used by the simulator)" in out


def test_pods_get_the_tolerations_the_api_server_adds(tmp_path: Path) -> None:
    """DefaultTolerationSeconds admission: every pod tolerates not-ready and unreachable
    NoExecute taints for 300 s, so kube-scheduler places it on such a node; a pod's own
    toleration of the key is kept as written."""
    cluster = tmp_path / "c.yaml"
    node = "kind: Node\nmetadata: {{name: {name}, labels: {{at: {name}}}}}\nspec: {{taints: [{{key: {key}, effect: NoExecute}}]}}\n"
    cluster.write_text(
        node.format(name="unreachable", key="node.kubernetes.io/unreachable")
        + "---\n"
        + node.format(name="not-ready", key="node.kubernetes.io/not-ready")
        + "---\nkind: Pod\nmetadata: {name: plain}\nspec: {nodeSelector: {at: unreachable}, containers: [{name: c}]}\n"
        + "---\nkind: Pod\nmetadata: {name: own}\nspec:\n  nodeSelector: {at: not-ready}\n"
        + "  tolerations: [{key: node.kubernetes.io/not-ready, operator: Equal, value: x, effect: NoExecute}]\n"
        + "  containers: [{name: c}]\n"
    )
    code, out, err = _run("simulate", str(cluster), "-o", "json")
    assert code == 0, err
    pods = _pods(json.loads(out))
    assert pods["default/plain"]["node"] == "unreachable"
    assert pods["default/own"]["status"] == "Unschedulable"  # its Equal x does not match ""


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (
            "kind: Node\nmetadata: {name: a\n",
            "not valid YAML at line 3, column 1: expected ',' or '}'",
        ),
        ("- just\n- a list\n", "document 1: expected a Kubernetes object mapping"),
        (
            "kind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n  - name: c\n    resources: {requests: {cpu: abc}}\n",
            "document 1 (Pod p): spec.containers[0].resources.requests.cpu: invalid quantity, expected e.g. '500m', '64Gi', '1e3' (got 'abc')",
        ),
        (
            "kind: Node\nmetadata: {name: n}\nspec: {taints: [{key: a, effect: Sometimes}]}\n",
            "document 1 (Node n): spec.taints[0].effect: must be one of",
        ),
        (
            "kind: Job\nmetadata: {name: j}\nspec:\n  parallelism: 2\n  template:\n    spec:\n      containers:\n      - {name: c, resources: {limits: {memory: 1GB}}}\n",
            "document 1 (Job j): spec.template.spec.containers[0].resources.limits.memory: invalid quantity",
        ),
        (
            "kind: Job\nmetadata: {name: j}\nspec: {parallelism: many, template: {}}\n",
            "document 1 (Job j): spec.parallelism: expected a non-negative integer (got 'many')",
        ),
        (
            "kind: Deployment\nmetadata: {name: d}\nspec: {replicas: 2}\n",
            "document 1 (Deployment d): spec.template: is required",
        ),
        (
            "kind: Pod\nmetadata: {name: p}\nspec: {priorityClassName: gold, containers: [{name: c}]}\n",
            "document 1 (Pod p): spec.priorityClassName: no PriorityClass with this name (got 'gold')",
        ),
        (
            "kind: Node\nmetadata: {name: a}\n---\nkind: Node\nmetadata: {name: a}\n",
            "document 2 (Node a): metadata.name: node 'a' is already defined in",
        ),
        (
            "kind: Pod\nmetadata: {name: p}\nspec: {containers: [{name: c}]}\n---\nkind: Pod\nmetadata: {name: p}\nspec: {containers: [{name: c}]}\n",
            "document 2 (Pod p): metadata.name: pod default/p is already defined in",
        ),
        ("kind: List\nitems: 3\n", "document 1 (List): items: expected a list"),
        (
            "kind: Pod\nmetadata: {labels: {a: b}}\nspec: {containers: [{name: c}]}\n",
            "document 1 (Pod ?): metadata.name: is required",
        ),
        (
            "apiVersion: scheduling.kubenexus.io/v1alpha1\nkind: ResourceReservation\n"
            "metadata: {namespace: spark}\nspec: {podGroupName: g, resources: {cpu: '1'}, count: 1}\n",
            "document 1 (ResourceReservation ?): metadata.name: is required (got None)",
        ),
        (
            "kind: ResourceReservation\nmetadata: r\nspec: {}\n",
            "document 1 (ResourceReservation ?): metadata.name: is required (got None)",
        ),
        (
            "kind: ResourceReservation\nmetadata: {name: r}\nspec: {podGroupName: g}\n---\n"
            "kind: ResourceReservation\nmetadata: {name: r}\nspec: {podGroupName: g}\n",
            "document 2 (ResourceReservation r): metadata.name: ResourceReservation default/r is "
            "already defined in",
        ),
        ("kind: [Pod]\nmetadata: {name: p}\n", "document 1 (['Pod'] p): kind: expected a string"),
        (
            "kind: Job\nmetadata: {name: j}\nspec: {template: {metadata: abc, spec: {}}}\n",
            "document 1 (Job j): spec.template.metadata: expected a mapping (got 'abc')",
        ),
        (
            "kind: Job\nmetadata: {name: j}\nspec: {template: {metadata: {labels: -1}, spec: {}}}\n",
            "document 1 (Job j): spec.template.metadata.labels: expected a mapping (got -1)",
        ),
        (
            "kind: Pod\nmetadata: {name: p}\nspec:\n  containers: [{name: c}]\n  affinity:\n"
            "    nodeAffinity:\n      requiredDuringSchedulingIgnoredDuringExecution:\n"
            "        nodeSelectorTerms: [{matchExpressions: [{key: a, operator: Gt, values: [null]}]}]\n",
            "document 1 (Pod p): spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution"
            ".nodeSelectorTerms[0].matchExpressions[0].values[0]: Gt needs an integer (got '')",
        ),
        (
            "kind: Deployment\nmetadata: {name: d}\nspec:\n  replicas: 1000000000000\n"
            "  template: {spec: {containers: [{name: c}]}}\n",
            "document 1 (Deployment d): spec.replicas: the simulator expands at most 1000000 pods "
            "per object (got 1000000000000)",
        ),
        (
            "kind: PodGroup\nmetadata: {name: g}\nspec: {minMember: 2, minResources: {cpu: '-1'}}\n",
            "document 1 (PodGroup g): spec.minResources.cpu: must not be negative (got '-1')",
        ),
        (
            "apiVersion: scheduling.k8s.io/v1\nkind: PriorityClass\nmetadata: -1\nvalue: 5\n",
            "document 1 (PriorityClass ?): metadata.name: is required",
        ),
        (
            "apiVersion: scheduling.k8s.io/v1\nkind: PriorityClass\nvalue: 5\n",
            "document 1 (PriorityClass ?): metadata.name: is required",
        ),
        (
            "kind: PriorityClass\nmetadata: {name: big}\nvalue: 3000000000\n",
            "document 1 (PriorityClass big): value: must be at most 1000000000 (got 3000000000)",
        ),
        (
            "kind: PriorityClass\nmetadata: {name: p}\nvalue: 5\npreemptionPolicy: Sometimes\n",
            "document 1 (PriorityClass p): preemptionPolicy: must be PreemptLowerPriority or "
            "Never (got 'Sometimes')",
        ),
        (
            "kind: PriorityClass\nmetadata: {name: p}\nvalue: 5\n---\n"
            "kind: PriorityClass\nmetadata: {name: p}\nvalue: 6\n",
            "document 2 (PriorityClass p): metadata.name: PriorityClass 'p' is already defined in",
        ),
    ],
)
def test_bad_input_is_one_clear_line_naming_file_and_field(
    tmp_path: Path, content: str, expected: str
) -> None:
    path = tmp_path / "input.yaml"
    path.write_text(content)
    code, out, err = _run("simulate", str(path))
    assert code == 2
    assert out == ""
    assert err.startswith(f"error: {path}: "), err
    assert expected in err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_missing_files_and_bad_config_are_clear(tmp_path: Path) -> None:
    code, _, err = _run("simulate", str(tmp_path / "nope.yaml"))
    assert code == 2
    assert "nope.yaml: cannot read" in err
    config = tmp_path / "k.yaml"
    config.write_text("profiles: [{plugins: {score: {enabled: [{name: Magic}]}}}]\n")
    code, _, err = _run("simulate", str(EXAMPLES / "cluster.yaml"), "--config", str(config))
    assert code == 2
    assert "k.yaml: profiles[0].plugins.score.enabled[0].name: unknown plugin 'Magic'" in err


def test_list_documents_and_workload_kinds_expand(tmp_path: Path) -> None:
    path = tmp_path / "all.yaml"
    path.write_text(
        "kind: List\nitems:\n- kind: Node\n  metadata: {name: a}\n  status: {allocatable: {cpu: '8'}}\n"
        "---\nkind: StatefulSet\nmetadata: {name: db, namespace: data}\nspec:\n  replicas: 2\n"
        "  template:\n    spec: {containers: [{name: c}]}\n"
        "---\nkind: Job\nmetadata: {name: j}\nspec:\n  parallelism: 5\n  completions: 2\n"
        "  template:\n    metadata: {labels: {team: ml}}\n    spec: {containers: [{name: c}]}\n"
    )
    code, out, _ = _run("simulate", str(path), "-o", "json")
    assert code == 0
    names = [p["pod"] for p in json.loads(out)["pods"]]
    assert names == ["data/db-0", "data/db-1", "default/j-0", "default/j-1"]


def test_gang_example_places_whole_gangs_or_nothing() -> None:
    code, out, err = _run(
        "simulate", str(EXAMPLES / "cluster.yaml"), str(EXAMPLES / "gangs.yaml"), "-o", "json"
    )
    assert code == 0, err
    pods = _pods(json.loads(out))

    def statuses(prefix: str) -> set[str]:
        return {p["status"] for name, p in pods.items() if name.startswith(f"default/{prefix}")}

    assert statuses("distributed-training") == {"Scheduled"}
    # Four GPUs each: the 4×T4 node is a perfect fit (ResourceFragmentationScore keeps the
    # 8×A100 islands whole as long as it can), the others go to A100 nodes.
    assert {pods[f"default/distributed-training-{i}"]["node"] for i in range(3)} <= {
        "gpu-t4-1",
        "gpu-a100-1",
        "gpu-a100-2",
    }
    assert statuses("sweep-a") == {"Scheduled"}
    assert statuses("sweep-b") == {"Unschedulable"}
    assert pods["default/sweep-b-0"]["message"].startswith(
        "pod group default/sweep-b: only 1 of minMember 6 members fit"
    )
    assert statuses("spark") == {"Scheduled"}
    assert statuses("mpi") == {"Unschedulable"}
    assert (
        "default/mpi-launcher: 0/12 nodes are available" in pods["default/mpi-worker-0"]["message"]
    )


def test_numa_example_places_seed_000_scenarios_as_described() -> None:
    code, out, err = _run("simulate", str(EXAMPLES / "numa.yaml"), "-o", "json")
    assert code == 0, err
    pods = _pods(json.loads(out))
    zones = {name: p["annotations"].get("numa.kubenexus.io/zones") for name, p in pods.items()}
    ml = pods["default/ml-training-strict"]
    assert (ml["node"], zones["default/ml-training-strict"]) == ("numa-a", "0")
    assert ml["annotations"]["cpu-set"] == "0-11"
    hpc = pods["default/hpc-worker-0"]  # isolated: the other socket, all of it
    assert (hpc["node"], zones["default/hpc-worker-0"], hpc["annotations"]["cpu-set"]) == (
        "numa-a",
        "1",
        "16-31",
    )
    redis = pods["default/redis-primary"]  # prefers zone 0; numa-a's zone 0 is short, so numa-b's
    assert (redis["node"], zones["default/redis-primary"]) == ("numa-b", "0")
    gpu = pods["default/gpu-training"]
    assert gpu["node"] == "gpu-numa"
    assert zones["default/gpu-training"] in {"0", "1"}
    gang = [pods[f"default/ml-training-gang-{i}"] for i in range(2)]  # a real gang now
    assert gang[0]["node"] == gang[1]["node"]
    assert (
        gang[0]["annotations"]["numa.kubenexus.io/zones"]
        == gang[1]["annotations"]["numa.kubenexus.io/zones"]
    )  # packed
    # Training packs (WorkloadAwareScoring): beside ml-training-strict's 0-11, each its own cores.
    assert gang[0]["node"] == "numa-a"
    assert {g["annotations"]["cpu-set"] for g in gang} == {"12-13", "14-15"}
    assert (
        "no single NUMA node has sufficient capacity (cpu 20 > 8 free in best zone)"
        in pods["default/too-wide"]["message"]
    )
    assert pods["default/web"]["annotations"] == {}  # no policy: no zones


def test_terminating_and_gated_pods_are_listed_and_not_tried(tmp_path: Path) -> None:
    """Hardening #7: a pod with a deletionTimestamp used to crash the simulator (KeyError)."""
    workload = tmp_path / "workload.yaml"
    workload.write_text(
        """apiVersion: v1
kind: Pod
metadata: {name: leaving, deletionTimestamp: "2026-01-01T00:00:00Z"}
spec:
  containers: [{name: c, image: busybox}]
---
apiVersion: v1
kind: Pod
metadata: {name: waiting}
spec:
  schedulingGates: [{name: example.com/quota}]
  containers: [{name: c, image: busybox}]
---
apiVersion: v1
kind: Pod
metadata: {name: plain}
spec:
  containers: [{name: c, image: busybox}]
"""
    )
    code, out, err = _run("simulate", str(EXAMPLES / "cluster.yaml"), str(workload), "-o", "json")
    assert code == 0, err
    data = json.loads(out)
    pods = _pods(data)
    assert pods["default/leaving"]["status"] == "Terminating"
    assert pods["default/leaving"]["message"] == "being deleted (deletionTimestamp): not tried"
    assert pods["default/waiting"]["status"] == "Gated"
    assert pods["default/waiting"]["message"] == (
        "scheduling gates example.com/quota: not tried until removed"
    )
    assert pods["default/plain"]["status"] == "Scheduled"
    assert (data["summary"]["Terminating"], data["summary"]["Gated"]) == (1, 1)
    code, out, _ = _run("simulate", str(EXAMPLES / "cluster.yaml"), str(workload))
    assert code == 0
    assert "1 terminating, 1 gated;" in out


def test_pod_groups_in_the_workload_size_their_gangs(tmp_path: Path) -> None:
    """The PodGroup form of a gang (members name it, it says minMember) simulates too."""
    workload = tmp_path / "workload.yaml"
    workload.write_text(
        """apiVersion: scheduling.kubenexus.io/v1alpha1
kind: PodGroup
metadata: {name: training}
spec: {minMember: 3}
---
apiVersion: batch/v1
kind: Job
metadata: {name: training}
spec:
  parallelism: 3
  template:
    metadata:
      labels: {scheduling.x-k8s.io/pod-group: training}
    spec:
      containers: [{name: c, image: busybox, resources: {requests: {cpu: "1"}}}]
---
apiVersion: scheduling.kubenexus.io/v1alpha1
kind: PodGroup
metadata: {name: broken}
spec: {minMember: 0}
"""
    )
    code, _, err = _run("simulate", str(EXAMPLES / "cluster.yaml"), str(workload), "-o", "json")
    assert code == 2
    assert "document 3 (PodGroup broken): spec.minMember: must be an integer >= 1 (got 0)" in err
    workload.write_text(workload.read_text().rsplit("---", 1)[0])
    code, out, err = _run("simulate", str(EXAMPLES / "cluster.yaml"), str(workload), "-o", "json")
    assert code == 0, err
    data = json.loads(out)
    pods = _pods(data)
    assert all(pods[f"default/training-{i}"]["status"] == "Scheduled" for i in range(3))
    assert data["notes"] == []


# --------------------------------------------------------------------------- reservations

SPARK_APP = "default/spark-4f1c2a9e0b7d4c36a5e8d2b1c0f9e7a6"
EXECUTORS = [f"default/spark-pi-1f2e3d4c5b6a7980-exec-{i}" for i in range(1, 5)]
FLOOD = [f"default/nightly-batch-{i}" for i in range(20)]
LARGE = {"cpu-large-1", "cpu-large-2", "cpu-large-3"}  # the c7i.8xlarge pool


def _spark(*extra: str) -> dict:
    code, out, err = _run(
        "simulate",
        str(EXAMPLES / "cluster.yaml"),
        str(EXAMPLES / "spark.yaml"),
        "-o",
        "json",
        *extra,
    )
    assert code == 0, err
    return json.loads(out)  # type: ignore[no-any-return]


def test_spark_example_holds_room_for_every_executor_against_the_flood() -> None:
    data = _spark()
    pods = _pods(data)
    driver = pods["default/spark-pi-driver"]
    assert (driver["status"], driver["node"] in LARGE) == ("Scheduled", True)
    [reservation] = data["reservations"]
    assert {k: v for k, v in reservation.items() if k != "slots"} == {
        "name": "default/spark-pi-driver",
        "podGroup": SPARK_APP,
        "phase": "Active",
        "claimed": 4,
        "total": 4,
        "message": "all 4 slots are claimed",
        "driver": "default/spark-pi-driver",
        "expiresInSeconds": None,  # fully claimed: it never expires
    }
    slots = reservation["slots"]
    assert sorted(slots) == [f"executor-{i}" for i in range(4)]
    assert {s["state"] for s in slots.values()} == {"Claimed"}
    # Each executor claimed one slot and runs on that slot's node.
    claimed_by = {s["pod"]: s["node"] for s in slots.values()}
    assert sorted(claimed_by) == EXECUTORS
    assert set(claimed_by.values()) <= LARGE  # the driver's nodeSelector applies to its slots
    for executor in EXECUTORS:
        assert pods[executor]["status"] == "Scheduled"
        assert pods[executor]["node"] == claimed_by[executor]
    # The flood was tried first (the executors did not exist yet) and could not take the room:
    # those that did not fit are unschedulable, short of CPU on the pool.
    flood = [pods[name] for name in FLOOD]
    assert sum(p["status"] == "Scheduled" for p in flood) == 16
    unschedulable = [p for p in flood if p["status"] == "Unschedulable"]
    assert [p["pod"] for p in unschedulable] == FLOOD[16:]
    for pod in unschedulable:
        assert pod["message"] == (
            "0/12 nodes are available: 1 node(s) were unschedulable, 3 Insufficient cpu, "
            "3 node(s) didn't match Pod's node affinity/selector, 5 node(s) had untolerated "
            "taint(s). no new claims to deallocate, preemption: 0/12 nodes are available: "
            "3 No preemption victims found for incoming pod, "
            "9 Preemption is not helpful for scheduling."
        )
    assert data["summary"]["Scheduled"] == 21
    assert data["summary"]["Unschedulable"] == 4
    assert data["notes"] == [
        "ignored 1 ServiceAccount (not used by the simulator)",
        "4 executors held back until their driver was placed (Spark and Ray create executors "
        "when the driver runs)",
    ]
    for node in data["nodes"]:
        for resource, amount in node["requested"].items():
            assert amount <= node["allocatable"][resource], (node["name"], resource)


def test_spark_example_without_reservations_starves_the_executors(tmp_path: Path) -> None:
    """What the example is about: the same input with the plugin off leaves the running driver
    with only two of its four executors."""
    config = tmp_path / "k.yaml"
    config.write_text(
        "apiVersion: kubescheduler.config.k8s.io/v1\nkind: KubeSchedulerConfiguration\n"
        "profiles:\n- schedulerName: kubenexus-scheduler\n  plugins:\n    preFilter:\n"
        "      disabled: [{name: ResourceReservation}]\n"
    )
    data = _spark("--config", str(config))
    pods = _pods(data)
    assert pods["default/spark-pi-driver"]["status"] == "Scheduled"
    assert [pods[e]["status"] for e in EXECUTORS].count("Unschedulable") == 2
    assert data["reservations"] == []


def test_spark_example_table_shows_the_reservation_and_its_slots() -> None:
    code, out, err = _run("simulate", str(EXAMPLES / "cluster.yaml"), str(EXAMPLES / "spark.yaml"))
    assert code == 0, err
    lines = out.splitlines()
    header = lines.index(next(line for line in lines if line.startswith("RESERVATION  ")))
    assert lines[header].split() == [
        "RESERVATION", "POD", "GROUP", "PHASE", "CLAIMED", "EXPIRES", "DRIVER", "MESSAGE"
    ]  # fmt: skip
    assert lines[header + 1].split() == [
        "default/spark-pi-driver", SPARK_APP, "Active", "4/4", "-",
        "default/spark-pi-driver", "all", "4", "slots", "are", "claimed",
    ]  # fmt: skip
    slots = [
        line.split() for line in lines if line.startswith("default/spark-pi-driver  executor-")
    ]
    assert [row[1] for row in slots] == [f"executor-{i}" for i in range(4)]
    assert {row[3] for row in slots} == {"Claimed"}
    assert sorted(row[4] for row in slots) == EXECUTORS
    assert all(row[2] in LARGE for row in slots)
    assert "; 1 reservation (1 Active)" in out


HAND_WRITTEN = """
kind: Node
metadata: {name: a}
status: {allocatable: {cpu: '8', memory: 16Gi, pods: '10'}}
---
kind: Node
metadata: {name: b}
status: {allocatable: {cpu: '8', memory: 16Gi, pods: '10'}}
---
apiVersion: scheduling.kubenexus.io/v1alpha1
kind: ResourceReservation
metadata: {name: etl-slots, namespace: etl}
spec:
  podGroupName: etl
  reservations:
    first: {node: b, resources: {cpu: '3', memory: 4Gi}}
    second: {resources: {cpu: '3', memory: 4Gi}}
  ttlSeconds: 300
---
apiVersion: scheduling.kubenexus.io/v1alpha1
kind: ResourceReservation
metadata: {name: nowhere, namespace: etl}
spec:
  podGroupName: etl
  reservations:
    only: {node: gone, resources: {cpu: '1'}}
---
apiVersion: scheduling.kubenexus.io/v1alpha1
kind: ResourceReservation
metadata: {name: short, namespace: etl}
spec: {podGroupName: other, resources: {cpu: '4'}, count: 1, duration: 1h30m}
---
apiVersion: scheduling.kubenexus.io/v1alpha1
kind: ResourceReservation
metadata: {name: negative, namespace: etl}
spec: {podGroupName: etl, resources: {cpu: '-1'}, count: 2}
---
apiVersion: scheduling.kubenexus.io/v1alpha1
kind: ResourceReservation
metadata: {name: not-a-spec, namespace: etl}
spec: [podGroupName, etl]
"""


def _executor(name: str, cpu: str) -> str:
    return f"""---
kind: Pod
metadata:
  name: {name}
  namespace: etl
  labels: {{spark-role: executor, spark-app-selector: etl}}
spec:
  containers: [{{name: c, resources: {{requests: {{cpu: '{cpu}', memory: 4Gi}}}}}}]
"""


def test_hand_written_reservations_hold_room_and_executors_claim_it(tmp_path: Path) -> None:
    """Reservations in the input (named slots, one with its node left to the scheduler, the
    shorthand, and ones that cannot be honoured) are held before any pod is tried; executors of
    the group claim the slots, and nobody else gets the room."""
    path = tmp_path / "input.yaml"
    flood = "---\nkind: Job\nmetadata: {name: flood, namespace: etl}\nspec:\n  parallelism: 4\n"
    flood += "  template:\n    spec: {containers: [{name: c, resources: {requests: {cpu: '3'}}}]}\n"
    path.write_text(HAND_WRITTEN + flood + _executor("exec-1", "3") + _executor("exec-2", "3"))
    code, out, err = _run("simulate", str(path), "-o", "json")
    assert code == 0, err
    data = json.loads(out)
    reservations = {r["name"]: r for r in data["reservations"]}
    assert sorted(reservations) == [
        "etl/etl-slots", "etl/negative", "etl/not-a-spec", "etl/nowhere", "etl/short"
    ]  # fmt: skip
    held = reservations["etl/etl-slots"]
    assert (held["phase"], held["claimed"], held["total"], held["driver"]) == (
        "Active", 2, 2, None
    )  # fmt: skip
    assert held["podGroup"] == "etl/etl"
    assert held["expiresInSeconds"] is None  # fully claimed: it never expires
    pods = _pods(data)
    # "second" names no node: the scheduler chose a (b had "first" already). Each executor
    # claims one slot, on the slot's node (which one is the scorers' choice: batch packs).
    assert {s["node"] for s in held["slots"].values()} == {"a", "b"}
    assert {s["pod"] for s in held["slots"].values()} == {"etl/exec-1", "etl/exec-2"}
    for slot in held["slots"].values():
        assert slot["state"] == "Claimed"
        assert (pods[slot["pod"]]["status"], pods[slot["pod"]]["node"]) == (
            "Scheduled", slot["node"]
        )  # fmt: skip
    short = reservations["etl/short"]
    assert (short["phase"], short["claimed"], short["total"]) == ("Active", 0, 1)
    assert short["expiresInSeconds"] == 5400
    assert short["slots"] == {"slot-0": {"node": "a", "state": "Free", "pod": None}}
    assert short["message"] == "1 of 1 slots held for etl/other"
    # Held: 3 CPUs on b, 3 + 4 on a. The flood (3 CPUs each, tried before the executors) gets
    # what is left: one pod on b; the executors still find their slots.
    assert (pods["etl/flood-0"]["status"], pods["etl/flood-0"]["node"]) == ("Scheduled", "b")
    for i in range(1, 4):
        assert pods[f"etl/flood-{i}"]["message"] == (
            "0/2 nodes are available: 2 Insufficient cpu." + no_victims(2)
        )
    nowhere = reservations["etl/nowhere"]
    assert (nowhere["phase"], nowhere["message"]) == (
        "Invalid", "spec.reservations.only.node: no node named 'gone'"
    )  # fmt: skip
    assert nowhere["slots"] == {"only": {"node": "gone", "state": "NotHeld", "pod": None}}
    negative = reservations["etl/negative"]
    assert (negative["phase"], negative["message"]) == (
        "Invalid", "spec.resources.cpu: must not be negative (got '-1')"
    )  # fmt: skip
    not_a_spec = reservations["etl/not-a-spec"]
    assert (not_a_spec["phase"], not_a_spec["podGroup"], not_a_spec["message"]) == (
        "Invalid", None, "spec.podGroupName: is required (got None)"
    )  # fmt: skip
    assert data["notes"] == []  # no driver in the input: the executors are queued at once
    code, table, _ = _run("simulate", str(path))
    assert code == 0
    assert "; 5 reservations (2 Active, 3 Invalid)" in table
    rows = [line.split() for line in table.splitlines()]
    assert [
        "etl/nowhere",
        "etl/etl",
        "Invalid",
        "0/1",
        "-",
        "-",
        "spec.reservations.only.node:",
    ] in [row[:7] for row in rows]
    claimed = [row[:4] for row in rows if row[:1] == ["etl/etl-slots"] and len(row) >= 5]
    assert ["etl/etl-slots", "second", "a", "Claimed"] in claimed
    assert ["etl/short", "slot-0", "a", "Free", "-"] in rows


SPARK_APP_YAML = """
kind: Node
metadata: {{name: a}}
status: {{allocatable: {{cpu: '8', memory: 32Gi, pods: '20'}}}}
---
{executors}
---
kind: Pod
metadata:
  name: driver
  labels: {{spark-role: driver, spark-app-selector: app-1}}
  annotations:
    scheduling.kubenexus.io/executor-count: "{count}"
    scheduling.kubenexus.io/executor-cpu: "2"
spec:
  containers: [{{name: c, resources: {{requests: {{cpu: '1'}}}}}}]
"""


def _spark_app(count: int, executors: int) -> str:
    pods = [
        f"kind: Pod\nmetadata:\n  name: exec-{i}\n"
        "  labels: {spark-role: executor, spark-app-selector: app-1}\n"
        "spec:\n  containers: [{name: c, resources: {requests: {cpu: '2'}}}]\n"
        for i in range(executors)
    ]
    return SPARK_APP_YAML.format(executors="---\n".join(pods), count=count)


def test_executors_listed_before_their_driver_still_claim_its_slots(tmp_path: Path) -> None:
    """Queued together, an executor tried before its driver would run as an ordinary pod and the
    driver would hold room for it a second time: the simulator queues them after the driver."""
    path = tmp_path / "app.yaml"
    path.write_text(_spark_app(count=3, executors=3))
    code, out, err = _run("simulate", str(path), "-o", "json")
    assert code == 0, err
    data = json.loads(out)
    [reservation] = data["reservations"]
    assert (reservation["name"], reservation["claimed"], reservation["total"]) == (
        "default/driver", 3, 3
    )  # fmt: skip
    assert sorted(s["pod"] for s in reservation["slots"].values()) == [
        f"default/exec-{i}" for i in range(3)
    ]
    assert data["summary"]["Scheduled"] == 4
    # 1 + 3 × 2 CPUs: nothing held twice.
    assert data["nodes"][0]["requested"]["cpu"] == 7000


def test_executors_of_a_driver_that_does_not_fit_wait_for_it(tmp_path: Path) -> None:
    path = tmp_path / "app.yaml"
    path.write_text(_spark_app(count=4, executors=2))  # 1 + 4 × 2 CPUs > 8
    code, out, err = _run("simulate", str(path), "-o", "json")
    assert code == 0, err
    data = json.loads(out)
    pods = _pods(data)
    assert pods["default/driver"]["status"] == "Unschedulable"
    assert pods["default/driver"]["message"].startswith(
        "driver default/driver waits for room for all 4 executors (2 cpu each): 3 fit; "
        "executor 4: 0/1 nodes are available: 1 Insufficient cpu."
    )
    for i in range(2):
        assert pods[f"default/exec-{i}"] == {
            "pod": f"default/exec-{i}",
            "status": "WaitingForDriver",
            "node": None,
            "message": "not tried: no driver of default/app-1 was placed, and executors are "
            "created by their running driver",
            "annotations": {},
            "profile": pods[f"default/exec-{i}"]["profile"],
        }
        assert pods[f"default/exec-{i}"]["profile"]["workload"] == "batch"  # spark-role
    assert data["reservations"] == []  # a driver not placed holds nothing
    assert data["nodes"][0]["requested"].get("cpu", 0) == 0
    code, out, _ = _run("simulate", str(path))
    assert "2 waiting for their driver;" in out


def test_executors_of_a_gated_driver_are_not_tried(tmp_path: Path) -> None:
    path = tmp_path / "app.yaml"
    path.write_text(
        _spark_app(count=1, executors=1).replace(
            "spec:\n  containers: [{name: c, resources: {requests: {cpu: '1'}}}]",
            "spec:\n  schedulingGates: [{name: example.com/quota}]\n"
            "  containers: [{name: c, resources: {requests: {cpu: '1'}}}]",
        )
    )
    code, out, err = _run("simulate", str(path), "-o", "json")
    assert code == 0, err
    pods = _pods(json.loads(out))
    assert pods["default/driver"]["status"] == "Gated"
    assert pods["default/exec-0"]["status"] == "WaitingForDriver"


def test_reservations_choose_nodes_seeing_the_pods_already_running(tmp_path: Path) -> None:
    path = tmp_path / "input.yaml"
    path.write_text(
        "kind: Node\nmetadata: {name: a}\nstatus: {allocatable: {cpu: '8'}}\n---\n"
        "kind: Node\nmetadata: {name: b}\nstatus: {allocatable: {cpu: '8'}}\n---\n"
        "kind: ResourceReservation\nmetadata: {name: r}\n"
        "spec: {podGroupName: g, resources: {cpu: '4'}, count: 2}\n---\n"
        "kind: Pod\nmetadata: {name: busy}\n"
        "spec: {nodeName: a, containers: [{name: c, resources: {requests: {cpu: '6'}}}]}\n"
    )
    code, out, err = _run("simulate", str(path), "-o", "json")
    assert code == 0, err
    [reservation] = json.loads(out)["reservations"]
    assert reservation["phase"] == "Active"
    assert {s["node"] for s in reservation["slots"].values()} == {"b"}  # a has 2 CPUs left


# --------------------------------------------------------------------------- GPUs


@pytest.fixture(scope="module")
def gpu_json() -> dict:
    code, out, err = _run("simulate", str(EXAMPLES / "gpus.yaml"), "-o", "json")
    assert code == 0, err
    return json.loads(out)  # type: ignore[no-any-return]


def test_gpu_example_places_each_model_on_the_smallest_card_that_fits(gpu_json: dict) -> None:
    pods = _pods(gpu_json)
    node = {name: p["node"] for name, p in pods.items()}
    # 12Gi: the four T4s first (two per node), then the next smallest card, the A100-40GB.
    t4s = sorted(node[f"default/chat-7b-{i}"] for i in range(4))
    assert t4s == ["t4-1", "t4-1", "t4-2", "t4-2"]
    assert [node[f"default/chat-7b-{i}"] for i in (4, 5)] == ["a100-40g-1"] * 2
    # 40Gi: an exact fit on the A100-40GB cards.
    assert [node[f"default/summarize-34b-{i}"] for i in range(2)] == ["a100-40g-1"] * 2
    # 70Gi: 80 GB cards only; the used H100 node is completed first (the islands), so the
    # A100-80GB node stays whole.
    assert [node[f"default/finetune-70b-{i}"] for i in range(3)] == ["h100-1"] * 3
    assert node["default/train-4gpu"] == "h100-1"
    assert node["default/bench-h100"] == "h100-1"  # gpu-products: H100
    assert pods["default/llm-405b"] == {
        "pod": "default/llm-405b",
        "status": "Unschedulable",
        "node": None,
        "message": "0/5 nodes are available: "
        "1 Insufficient GPUs with 100Gi of GPU memory each (1 needed), "
        "4 Insufficient nvidia.com/gpu. no new claims to deallocate, preemption: 0/5 nodes are "
        # No card has 100Gi: evicting is no help on the node with free GPUs.
        "available: 1 Preemption is not helpful for scheduling, "
        "4 No preemption victims found for incoming pod.",
        "annotations": {},
        "profile": {
            "tier": "bronze",
            "tenant": "default",
            "tierSource": "default",
            "workload": "service",
            "gang": False,
            "preemptible": False,
        },
    }
    # A pod placed by VRAM carries nothing beyond its node.
    assert pods["default/chat-7b-0"]["message"] is None
    assert all(p["annotations"] == {} for p in pods.values())
    assert gpu_json["notes"] == []


def test_gpu_example_node_table_shows_each_nodes_gpus(gpu_json: dict) -> None:
    gpus = {n["name"]: n["gpus"] for n in gpu_json["nodes"]}
    mib, gib = 2**20, 2**30

    def kinds(family: str, product: str, memory: int, count: int) -> dict:
        return {"family": family, "product": product, "memory": memory, "count": count}

    assert gpus == {
        "t4-1": {
            "count": 2,
            "used": 2,
            "source": "gpu-feature-discovery",
            "kinds": [kinds("T4-16GB", "Tesla-T4", 15360 * mib, 2)],  # as the driver reports
        },
        "t4-2": {
            "count": 2,
            "used": 2,
            "source": "labels",
            "kinds": [kinds("T4-16GB", "T4", 16 * gib, 2)],  # the model table: as marketed
        },
        "a100-40g-1": {
            "count": 4,
            "used": 4,
            "source": "labels",
            "kinds": [kinds("A100-40GB", "A100-40GB", 40 * gib, 4)],
        },
        "a100-80g-1": {
            "count": 4,
            "used": len([p for p in gpu_json["pods"] if p["node"] == "a100-80g-1"]),
            "source": "gpu-feature-discovery",
            "kinds": [kinds("A100-80GB", "NVIDIA-A100-SXM4-80GB", 81920 * mib, 4)],
        },
        "h100-1": {
            "count": 8,
            "used": 8 - gpus["a100-80g-1"]["used"],  # 3 × 70Gi + 4 + 1 = 8 on both
            "source": "ResourceSlice",
            "kinds": [kinds("H100-80GB", "NVIDIA-H100-80GB-HBM3", 81559 * mib, 8)],
        },
    }
    for node in gpu_json["nodes"]:
        assert node["gpus"]["used"] == node["requested"]["nvidia.com/gpu"]
        assert node["gpuProblem"] is None


def test_gpu_example_table() -> None:
    code, out, _ = _run("simulate", str(EXAMPLES / "gpus.yaml"))
    assert code == 0
    rows = {line.split()[0]: line for line in out.splitlines() if line}
    header = next(line for line in out.splitlines() if line.startswith("NODE"))
    assert header.split() == [
        *["NODE", "CPU", "MEMORY", "PODS", "NVIDIA.COM/GPU", "GPUS", "GPU", "SOURCE"]
    ]
    assert rows["t4-1"].split()[-6:] == [
        *["2/2", "(100%)", "2×", "T4-16GB", "15Gi", "gpu-feature-discovery"]
    ]
    assert rows["t4-2"].split()[-4:] == ["2×", "T4-16GB", "16Gi", "labels"]
    assert rows["h100-1"].split()[-4:] == ["8×", "H100-80GB", "79.6Gi", "ResourceSlice"]
    assert "14 pods: 13 scheduled, 1 unschedulable" in out


def test_a_cluster_without_gpu_data_has_no_gpu_columns(tmp_path: Path) -> None:
    cluster = tmp_path / "c.yaml"
    cluster.write_text("kind: Node\nmetadata: {name: a}\nstatus: {allocatable: {cpu: '4'}}\n")
    code, out, _ = _run("simulate", str(cluster))
    assert code == 0
    assert next(line for line in out.splitlines() if line.startswith("NODE")).split() == [
        *["NODE", "CPU", "MEMORY", "PODS"]
    ]
    _, data, _ = _run("simulate", str(cluster), "-o", "json")
    assert json.loads(data)["nodes"][0]["gpus"] is None


GPU_NODE = (
    "kind: Node\nmetadata: {name: %s}\n"
    "status: {allocatable: {cpu: '32', memory: 256Gi, nvidia.com/gpu: '8'}}\n---\n"
)
VRAM_POD = (
    "kind: Pod\nmetadata: {name: p, annotations: {scheduling.kubenexus.io/vram-request: 8Gi}}\n"
    "spec: {containers: [{name: c, resources: {limits: {nvidia.com/gpu: '1'}}}]}\n---\n"
)


def _slice(name: str, node: str, devices: str) -> str:
    return (
        f"apiVersion: resource.k8s.io/v1\nkind: ResourceSlice\nmetadata: {{name: {name}}}\n"
        f"spec:\n  driver: gpu.nvidia.com\n  nodeName: {node}\n"
        f"  pool: {{name: {node}, generation: 0, resourceSliceCount: 1}}\n"
        f"  devices:\n{devices}---\n"
    )


def _gpu(index: int, product: str, memory: str) -> str:
    return (
        f"  - name: gpu-{index}\n    attributes:\n      type: {{string: gpu}}\n"
        f"      productName: {{string: {product}}}\n"
        f"    capacity: {{memory: {{value: {memory}}}}}\n"
    )


def test_a_mixed_node_shows_each_kind(tmp_path: Path) -> None:
    devices = "".join(_gpu(i, "NVIDIA A100-SXM4-40GB", "40Gi") for i in range(4))
    devices += "".join(_gpu(i, "NVIDIA A100-SXM4-80GB", "80Gi") for i in range(4, 8))
    path = tmp_path / "mixed.yaml"
    path.write_text(GPU_NODE % "mixed" + _slice("mixed-gpus", "mixed", devices) + VRAM_POD)
    code, out, _ = _run("simulate", str(path))
    assert code == 0
    row = next(line for line in out.splitlines() if line.startswith("mixed "))
    assert " ".join(row.split()[-9:]) == (
        "1/8 (12%) 4× A100-40GB 40Gi, 4× A100-80GB 80Gi ResourceSlice"
    )
    _, data, _ = _run("simulate", str(path), "-o", "json")
    gpus = json.loads(data)["nodes"][0]["gpus"]
    assert [(k["family"], k["count"]) for k in gpus["kinds"]] == [
        ("A100-40GB", 4),
        ("A100-80GB", 4),
    ]
    assert (gpus["count"], gpus["used"]) == (8, 1)


def test_a_slice_that_cannot_be_read_is_a_note_and_its_node_has_no_gpu_data(
    tmp_path: Path,
) -> None:
    bad = "  - name: gpu-0\n    attributes: {productName: {bool: true}}\n"
    good = _gpu(0, "NVIDIA L4", "24Gi")
    path = tmp_path / "bad.yaml"
    path.write_text(
        GPU_NODE % "broken"
        + GPU_NODE % "fine"
        + _slice("broken-gpus", "broken", bad)
        + _slice("fine-gpus", "fine", good)
        + VRAM_POD
    )
    code, out, err = _run("simulate", str(path), "-o", "json")
    assert code == 0, err
    data = json.loads(out)
    problem = (
        "ResourceSlice broken-gpus.spec.devices[0].attributes[productName]: "
        "expected a string (got True)"
    )
    assert data["notes"] == [f"node broken: GPU data ignored (InvalidGPUData): {problem}"]
    nodes = {n["name"]: n for n in data["nodes"]}
    assert nodes["broken"]["gpus"] is None
    assert nodes["broken"]["gpuProblem"] == problem
    assert nodes["fine"]["gpus"]["source"] == "ResourceSlice"
    assert _pods(data)["default/p"]["node"] == "fine"
    _, table, _ = _run("simulate", str(path))
    assert "ignored (see the note)" in next(
        line for line in table.splitlines() if line.startswith("broken ")
    )
    assert f"note: node broken: GPU data ignored (InvalidGPUData): {problem}" in table


def test_a_vram_pod_with_no_readable_gpu_data_anywhere_waits_saying_so(tmp_path: Path) -> None:
    bad = "  - name: gpu-0\n    capacity: {memory: {value: lots}}\n"
    path = tmp_path / "bad.yaml"
    path.write_text(GPU_NODE % "broken" + _slice("broken-gpus", "broken", bad) + VRAM_POD)
    code, out, _ = _run("simulate", str(path), "-o", "json")
    assert code == 0
    data = json.loads(out)
    assert "ResourceSlice broken-gpus.spec.devices[0].capacity[memory].value" in data["notes"][0]
    assert _pods(data)["default/p"]["message"] == (
        "0/1 nodes are available: 1 node(s) had no GPU information." + not_helpful(1)
    )


def test_slices_that_name_no_node_of_the_input_are_noted(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(
        GPU_NODE % "a"
        + _slice("elsewhere-gpus", "elsewhere", _gpu(0, "NVIDIA L4", "24Gi"))
        + "apiVersion: resource.k8s.io/v1\nkind: ResourceSlice\nmetadata: {name: fabric}\n"
        "spec: {driver: gpu.nvidia.com, allNodes: true, pool: {name: f}, devices: []}\n"
    )
    code, out, _ = _run("simulate", str(path), "-o", "json")
    assert code == 0
    assert json.loads(out)["notes"] == [
        f"{path}: document 3 (ResourceSlice fabric): no spec.nodeName "
        "(devices not local to one node): not read",
        "ResourceSlice elsewhere-gpus: spec.nodeName 'elsewhere' is not a node of the input: "
        "not read",
    ]


def test_a_slice_defined_twice_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    gpu = _gpu(0, "NVIDIA L4", "24Gi")
    path.write_text(GPU_NODE % "a" + _slice("s", "a", gpu) + _slice("s", "a", gpu))
    code, _, err = _run("simulate", str(path))
    assert code == 2
    assert "document 3 (ResourceSlice s): metadata.name: ResourceSlice 's' is already" in err


def test_gpu_sources_that_disagree_are_noted(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(
        "kind: Node\nmetadata:\n  name: a\n  labels:\n"
        "    nvidia.com/gpu.product: Tesla-T4\n    nvidia.com/gpu.memory: '15360'\n"
        "    nvidia.com/gpu.count: '4'\n    gpu.kubenexus.io/model: T4\n"
        "    gpu.kubenexus.io/count: '2'\n"
        "status: {allocatable: {cpu: '8', nvidia.com/gpu: '4'}}\n"
    )
    code, out, _ = _run("simulate", str(path), "-o", "json")
    assert code == 0
    data = json.loads(out)
    assert data["notes"] == [
        "node a: GPU sources disagree (GPUDataDisagree): gpu.kubenexus.io/count says 2 but "
        "nvidia.com/gpu.count says 4"
    ]
    assert data["nodes"][0]["gpus"]["source"] == "gpu-feature-discovery"


def test_a_pod_claiming_gpus_through_dra_waits_saying_so(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(
        GPU_NODE % "a"
        + _slice("a-gpus", "a", _gpu(0, "NVIDIA L4", "24Gi"))
        + "kind: Pod\nmetadata: {name: claims}\n"
        "spec:\n  resourceClaims: [{name: gpu, resourceClaimTemplateName: one-gpu}]\n"
        "  containers: [{name: c, resources: {claims: [{name: gpu}]}}]\n"
    )
    code, out, _ = _run("simulate", str(path), "-o", "json")
    assert code == 0
    assert _pods(json.loads(out))["default/claims"]["message"] == (
        "0/1 nodes are available: spec.resourceClaims not supported by kubenexus-scheduler yet."
    )


def test_vram_weight_keeps_a_12gib_model_on_a_busy_t4(tmp_path: Path) -> None:
    """docs/gpus.md: the T4's fit (80 points) over an A100-40GB's (30) at weight 8 outweighs
    LeastAllocated's spreading however busy the T4 node is; with VRAMScheduler at weight 1 and
    no island preference, a T4 node half full of other pods loses the model to an idle A100."""
    path = tmp_path / "busy.yaml"
    path.write_text(
        "kind: Node\nmetadata: {name: t4, labels: {gpu.kubenexus.io/model: T4}}\n"
        "status: {allocatable: {cpu: '16', memory: 64Gi, nvidia.com/gpu: '1'}}\n---\n"
        "kind: Node\nmetadata:\n  name: a100\n"
        "  labels: {gpu.kubenexus.io/model: A100-40GB, gpu.kubenexus.io/count: '4'}\n"
        "status: {allocatable: {cpu: '64', memory: 512Gi, nvidia.com/gpu: '4'}}\n---\n"
        "kind: Pod\nmetadata: {name: etl}\nspec:\n  nodeName: t4\n"
        "  containers: [{name: c, resources: {requests: {cpu: '8', memory: 32Gi}}}]\n---\n"
        "kind: Pod\nmetadata: {name: chat, annotations: {scheduling.kubenexus.io/vram-request: 12Gi}}\n"
        "spec:\n  containers:\n  - name: c\n"
        "    resources: {requests: {cpu: '4', memory: 16Gi}, limits: {nvidia.com/gpu: '1'}}\n"
    )
    config = tmp_path / "k.yaml"
    config.write_text(
        "apiVersion: kubescheduler.config.k8s.io/v1\nkind: KubeSchedulerConfiguration\nprofiles:\n"
        "- schedulerName: kubenexus-scheduler\n  plugins:\n    score:\n"
        "      enabled: [{name: VRAMScheduler, weight: 1}]\n"
        "      disabled: [{name: ResourceFragmentationScore}, {name: TenantHardwareAffinityScore}]\n"
    )
    _, default, _ = _run("simulate", str(path), "-o", "json")
    _, light, _ = _run("simulate", str(path), "--config", str(config), "-o", "json")
    assert _pods(json.loads(default))["default/chat"]["node"] == "t4"
    assert _pods(json.loads(light))["default/chat"]["node"] == "a100"


def test_a_gpu_without_memory_is_a_note(tmp_path: Path) -> None:
    device = "  - name: gpu-0\n    attributes: {type: {string: gpu}, productName: {string: L4}}\n"
    path = tmp_path / "c.yaml"
    path.write_text(GPU_NODE % "a" + _slice("a-gpus", "a", device))
    code, out, _ = _run("simulate", str(path))
    assert code == 0
    assert (
        "note: node a: ResourceSlice a-gpus.spec.devices[0] (gpu-0) publishes no memory "
        "capacity: its memory is unknown"
    ) in out
    assert "1× L4 memory unknown  ResourceSlice" in out


def test_the_gpu_docs_show_the_examples_real_output() -> None:
    doc = (EXAMPLES.parent / "docs" / "gpus.md").read_text()
    shown = doc.split("`kubenexus simulate examples/gpus.yaml` prints:\n\n```\n", 1)[1]
    shown = shown.split("\n```", 1)[0]
    _, out, _ = _run("simulate", str(EXAMPLES / "gpus.yaml"))
    assert out.rstrip("\n") == shown


def test_services_example_keeps_pod_rules_as_kube_scheduler() -> None:
    code, out, err = _run(
        "simulate", str(EXAMPLES / "cluster.yaml"), str(EXAMPLES / "services.yaml"), "-o", "json"
    )
    assert code == 0, err
    pods = _pods(json.loads(out))
    web = [pods[f"default/web-{i}"] for i in range(7)]
    placed = [p["node"] for p in web if p["status"] == "Scheduled"]
    assert len(placed) == len(set(placed)) == 6  # one replica per node
    [waiting] = [p for p in web if p["status"] == "Unschedulable"]
    assert waiting["message"] == (
        "0/12 nodes are available: 1 node(s) were unschedulable, 5 node(s) had untolerated "
        "taint(s), 6 node(s) didn't match pod anti-affinity rules. no new claims to deallocate, "
        "preemption: 0/12 nodes are available: 6 No preemption victims found for incoming pod, "
        "6 Preemption is not helpful for scheduling."
    )
    zone = {"cpu-large-1": "a", "cpu-large-2": "b", "cpu-large-3": "c", "cpu-small-1": "a"}
    zone |= {"cpu-small-2": "b", "mem-1": "a", "edge-1": "edge"}
    assert sorted(zone[pods[f"default/db-{i}"]["node"]] for i in range(3)) == ["a", "b", "c"]
    assert pods["default/cache"]["node"] in placed  # next to a web replica


def test_preemption_example_evicts_the_least_important_and_shows_who_did() -> None:
    code, out, err = _run("simulate", str(EXAMPLES / "preemption.yaml"), "-o", "json")
    assert code == 0, err
    pods = _pods(json.loads(out))
    assert pods["default/batch-a"]["status"] == "Preempted"
    assert pods["default/batch-a"]["message"] == "Preempted by default/urgent on node n1"
    assert pods["default/urgent"]["status"] == "Scheduled"
    assert pods["default/urgent"]["node"] == "n1"
    assert pods["default/report"]["status"] == "Running"  # outranks batch-a
    assert pods["default/polite"]["status"] == "Unschedulable"  # preemptionPolicy: Never
    code, table, err = _run("simulate", str(EXAMPLES / "preemption.yaml"))
    assert code == 0, err
    assert "1 scheduled, 1 unschedulable, 2 already running" in table
    assert ", 1 preempted; 2 nodes" in table


def test_tenants_example_places_each_tenant_on_its_tier() -> None:
    code, out, err = _run("simulate", str(EXAMPLES / "tenants.yaml"), "-o", "json")
    assert code == 0, err
    data = json.loads(out)
    pods = _pods(data)
    node = {name: p["node"] for name, p in pods.items()}
    gang = {node[f"gold-team/llm-pretrain-{i}"] for i in range(4)}
    assert gang in ({"h100-1", "h100-2"}, {"h100-3", "h100-4"})  # one clique, both its nodes
    assert node["gold-team/jupyter-alice"].startswith("h100-")
    assert node["lab/experiment"].startswith("h100-")  # gold by its priority class
    assert all(node[f"silver-team/chat-predictor-{i}"].startswith("a100-") for i in range(3))
    assert node["silver-team/vision-train-0"].startswith("a100-")
    bert = {node[f"bronze-team/bert-finetune-{i}"] for i in range(2)}
    assert len(bert) == 1  # batch packs…
    assert bert.pop().startswith("l4-")  # … on bronze hardware
    for i in range(2):
        assert node[f"bronze-team/hpc-sim-{i}"].split("-")[0] in {"h100", "a100"}  # IB or better
    assert pods["default/typo"]["message"] == (
        "0/10 nodes are available: annotation scheduling.kubenexus.io/min-fabric-tier='fast': "
        "expected nvswitch, nvlink, infiniband, roce or ethernet."
    )
    assert pods["gold-team/llm-pretrain-0"]["profile"] == {
        "tier": "gold",
        "tenant": "llm-research",
        "tierSource": "namespace",
        "workload": "training",
        "gang": True,
        "preemptible": False,
    }
    assert pods["silver-team/chat-predictor-0"]["profile"]["workload"] == "inference"
    assert pods["gold-team/jupyter-alice"]["profile"]["workload"] == "interactive"
    assert pods["bronze-team/scavenger-0"]["profile"]["preemptible"] is True
    assert pods["lab/experiment"]["profile"]["tierSource"] == "priority-class"
    assert data["notes"] == [
        "pod lab/experiment: namespace lab label tenant.kubenexus.io/tier='platinum' is not "
        "gold, silver or bronze; ignored"
    ]


def test_a_namespace_without_a_name_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "ns.yaml"
    path.write_text("kind: Namespace\nmetadata: {labels: {a: b}}\n")
    code, _, err = _run("simulate", str(path))
    assert code != 0
    assert "metadata.name: is required" in err
    path.write_text("kind: Namespace\nmetadata: {name: x, labels: {tenant.kubenexus.io/tier: 3}}\n")
    code, _, err = _run("simulate", str(path))
    assert code != 0
    assert "metadata.labels" in err


def _zoned_nodes() -> str:
    """Six equal nodes, two per zone, listed zone by zone: without spreading, the second pod
    goes to the second node of the first zone (ties go to the node listed first)."""
    return "".join(
        f"kind: Node\nmetadata: {{name: {zone}{i}, labels: "
        f"{{topology.kubernetes.io/zone: {zone}, kubernetes.io/hostname: {zone}{i}}}}}\n"
        "status: {allocatable: {cpu: '8', memory: 16Gi, pods: '110'}}\n---\n"
        for zone in "abc"
        for i in (1, 2)
    )


_TEMPLATE = (
    "  template:\n    metadata: {labels: {app: web}}\n    spec:\n"
    "      containers: [{name: c, resources: {requests: {cpu: '1', memory: 1Gi}}}]\n"
)


@pytest.mark.parametrize(
    "workload",
    [
        "kind: Deployment\nmetadata: {name: web}\nspec:\n  replicas: 3\n"
        "  selector: {matchLabels: {app: web}}\n" + _TEMPLATE,
        "kind: StatefulSet\nmetadata: {name: web}\nspec:\n  replicas: 3\n"
        "  selector: {matchLabels: {app: web}}\n" + _TEMPLATE,
        # A ReplicationController's selector defaults to its template's labels.
        "kind: ReplicationController\nmetadata: {name: web}\nspec:\n  replicas: 3\n" + _TEMPLATE,
        # Bare pods selected by a Service.
        "kind: Service\nmetadata: {name: web}\nspec: {selector: {app: web}}\n"
        + "".join(
            f"---\nkind: Pod\nmetadata: {{name: web-{i}, labels: {{app: web}}}}\nspec:\n"
            "  containers: [{name: c, resources: {requests: {cpu: '1', memory: 1Gi}}}]\n"
            for i in range(3)
        ),
    ],
    ids=["deployment", "statefulset", "replicationcontroller", "service"],
)
def test_replicas_of_a_workload_are_spread_over_zones_by_default(
    tmp_path: Path, workload: str
) -> None:
    # kube-scheduler's default PodTopologySpread spreads the pods a Service or controller
    # selects over zones and nodes; the daemon reads those selectors from the cluster.
    cluster = tmp_path / "c.yaml"
    cluster.write_text(_zoned_nodes())
    pods = tmp_path / "w.yaml"
    pods.write_text(workload)
    code, out, err = _run("simulate", str(cluster), str(pods), "-o", "json")
    assert code == 0, err
    placed = sorted(p["node"] for p in json.loads(out)["pods"])
    assert placed == ["a1", "b1", "c1"]


def test_a_workload_with_a_malformed_selector_is_named(tmp_path: Path) -> None:
    cluster = tmp_path / "c.yaml"
    cluster.write_text(_zoned_nodes())
    pods = tmp_path / "w.yaml"
    pods.write_text(
        "kind: Deployment\nmetadata: {name: web}\nspec:\n  replicas: 1\n"
        "  selector: {matchExpressions: [{key: app, operator: Near}]}\n" + _TEMPLATE
    )
    code, _, err = _run("simulate", str(cluster), str(pods))
    assert code != 0
    assert "spec.selector" in err
    assert "Near" in err


def test_a_priority_class_gives_its_pods_its_preemption_policy(tmp_path: Path) -> None:
    """As the Priority admission plugin: a pod naming a class with preemptionPolicy: Never
    never preempts, though it outranks the pod in its way."""
    path = tmp_path / "input.yaml"
    path.write_text(
        "kind: PriorityClass\nmetadata: {name: polite}\nvalue: 1000\npreemptionPolicy: Never\n"
        "---\nkind: Node\nmetadata: {name: n1}\nstatus: {allocatable: {cpu: '4', pods: '10'}}\n"
        "---\nkind: Pod\nmetadata: {name: low}\n"
        "spec: {nodeName: n1, containers: [{name: c, resources: {requests: {cpu: '4'}}}]}\n"
        "---\nkind: Pod\nmetadata: {name: high}\n"
        "spec: {priorityClassName: polite, containers: [{name: c, resources: {requests: {cpu: '4'}}}]}\n"
    )
    code, out, err = _run("simulate", str(path), "-o", "json")
    assert code == 0, err
    pods = _pods(json.loads(out))
    assert pods["default/low"]["status"] == "Running"
    assert pods["default/high"]["status"] == "Unschedulable"


def test_a_null_selector_value_is_read_as_the_api_server_reads_it(tmp_path: Path) -> None:
    """[null, "web"] in a label selector's values: the API server decodes null into "" (a Go
    string); so does the simulator, instead of failing on None."""
    path = tmp_path / "input.yaml"
    path.write_text(
        "kind: Node\nmetadata: {name: n1, labels: {kubernetes.io/hostname: n1}}\n"
        "status: {allocatable: {cpu: '4', pods: '10'}}\n---\n"
        "kind: Pod\nmetadata: {name: web, labels: {app: web}}\n"
        "spec: {nodeName: n1, containers: [{name: c}]}\n---\n"
        "kind: Pod\nmetadata: {name: p}\nspec:\n  containers: [{name: c}]\n  affinity:\n"
        "    podAntiAffinity:\n      requiredDuringSchedulingIgnoredDuringExecution:\n"
        "      - topologyKey: kubernetes.io/hostname\n"
        "        labelSelector: {matchExpressions: [{key: app, operator: In, values: [null, web]}]}\n"
    )
    code, out, err = _run("simulate", str(path), "-o", "json")
    assert code == 0, err
    assert _pods(json.loads(out))["default/p"]["status"] == "Unschedulable"  # web is on n1


@pytest.mark.parametrize(
    "inputs", [("cluster.yaml", "gangs.yaml"), ("tenants.yaml",)], ids=["gangs", "tenants"]
)
def test_a_simulation_is_the_same_in_every_process(inputs: tuple[str, ...]) -> None:
    """Same input, same placements: no answer depends on Python's per-process string hashing
    (the order of a gang's members, of the pods on a node)."""
    outputs = set()
    for seed in ("1", "2", "4", "5"):
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "kubenexus.cli",
                "simulate",
                *(str(EXAMPLES / i) for i in inputs),
            ],
            capture_output=True,
            text=True,
            check=True,
            timeout=120,
            env={**os.environ, "PYTHONHASHSEED": seed},
        )
        outputs.add(done.stdout)
    assert len(outputs) == 1


def test_the_built_in_system_priority_classes_need_no_document(tmp_path: Path) -> None:
    """Every cluster has system-cluster-critical and system-node-critical: pods dumped from one
    (kubectl get pods -o yaml) name them without the file defining them."""
    path = tmp_path / "input.yaml"
    path.write_text(
        "kind: Node\nmetadata: {name: n1}\nstatus: {allocatable: {cpu: '4', pods: '10'}}\n---\n"
        "kind: Pod\nmetadata: {name: dns, namespace: kube-system}\n"
        "spec: {priorityClassName: system-cluster-critical, containers: [{name: c}]}\n---\n"
        "kind: Pod\nmetadata: {name: proxy, namespace: kube-system}\n"
        "spec: {priorityClassName: system-node-critical, containers: [{name: c}]}\n"
    )
    code, out, err = _run("simulate", str(path), "-o", "json")
    assert code == 0, err
    pods = _pods(json.loads(out))
    assert pods["kube-system/dns"]["status"] == pods["kube-system/proxy"]["status"] == "Scheduled"
    scheduler_pods = {
        p.name: p.priority
        for p in simulate(path).scheduler.cache.pods_on("n1")  # type: ignore[union-attr]
    }
    assert scheduler_pods == {"dns": 2_000_000_000, "proxy": 2_000_001_000}
