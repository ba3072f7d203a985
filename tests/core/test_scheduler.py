"""The scheduler's bookkeeping: assume/forget, other schedulers' pods, finished pods, re-activation."""

from __future__ import annotations

import pytest

from kubenexus.api import pod_from_dict
from kubenexus.errors import InvalidInputError
from kubenexus.scheduler import Scheduled
from tests.builders import make_node, make_pod, no_victims
from tests.core.helpers import place, scheduler


def _cpu_requested(s: object, node: str) -> int:
    nodes = s.cache.nodes  # type: ignore[attr-defined]
    return int(nodes.requested[nodes.resource_index["cpu"], nodes.index[node]])


def test_assumed_pod_takes_capacity_before_binding() -> None:
    s = scheduler(make_node("a").alloc(cpu="4").obj())
    s.upsert_pod(make_pod("p1").req(cpu="3").obj())
    s.upsert_pod(make_pod("p2").req(cpu="3").obj())
    first = s.schedule_one()
    assert isinstance(first, Scheduled)
    assert s.cache.is_assumed("uid-p1")
    second = s.schedule_one()
    assert second is not None
    assert not isinstance(second, Scheduled)
    assert second.message == "0/1 nodes are available: 1 Insufficient cpu." + no_victims(1)


def test_failed_binding_forgets_the_assumption_and_retries_after_backoff() -> None:
    now = [1000.0]
    s = scheduler(make_node("a").alloc(cpu="4").obj(), clock=now)
    s.upsert_pod(make_pod("p").req(cpu="3").obj())
    decision = s.schedule_one()
    assert isinstance(decision, Scheduled)
    assert _cpu_requested(s, "a") == 3000
    s.binding_failed("uid-p", "500 Internal Server Error")
    assert _cpu_requested(s, "a") == 0
    assert s.queue.where("uid-p") == "backoff"
    assert s.schedule_one() is None
    now[0] += 1
    again = s.schedule_one()
    assert isinstance(again, Scheduled)
    assert again.entry.attempts == 2


def test_failed_binding_without_retry_drops_the_pod() -> None:
    s = scheduler(make_node("a").alloc(cpu="4").obj())
    s.upsert_pod(make_pod("p").req(cpu="3").obj())
    assert isinstance(s.schedule_one(), Scheduled)
    s.binding_failed("uid-p", "404 pod gone", retry=False)
    assert "uid-p" not in s.queue
    assert "uid-p" not in s.cache


def test_bound_update_confirms_the_assumption_without_double_counting() -> None:
    s = scheduler(make_node("a").alloc(cpu="4").obj())
    s.upsert_pod(make_pod("p").req(cpu="3").obj())
    assert isinstance(s.schedule_one(), Scheduled)
    s.binding_succeeded("uid-p")
    s.upsert_pod(make_pod("p").req(cpu="3").node("a").obj())  # the watch shows it bound
    assert not s.cache.is_assumed("uid-p")
    assert _cpu_requested(s, "a") == 3000


def test_other_schedulers_pods_count_but_are_not_scheduled() -> None:
    s = scheduler(make_node("a").alloc(cpu="4").obj(), make_node("b").alloc(cpu="4").obj())
    s.upsert_pod(
        make_pod("theirs-running").scheduler("default-scheduler").req(cpu="4").node("a").obj()
    )
    s.upsert_pod(make_pod("theirs-pending").scheduler("default-scheduler").req(cpu="1").obj())
    assert "uid-theirs-pending" not in s.queue
    assert place(s, make_pod("ours").req(cpu="2").obj()) == {"ours": "b"}


def test_finished_pods_free_capacity_and_wake_waiting_pods() -> None:
    now = [1000.0]
    s = scheduler(make_node("a").alloc(cpu="4").obj(), clock=now)
    s.upsert_pod(make_pod("job").req(cpu="4").node("a").obj())
    assert place(s, make_pod("next").req(cpu="2").obj()) == {
        "next": "0/1 nodes are available: 1 Insufficient cpu." + no_victims(1)
    }
    now[0] += 0.5
    s.upsert_pod(make_pod("job").req(cpu="4").node("a").phase("Succeeded").obj())
    assert s.queue.where("uid-next") == "backoff"  # it failed 0.5 s ago: 1 s backoff first
    assert place(s) == {}
    now[0] += 0.5
    assert place(s) == {"next": "a"}


def test_deleted_pod_frees_capacity_and_a_deleted_queued_pod_is_dropped() -> None:
    now = [1000.0]
    s = scheduler(make_node("a").alloc(cpu="4").obj(), clock=now)
    s.upsert_pod(make_pod("big").req(cpu="4").node("a").obj())
    assert place(s, make_pod("waiting").req(cpu="1").obj())["waiting"].startswith("0/1")
    s.upsert_pod(make_pod("doomed").req(cpu="1").obj())
    s.remove_pod("uid-doomed")
    s.remove_pod("uid-big")
    now[0] += 1
    assert place(s) == {"waiting": "a"}
    assert "uid-doomed" not in s.cache


def test_new_node_wakes_unschedulable_pods() -> None:
    now = [1000.0]
    s = scheduler(make_node("small").alloc(cpu="1").obj(), clock=now)
    assert place(s, make_pod("p").req(cpu="8").obj())["p"].startswith("0/1")
    now[0] += 30
    assert place(s) == {}  # nothing changed: it waits
    s.upsert_node(make_node("big").alloc(cpu="16").obj())
    assert place(s) == {"p": "big"}


def test_pods_on_an_unknown_node_count_once_it_appears() -> None:
    s = scheduler()
    s.upsert_pod(make_pod("early").req(cpu="3").node("late-node").obj())
    s.upsert_node(make_node("late-node").alloc(cpu="4").obj())
    assert _cpu_requested(s, "late-node") == 3000
    s.remove_node("late-node")
    s.upsert_node(make_node("late-node").alloc(cpu="4").obj())
    assert _cpu_requested(s, "late-node") == 3000  # counted once, not twice


def test_node_update_keeps_usage() -> None:
    s = scheduler(make_node("a").alloc(cpu="4").obj())
    s.upsert_pod(make_pod("x").req(cpu="3").node("a").obj())
    s.upsert_node(make_node("a").alloc(cpu="8").label("zone", "z").obj())
    assert _cpu_requested(s, "a") == 3000
    assert place(s, make_pod("p").req(cpu="5").selector(zone="z").obj()) == {"p": "a"}


def test_deleting_and_terminating_pods_are_not_queued() -> None:
    s = scheduler(make_node("a").obj())
    body = make_pod("going").dict()
    body["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    s.upsert_pod(pod_from_dict(body))
    assert len(s.queue) == 0


def test_priority_order_decides_who_gets_scarce_capacity() -> None:
    s = scheduler(make_node("a").alloc(cpu="4").obj())
    result = place(
        s, make_pod("low").req(cpu="3").obj(), make_pod("high").req(cpu="3").priority(100).obj()
    )
    assert result["high"] == "a"
    assert result["low"].startswith("0/1 nodes are available")


def test_each_scheduler_name_uses_its_own_profile() -> None:
    config = {
        "profiles": [
            {"schedulerName": "kubenexus-scheduler"},
            {
                "schedulerName": "kubenexus-packer",
                "pluginConfig": [
                    {
                        "name": "NodeResourcesFit",
                        "args": {"scoringStrategy": {"type": "MostAllocated"}},
                    }
                ],
                "plugins": {"score": {"disabled": [{"name": "NodeResourcesBalancedAllocation"}]}},
            },
        ]
    }
    s = scheduler(*[make_node(f"n{i}").alloc(cpu="8").obj() for i in range(3)], config=config)
    spread = [make_pod(f"s{i}").req(cpu="1").obj() for i in range(3)]
    packed = [make_pod(f"k{i}").scheduler("kubenexus-packer").req(cpu="1").obj() for i in range(3)]
    result = place(s, *spread, *packed)
    assert sorted(result[f"s{i}"] for i in range(3)) == ["n0", "n1", "n2"]
    assert len({result[f"k{i}"] for i in range(3)}) == 1
    assert "uid-other" not in s.queue
    s.upsert_pod(make_pod("other").scheduler("someone-else").obj())
    assert "uid-other" not in s.queue


def test_a_bound_pod_stays_counted_however_late_its_watch_event() -> None:
    """Never expired (kube-scheduler since kubernetes#106361): a slow watch must not free a
    full node for a second pod."""
    now = [1000.0]
    s = scheduler(make_node("a").alloc(cpu="2").obj(), clock=now)
    s.upsert_pod(make_pod("first").req(cpu="2").obj())
    assert isinstance(s.schedule_one(), Scheduled)
    s.binding_succeeded("uid-first")
    now[0] += 3600  # no watch event for an hour
    assert place(s, make_pod("second").req(cpu="2").obj())["second"] == (
        "0/1 nodes are available: 1 Insufficient cpu." + no_victims(1)
    )
    s.upsert_pod(make_pod("first").req(cpu="2").node("a").obj())  # the late event confirms it
    assert _cpu_requested(s, "a") == 2000
    s.remove_pod("uid-first")  # and a deletion frees it
    assert _cpu_requested(s, "a") == 0


def _terminating(body: dict[str, object]) -> dict[str, object]:
    body["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"  # type: ignore[index]
    return body


def test_a_queued_pod_that_starts_terminating_leaves_the_queue() -> None:
    """Hardening #7: kube-apiserver refuses to bind a terminating pod."""
    s = scheduler(make_node("small").alloc(cpu="1").obj())
    s.upsert_pod(make_pod("p").req(cpu="4").obj())
    assert place(s)["p"].startswith("0/1")
    assert s.queue.where("uid-p") == "unschedulable"
    s.upsert_pod(pod_from_dict(_terminating(make_pod("p").req(cpu="4").dict())))
    assert "uid-p" not in s.queue
    s.upsert_node(make_node("big").alloc(cpu="8").obj())
    assert place(s) == {}


def test_a_pod_deleted_or_gated_during_its_binding_is_not_retried() -> None:
    now = [1000.0]
    s = scheduler(make_node("a").alloc(cpu="4").obj(), clock=now)
    for name in ("going", "gated"):
        s.upsert_pod(make_pod(name).req(cpu="1").obj())
    decisions = [s.schedule_one(), s.schedule_one()]
    assert all(isinstance(d, Scheduled) for d in decisions)
    s.upsert_pod(pod_from_dict(_terminating(make_pod("going").req(cpu="1").dict())))
    gated = make_pod("gated").req(cpu="1").dict()
    gated["spec"]["schedulingGates"] = [{"name": "example.com/quota"}]
    s.upsert_pod(pod_from_dict(gated))
    # The API refuses both bindings: they are forgotten, not retried forever.
    assert not s.binding_failed("uid-going", "500 pod is being deleted")
    assert not s.binding_failed("uid-gated", "500 pod has non-empty .spec.schedulingGates")
    assert len(s.queue) == 0
    assert _cpu_requested(s, "a") == 0


def test_gated_pods_are_not_tried_until_their_gates_are_removed() -> None:
    s = scheduler(make_node("a").alloc(cpu="4").obj())
    body = make_pod("waiting").req(cpu="1").dict()
    body["spec"]["schedulingGates"] = [{"name": "example.com/quota"}]
    s.upsert_pod(pod_from_dict(body))
    assert len(s.queue) == 0
    assert place(s) == {}
    del body["spec"]["schedulingGates"]
    assert place(s, pod_from_dict(body)) == {"waiting": "a"}


def test_malformed_scheduling_gates_are_named() -> None:
    body = make_pod("p").dict()
    body["spec"]["schedulingGates"] = [{"nam": "typo"}]
    with pytest.raises(InvalidInputError, match=r"spec\.schedulingGates\[0\]\.name: is required"):
        pod_from_dict(body)


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        (
            {"volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": "data"}}]},
            "spec.volumes[0].persistentVolumeClaim",
        ),
        (
            {"volumes": [{"name": "scratch", "ephemeral": {"volumeClaimTemplate": {}}}]},
            "spec.volumes[0].ephemeral",
        ),
        (
            {"resourceClaims": [{"name": "gpu", "resourceClaimName": "gpu-claim"}]},
            "spec.resourceClaims",
        ),
    ],
)
def test_rules_not_implemented_yet_keep_the_pod_waiting_and_say_which(
    spec: dict[str, object], field: str
) -> None:
    """Hardening #12: never a placement that breaks a rule the user wrote."""
    s = scheduler(make_node("a").alloc(cpu="4").obj())
    body = make_pod("p").req(cpu="1").dict()
    body["spec"].update(spec)
    message = place(s, pod_from_dict(body))["p"]
    assert message == f"0/1 nodes are available: {field} not supported by kubenexus-scheduler yet."
    assert s.cache.pod_count == 0
    # Only a change to the pod can help: node changes do not wake it.
    s.upsert_node(make_node("b").alloc(cpu="64").obj())
    assert s.queue.where("uid-p") == "unschedulable"


def test_required_anti_affinity_is_honoured_not_refused() -> None:
    """Once unsupported (the pod waited): now placed, one replica per node, and the third
    waits saying why."""
    s = scheduler(*[make_node(n).alloc(cpu="4").obj() for n in ("a", "b")])
    pods = []
    for i in range(3):
        body = make_pod(f"web-{i}").req(cpu="1").label("app", "web").dict()
        body["spec"]["affinity"] = {
            "podAntiAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": [
                    {
                        "labelSelector": {"matchLabels": {"app": "web"}},
                        "topologyKey": "kubernetes.io/hostname",
                    }
                ]
            }
        }
        pods.append(pod_from_dict(body))
    result = place(s, *pods)
    assert sorted(result[f"web-{i}"] for i in range(2)) == ["a", "b"]
    assert result["web-2"] == (
        "0/2 nodes are available: 2 node(s) didn't match pod anti-affinity rules." + no_victims(2)
    )


def test_a_topology_spread_constraint_is_honoured_not_refused() -> None:
    """Once not implemented (the pod waited); now placed, keeping the skew within maxSkew."""
    s = scheduler(
        make_node("a1").label("zone", "a").alloc(cpu="4").obj(),
        make_node("b1").label("zone", "b").alloc(cpu="4").obj(),
    )
    s.upsert_pod(make_pod("old").label("app", "web").node("a1").phase("Running").obj())
    body = make_pod("p").req(cpu="1").label("app", "web").dict()
    body["spec"]["topologySpreadConstraints"] = [
        {
            "maxSkew": 1,
            "topologyKey": "zone",
            "whenUnsatisfiable": "DoNotSchedule",
            "labelSelector": {"matchLabels": {"app": "web"}},
        }
    ]
    # Zone a already holds one "web" pod: a1 would make the skew 2.
    assert place(s, pod_from_dict(body)) == {"p": "b1"}


def test_preferences_are_not_rules_and_do_not_hold_a_pod_back() -> None:
    s = scheduler(make_node("a").alloc(cpu="4").obj())
    body = make_pod("p").req(cpu="1").dict()
    body["spec"]["affinity"] = {
        "podAntiAffinity": {
            "preferredDuringSchedulingIgnoredDuringExecution": [
                {
                    "weight": 10,
                    "podAffinityTerm": {"labelSelector": {}, "topologyKey": "zone"},
                }
            ]
        }
    }
    body["spec"]["topologySpreadConstraints"] = [
        {"maxSkew": 1, "topologyKey": "zone", "whenUnsatisfiable": "ScheduleAnyway"}
    ]
    body["spec"]["volumes"] = [{"name": "tmp", "emptyDir": {}}]
    assert place(s, pod_from_dict(body)) == {"p": "a"}


def test_pod_level_resources_replace_the_containers_sum() -> None:
    """Hardening #12: spec.resources (pod-level) counts as kube-scheduler counts it."""
    body = make_pod("p").req(cpu="1", memory="1Gi").container(cpu="1", memory="1Gi").dict()
    body["spec"]["resources"] = {"requests": {"cpu": "3"}, "limits": {"memory": "4Gi"}}
    body["spec"]["overhead"] = {"cpu": "250m"}
    pod = pod_from_dict(body)
    assert pod.requests["cpu"] == 3250
    assert pod.requests["memory"] == 4 * 2**30  # a limit stands in for the missing request
    assert pod.score_cpu == 3250
    s = scheduler(make_node("small").alloc(cpu="3").obj(), make_node("big").alloc(cpu="4").obj())
    assert place(s, pod) == {"p": "big"}


def test_a_node_heartbeat_wakes_nobody_and_a_useful_change_wakes_only_who_it_helps() -> None:
    """Hardening #9: node updates that change nothing the scheduler reads do nothing; a change
    wakes only the pods it can help (kube-scheduler's queueing hints)."""
    now = [1000.0]
    s = scheduler(make_node("a").alloc(cpu="2").taint("team", "ml").obj(), clock=now)
    s.upsert_pod(make_pod("big").req(cpu="4").toleration("team", "Equal", "ml").obj())
    s.upsert_pod(make_pod("untolerated").req(cpu="1").obj())
    place(s)
    assert s.queue.where("uid-big") == "unschedulable"
    assert s.queue.where("uid-untolerated") == "unschedulable"
    generation = s.cache.nodes.topology_generation
    for _ in range(5):  # heartbeats: conditions and timestamps are not read
        s.upsert_node(make_node("a").alloc(cpu="2").taint("team", "ml").obj())
    assert s.cache.nodes.topology_generation == generation  # filter caches kept
    assert s.queue.where("uid-big") == "unschedulable"
    # More cpu helps "big" only; the taint still blocks the other.
    s.upsert_node(make_node("a").alloc(cpu="8").taint("team", "ml").obj())
    assert s.queue.where("uid-big") in {"active", "backoff"}
    assert s.queue.where("uid-untolerated") == "unschedulable"
    # Dropping the taint helps it.
    s.upsert_node(make_node("a").alloc(cpu="8").obj())
    assert s.queue.where("uid-untolerated") in {"active", "backoff"}
    now[0] += 30
    assert place(s) == {"big": "a", "untolerated": "a"}


def test_a_pod_deleted_wakes_pods_short_of_capacity_but_not_pods_short_of_labels() -> None:
    s = scheduler(make_node("a").alloc(cpu="2").obj())
    s.upsert_pod(make_pod("running").req(cpu="2").node("a").obj())
    place(
        s, make_pod("needs-room").req(cpu="1").obj(), make_pod("needs-label").selector(x="y").obj()
    )
    s.remove_pod("uid-running")
    assert s.queue.where("uid-needs-room") in {"active", "backoff"}
    assert s.queue.where("uid-needs-label") == "unschedulable"


def test_taint_sets_of_changing_taint_values_are_not_kept_forever() -> None:
    """A taint whose value is a timestamp (cluster-autoscaler's) makes a new set per update."""
    s = scheduler(make_node("a").obj())
    for stamp in range(200):
        s.upsert_node(
            make_node("a").taint("DeletionCandidateOfClusterAutoscaler", str(stamp)).obj()
        )
    assert len([t for t in s.cache.nodes.taint_sets if t]) == 1
    s.upsert_node(make_node("a").obj())
    assert place(s, make_pod("p").obj()) == {"p": "a"}


def test_a_bound_pod_resized_down_wakes_pods_waiting_for_room() -> None:
    """In-place resize: a bound pod whose requests shrink frees room (kube's queueing hint for
    an assigned pod scaled down)."""
    s = scheduler(make_node("a").alloc(cpu="4").obj())
    s.upsert_pod(make_pod("big").req(cpu="4").scheduler("other").node("a").obj())
    assert place(s, make_pod("waiting").req(cpu="2").obj())["waiting"].startswith("0/1")
    s.upsert_pod(make_pod("big").req(cpu="1").scheduler("other").node("a").obj())
    assert s.queue.where("uid-waiting") in {"active", "backoff"}


def test_a_bound_pod_with_rules_we_cannot_read_is_still_counted() -> None:
    """kube-apiserver accepts affinity we refuse to read (Gt with a non-integer value) and
    quantities beyond int64; a pod already on its node is counted from its requests anyway."""
    body = make_pod("odd").req(cpu="2", ephemeral_storage="100Ei").node("a").dict()
    body["spec"]["affinity"] = {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [
                    {"matchExpressions": [{"key": "gen", "operator": "Gt", "values": ["v2"]}]}
                ]
            }
        }
    }
    s = scheduler(make_node("a").alloc(cpu="2").obj())
    s.upsert_pod(pod_from_dict(body))
    assert _cpu_requested(s, "a") == 2000
    assert place(s, make_pod("p").req(cpu="2").obj())["p"].startswith("0/1")
    pending = dict(body, spec=dict(body["spec"], nodeName=""))  # waiting: the rule is named
    with pytest.raises(InvalidInputError, match="Gt needs an integer"):
        pod_from_dict(pending)
