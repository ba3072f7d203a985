from __future__ import annotations

from typing import Any

import pytest

from kubenexus.api import keys, node_from_dict, pod_from_dict
from kubenexus.api.objects import go_int, placed_pod_from_dict
from kubenexus.errors import InvalidInputError
from tests.builders import make_node, make_pod

GI = 2**30
MI = 2**20


def test_requests_sum_containers_and_count_one_pod_slot() -> None:
    pod = make_pod("p").req(cpu="500m", memory="1Gi").container(cpu="1", memory="2Gi").obj()
    assert dict(pod.requests) == {"cpu": 1500, "memory": 3 * GI, "pods": 1}


def test_init_container_larger_than_sum_wins_per_resource() -> None:
    pod = make_pod("p").req(cpu="1", memory="1Gi").init_container(cpu="3", memory="512Mi").obj()
    assert pod.requests["cpu"] == 3000
    assert pod.requests["memory"] == GI


def test_sidecars_add_to_containers_and_to_later_init_containers() -> None:
    # sidecar 1 cpu runs alongside; a later init container of 2 cpu needs 1 + 2 = 3 at its peak.
    pod = (
        make_pod("p")
        .req(cpu="1")
        .init_container(sidecar=True, cpu="1")
        .init_container(cpu="2")
        .obj()
    )
    assert pod.requests["cpu"] == 3000
    pod = (
        make_pod("p")
        .req(cpu="4")
        .init_container(sidecar=True, cpu="1")
        .init_container(cpu="2")
        .obj()
    )
    assert pod.requests["cpu"] == 5000


def test_overhead_is_added() -> None:
    pod = make_pod("p").req(cpu="1", memory="1Gi").overhead(cpu="250m", memory="120Mi").obj()
    assert pod.requests["cpu"] == 1250
    assert pod.requests["memory"] == GI + 120 * MI


def test_limits_stand_in_for_missing_requests() -> None:
    body = make_pod("p").dict()
    body["spec"]["containers"][0]["resources"] = {
        "limits": {"nvidia.com/gpu": "2", "cpu": "2"},
        "requests": {"cpu": "1"},
    }
    pod = pod_from_dict(body)
    assert pod.requests["nvidia.com/gpu"] == 2
    assert pod.requests["cpu"] == 1000


def test_best_effort_pod_scores_with_defaults() -> None:
    pod = make_pod("p").obj()
    assert dict(pod.requests) == {"pods": 1}
    assert pod.score_cpu == keys.DEFAULT_SCORE_MILLI_CPU
    assert pod.score_memory == keys.DEFAULT_SCORE_MEMORY


def test_pod_identity_and_defaults() -> None:
    body = make_pod("p").dict()
    del body["metadata"]["uid"]
    del body["metadata"]["namespace"]
    pod = pod_from_dict(body)
    assert pod.key == "default/p"
    assert pod.phase == "Pending"
    assert pod.priority == 0
    assert make_pod("q").obj().key == "uid-q"


def test_reads_owner_priority_timestamps_and_terminal_phase() -> None:
    body = make_pod("p").priority(100).created("2026-01-02T03:04:05Z").phase("Succeeded").dict()
    body["metadata"]["ownerReferences"] = [
        {"kind": "ReplicaSet", "name": "other", "uid": "1"},
        {"kind": "Job", "name": "train", "uid": "2", "controller": True},
    ]
    pod = pod_from_dict(body)
    assert pod.priority == 100
    assert pod.created == pytest.approx(1767323045.0)
    assert pod.terminal
    assert pod.owner is not None
    assert (pod.owner.kind, pod.owner.name) == ("Job", "train")


def _set(body: dict[str, Any], path: list[str | int], value: object) -> dict[str, Any]:
    target: Any = body
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value
    return body


@pytest.mark.parametrize(
    ("path", "value", "field", "reason"),
    [
        (
            ["spec", "containers", 0, "resources"],
            {"requests": {"cpu": "lots"}},
            "spec.containers[0].resources.requests.cpu",
            "invalid quantity",
        ),
        (
            ["spec", "containers", 0, "resources"],
            {"requests": {"memory": "-1Gi"}},
            "spec.containers[0].resources.requests.memory",
            "must not be negative",
        ),
        (  # the API server refuses half a device; kubenexus simulate took it as one GPU
            ["spec", "containers", 0, "resources"],
            {"limits": {"nvidia.com/gpu": "0.5"}},
            "spec.containers[0].resources.limits.nvidia.com/gpu",
            "an extended resource must be a whole number",
        ),
        (["spec", "containers"], [], "spec.containers", "at least one container"),
        (["spec", "containers"], "web", "spec.containers", "expected a list"),
        (["spec", "priority"], "high", "spec.priority", "expected an integer"),
        (["spec", "nodeSelector"], {"zone": 3}, "spec.nodeSelector.zone", "quote them"),
        (["metadata", "labels"], {"app": True}, "metadata.labels.app", "quote them"),
        (["metadata", "name"], "", "metadata.name", "must not be empty"),
        (["metadata", "creationTimestamp"], "yesterday", "metadata.creationTimestamp", "RFC 3339"),
        (
            ["spec", "tolerations"],
            [{"key": "a", "operator": "Maybe"}],
            "spec.tolerations[0].operator",
            "Equal or Exists",
        ),
        (
            ["spec", "tolerations"],
            [{"key": "a", "operator": "Exists", "value": "x"}],
            "spec.tolerations[0].value",
            "must be empty",
        ),
        (
            ["spec", "tolerations"],
            [{"operator": "Equal", "value": "x"}],
            "spec.tolerations[0].operator",
            "must be Exists",
        ),
        (
            ["spec", "tolerations"],
            [{"key": "a", "effect": "Sometimes"}],
            "spec.tolerations[0].effect",
            "one of",
        ),
    ],
)
def test_malformed_pod_fields_are_named(
    path: list[str | int], value: object, field: str, reason: str
) -> None:
    body = _set(make_pod("p").dict(), path, value)
    with pytest.raises(InvalidInputError) as info:
        pod_from_dict(body)
    assert info.value.field == field
    assert reason in str(info.value)


@pytest.mark.parametrize(
    ("expression", "field", "reason"),
    [
        ({"key": "a", "operator": "Near", "values": ["1"]}, ".operator", "must be one of"),
        ({"key": "a", "operator": "In", "values": []}, ".values", "non-empty"),
        ({"key": "a", "operator": "Exists", "values": ["x"]}, ".values", "must be empty"),
        ({"key": "a", "operator": "Gt", "values": ["1", "2"]}, ".values", "exactly one"),
        ({"key": "a", "operator": "Lt", "values": ["ten"]}, ".values[0]", "needs an integer"),
        ({"operator": "Exists"}, ".key", "is required"),
    ],
)
def test_malformed_affinity_is_named(expression: dict[str, Any], field: str, reason: str) -> None:
    body = make_pod("p").dict()
    body["spec"]["affinity"] = {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [{"matchExpressions": [expression]}]
            }
        }
    }
    with pytest.raises(InvalidInputError) as info:
        pod_from_dict(body)
    base = "spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0]"
    assert info.value.field == base + field
    assert reason in str(info.value)


def test_affinity_needs_at_least_one_term_and_fields_only_on_name() -> None:
    body = make_pod("p").dict()
    body["spec"]["affinity"] = {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": []}
        }
    }
    with pytest.raises(InvalidInputError, match="at least one term"):
        pod_from_dict(body)
    bad_field = make_pod("p").affinity_term(fields=[("metadata.labels", "In", ["x"])]).dict()
    with pytest.raises(InvalidInputError, match=r"only metadata\.name"):
        pod_from_dict(bad_field)


def test_node_reads_allocatable_taints_and_cordon() -> None:
    node = (
        make_node("n")
        .alloc(cpu="8", memory="32Gi")
        .extended("nvidia.com/gpu", "4")
        .taint("gpu", "true")
        .cordon()
        .obj()
    )
    assert node.allocatable["cpu"] == 8000
    assert node.allocatable["nvidia.com/gpu"] == 4
    assert node.unschedulable
    assert [str(t) for t in node.taints] == ["{gpu: true}"]


def test_node_falls_back_to_capacity_and_offers_no_pod_slot_unless_told() -> None:
    body = {"metadata": {"name": "n"}, "status": {"capacity": {"cpu": "2"}}}
    # As kube-scheduler: a node offering no "pods" takes none ("Too many pods").
    assert node_from_dict(body).allocatable == {"cpu": 2000}
    # The simulator gives hand-written nodes the kubelet's default.
    assert node_from_dict(body, default_pods=keys.DEFAULT_MAX_PODS).allocatable == {
        "cpu": 2000,
        "pods": keys.DEFAULT_MAX_PODS,
    }


@pytest.mark.parametrize(
    ("value", "number"),
    [
        ("007", 7),
        ("-3", -3),
        ("+5", 5),
        ("9007199254740993", 2**53 + 1),
        ("1_0", None),
        (" 1", None),
        ("99999999999999999999", None),
        ("1.0", None),
        ("", None),
    ],
)
def test_gt_lt_integers_are_read_as_kube_scheduler_reads_them(
    value: str, number: int | None
) -> None:
    """Go's strconv.ParseInt: found different by the differential tests against kube-scheduler."""
    assert go_int(value) == number


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda b: b["status"]["allocatable"].update(cpu="two"), "status.allocatable.cpu"),
        (
            lambda b: b["spec"].update(taints=[{"key": "a", "effect": "Never"}]),
            "spec.taints[0].effect",
        ),
        (lambda b: b["spec"].update(taints=[{"effect": "NoSchedule"}]), "spec.taints[0].key"),
        (lambda b: b["spec"].update(unschedulable="yes"), "spec.unschedulable"),
        (lambda b: b["metadata"].pop("name"), "metadata.name"),
    ],
)
def test_malformed_node_fields_are_named(mutate: Any, field: str) -> None:
    body = make_node("n").dict()
    mutate(body)
    with pytest.raises(InvalidInputError) as info:
        node_from_dict(body)
    assert info.value.field == field


def test_a_pending_pods_preemption_policy_is_checked_naming_the_field() -> None:
    body = make_pod("p").dict()
    body["spec"]["preemptionPolicy"] = "Sometimes"
    with pytest.raises(InvalidInputError) as info:
        pod_from_dict(body)
    assert "spec.preemptionPolicy" in str(info.value)
    assert "Sometimes" in str(info.value)
    body["spec"]["preemptionPolicy"] = "Never"
    assert pod_from_dict(body).preemption_policy == "Never"


def test_preemption_fields_never_keep_a_placed_pod_from_being_counted() -> None:
    """A placed pod preempts no one: an odd policy, start time or nomination is not an error."""
    body = make_pod("p").node("a").phase("Running").dict()
    body["spec"]["preemptionPolicy"] = "Sometimes"
    body["status"]["startTime"] = "yesterday"
    body["status"]["nominatedNodeName"] = 7
    pod = pod_from_dict(body)
    assert (pod.node_name, pod.started, pod.nominated_node) == ("a", None, "")
    body["status"]["startTime"] = "2026-01-01T00:00:00Z"
    assert pod_from_dict(body).started is not None


# --------------------------------------------------------------------------- placed pods, slim


def _placed_body() -> dict[str, Any]:
    body = (
        make_pod("web-1")
        .req(cpu="250m", memory="1Gi")
        .node("n1")
        .phase("Running")
        .namespace("shop")
        .label("app", "web")
        .label("pod-group.scheduling.sigs.k8s.io/name", "g1")
        .label("pod-group.scheduling.sigs.k8s.io/min-available", "2")
        .annotate("kubectl.kubernetes.io/last-applied-configuration", "{...}")
        .annotate(keys.CPU_SET, "0-3")
        .annotate("numa.kubenexus.io/zones", "0")
        .toleration("dedicated", value="gpu")
        .node_selector({"disk": "ssd"})
        .owner("ReplicaSet", "web-abc")
        .priority_class("high")
        .dict()
    )
    spec = body["spec"]
    term = {
        "labelSelector": {"matchLabels": {"app": "web"}},
        "topologyKey": "kubernetes.io/hostname",
    }
    spec["affinity"] = {
        "podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [term]}
    }
    spec["containers"][0]["ports"] = [{"containerPort": 80, "hostPort": 8080}]
    return body


def test_a_placed_pod_is_read_for_counting_only() -> None:
    """The daemon's cache reads a placed pod for its usage, ports, labels, pod affinity, gang and
    our own annotations: the rules it was placed by are not read."""
    body = _placed_body()
    full = pod_from_dict(body)
    slim = placed_pod_from_dict(body, keep_owner=False)
    for kept in ("requests", "node_name", "phase", "host_ports", "pod_affinity", "labels"):
        assert getattr(slim, kept) == getattr(full, kept), kept
    assert slim.gang == full.gang == "shop/g1"
    assert slim.gang_min == full.gang_min == 2
    assert slim.pod_affinity is not None
    assert dict(slim.annotations) == {keys.CPU_SET: "0-3", "numa.kubenexus.io/zones": "0"}
    assert (slim.tolerations, slim.node_selector) == ((), ())
    assert slim.priority_class_name == full.priority_class_name == "high"  # victims' profiles
    assert slim.owner is None
    assert full.tolerations
    assert full.node_selector
    assert full.owner is not None
    assert placed_pod_from_dict(body, keep_owner=True).owner == full.owner


def test_placed_pods_share_one_copy_of_equal_labels() -> None:
    first = placed_pod_from_dict(_placed_body(), keep_owner=False)
    body = _placed_body()
    body["metadata"]["name"] = "web-2"
    second = placed_pod_from_dict(body, keep_owner=False)
    assert first.labels is second.labels


def test_a_pending_pod_is_read_in_full_whatever_the_reader() -> None:
    body = _placed_body()
    del body["spec"]["nodeName"]
    body["status"] = {"phase": "Pending"}
    assert placed_pod_from_dict(body, keep_owner=False) == pod_from_dict(body)


def test_a_placed_pod_with_unreadable_rules_is_counted_and_bad_requests_are_named() -> None:
    body = _placed_body()
    body["spec"]["tolerations"] = "not a list"
    body["spec"]["nodeSelector"] = {"disk": 7}
    assert placed_pod_from_dict(body, keep_owner=False).requests["cpu"] == 250
    body["spec"]["containers"][0]["resources"]["requests"]["cpu"] = "lots"
    with pytest.raises(InvalidInputError, match=r"spec\.containers\[0\]\.resources\.requests\.cpu"):
        placed_pod_from_dict(body, keep_owner=False)


# ------------------------------------------------------------------ the reader's shortcuts
# Absent fields skip work (start-up reads 50,000 pods): present-but-wrong ones must still be
# named, and present ones still read.


def test_limits_alone_stand_in_for_requests_a_second_time_too() -> None:
    # The second read of the same quantities comes from the memo of amounts.
    for _ in range(2):
        body = make_pod("p").dict()
        body["spec"]["containers"][0]["resources"] = {"limits": {"cpu": "1500m", "memory": "3Gi"}}
        pod = pod_from_dict(body)
        assert dict(pod.requests) == {"cpu": 1500, "memory": 3 * GI, "pods": 1}


@pytest.mark.parametrize(
    ("container", "field"),
    [
        ("not a container", "spec.containers[1]"),
        ({"name": "b", "resources": "lots"}, "spec.containers[1].resources"),
        (
            {"name": "b", "resources": {"requests": {"cpu": "-1"}}},
            "spec.containers[1].resources.requests.cpu",
        ),
        (
            {"name": "b", "resources": {"limits": {"memory": "lots"}}},
            "spec.containers[1].resources.limits.memory",
        ),
        ({"name": "b", "restartPolicy": 7}, "spec.containers[1].restartPolicy"),
        ({"name": "b", "ports": [{"hostPort": 70000}]}, "spec.containers[1].ports[0].hostPort"),
    ],
)
def test_a_wrong_container_field_is_named_placed_or_not(container: object, field: str) -> None:
    body = make_pod("p").req(cpu="1").dict()
    body["spec"]["containers"].append(container)
    with pytest.raises(InvalidInputError) as caught:
        pod_from_dict(body)
    assert caught.value.field == field
    if field.endswith("hostPort"):
        # A placed pod is counted whatever its ports say (it runs anyway).
        body["spec"]["nodeName"] = "n1"
        assert placed_pod_from_dict(body, keep_owner=False).host_ports == ()


def test_host_ports_of_any_container_are_read() -> None:
    body = make_pod("p").req(cpu="1").dict()
    body["spec"]["containers"].append(
        {"name": "b", "ports": [{"containerPort": 80}, {"hostPort": 8080, "protocol": "UDP"}]}
    )
    body["spec"]["initContainers"] = [
        {"name": "side", "restartPolicy": "Always", "ports": [{"hostPort": 9090}]},
        {"name": "once", "ports": [{"hostPort": 7070}]},  # done before the others start
    ]
    for pod in (
        pod_from_dict(body),
        placed_pod_from_dict(dict(body, spec=dict(body["spec"], nodeName="n1")), keep_owner=False),
    ):
        assert sorted(p.port for p in pod.host_ports) == [8080, 9090]


@pytest.mark.parametrize(
    "affinity",
    [
        None,
        {},
        {"nodeAffinity": {}},
        {"podAffinity": None},
        {"podAntiAffinity": {}},
    ],
)
def test_no_pod_affinity_reads_as_none(affinity: object) -> None:
    body = make_pod("p").dict()
    body["spec"]["affinity"] = affinity
    assert not pod_from_dict(body).pod_affinity


def test_pod_affinity_is_read_and_a_wrong_one_named() -> None:
    body = make_pod("p").dict()
    term = {"labelSelector": {"matchLabels": {"app": "db"}}, "topologyKey": "zone"}
    body["spec"]["affinity"] = {
        "podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [term]}
    }
    pod = pod_from_dict(body)
    assert pod.pod_affinity is not None
    assert len(pod.pod_affinity.required_anti) == 1
    body["spec"]["affinity"] = {"podAffinity": "close"}
    with pytest.raises(InvalidInputError) as caught:
        pod_from_dict(body)
    assert caught.value.field == "spec.affinity.podAffinity"
