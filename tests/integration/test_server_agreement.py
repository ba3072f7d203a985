"""The emulator and the real API server answer the product's requests the same way: each case
runs against both (the real one when KUBEBUILDER_ASSETS is set), with the answers measured on
kube-apiserver v1.36 as the expectation. Where they disagreed, the emulator was fixed."""

from __future__ import annotations

from typing import Any

import pytest

from kubenexus.shell.client import ApiError, ClientSettings, KubeClient
from tests.integration.conftest import Cluster

GROUPS = "/apis/scheduling.kubenexus.io/v1alpha1/namespaces/default/podgroups"


async def _client(cluster: Cluster) -> KubeClient:
    if cluster.real:
        cluster.api.ensure_namespace("default")
    return KubeClient(await cluster.configuration(), ClientSettings(qps=0))


def _group(name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "scheduling.kubenexus.io/v1alpha1",
        "kind": "PodGroup",
        "metadata": {"name": name, "namespace": "default"},
        "spec": spec,
    }


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (
            {"minMember": -1},
            'PodGroup.scheduling.kubenexus.io "bad" is invalid: spec.minMember: Invalid value: '
            "-1: spec.minMember in body should be greater than or equal to 1",
        ),
        (
            {},
            'PodGroup.scheduling.kubenexus.io "bad" is invalid: spec.minMember: Required value',
        ),
    ],
)
async def test_an_invalid_pod_group_is_refused_by_its_schema(
    cluster: Cluster, spec: dict[str, Any], message: str
) -> None:
    client = await _client(cluster)
    try:
        with pytest.raises(ApiError) as refused:
            await client.request("POST", GROUPS, body=_group("bad", spec))
        assert (refused.value.status, refused.value.reason) == (422, "Invalid")
        assert refused.value.message == message
    finally:
        await client.close()


async def test_a_pod_group_gets_no_timeout_by_default(cluster: Cluster) -> None:
    """No schema default for scheduleTimeoutSeconds: absent, the scheduler's configured
    defaultScheduleTimeoutSeconds applies (a schema default would override it)."""
    client = await _client(cluster)
    try:
        stored = await client.request("POST", GROUPS, body=_group("good", {"minMember": 2}))
        assert stored["spec"] == {"minMember": 2}
    finally:
        await client.close()


RESERVATIONS = "/apis/scheduling.kubenexus.io/v1alpha1/namespaces/default/resourcereservations"
# A non-negative quantity (the CRD refuses a negative amount, as the scheduler does).
QUANTITY = (
    r"^\+?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|"
    r"([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$"
)


def _reservation(name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "scheduling.kubenexus.io/v1alpha1",
        "kind": "ResourceReservation",
        "metadata": {"name": name, "namespace": "default"},
        "spec": spec,
    }


@pytest.mark.parametrize(
    "spec",
    [
        {
            "podGroupName": "spark-pi",
            "reservations": {
                "executor-0": {"node": "n1", "resources": {"cpu": "2", "memory": "4Gi"}},
                "executor-1": {"resources": {"cpu": 2, "nvidia.com/gpu": 1}},
            },
            "ttlSeconds": 300,
        },
        {"podGroupName": "spark-pi", "resources": {"cpu": "500m"}, "count": 3, "duration": "10m"},
        # No time to live: none is filled in (the scheduler's configured default applies).
        {"podGroupName": "spark-pi", "resources": {"memory": "1Gi"}, "count": 1},
    ],
)
async def test_a_valid_reservation_is_stored_as_written(
    cluster: Cluster, spec: dict[str, Any]
) -> None:
    client = await _client(cluster)
    try:
        stored = await client.request("POST", RESERVATIONS, body=_reservation("good", spec))
        assert stored["spec"] == spec
        assert "status" not in stored
    finally:
        await client.close()


_CEL_SKIPPED = (
    "<nil>: Invalid value: null: some validation rules were not checked because the object was "
    "invalid; correct the existing errors to complete validation"
)


@pytest.mark.parametrize(
    ("spec", "detail"),
    [
        (
            {"podGroupName": "g", "resources": {"cpu": "1"}, "count": 0},
            "spec.count: Invalid value: 0: spec.count in body should be greater than or equal to 1",
        ),
        (
            {"podGroupName": "g", "resources": {"cpu": "1"}, "count": 10001},
            "spec.count: Invalid value: 10001: spec.count in body should be less than or equal "
            "to 10000",
        ),
        (
            {"podGroupName": "g", "resources": {"cpu": "lots"}, "count": 1},
            f'spec.resources.cpu: Invalid value: "lots": spec.resources.cpu in body should '
            f"match '{QUANTITY}'",
        ),
        (
            {"podGroupName": "g", "reservations": {"a": {"resources": {"memory": "4GB"}}}},
            'spec.reservations.a.resources.memory: Invalid value: "4GB": '
            f"spec.reservations.a.resources.memory in body should match '{QUANTITY}'",
        ),
        (
            {"podGroupName": "g", "reservations": {"a": {"node": "n1", "resources": {}}}},
            "spec.reservations.a.resources: Invalid value: 0: spec.reservations.a.resources in "
            "body should have at least 1 properties",
        ),
        (
            {"podGroupName": "", "resources": {"cpu": "1"}, "count": 1},
            'spec.podGroupName: Invalid value: "": spec.podGroupName in body should be at least '
            "1 chars long",
        ),
        (
            {"podGroupName": "g", "resources": {"cpu": "1"}, "count": 1, "ttlSeconds": 0},
            "spec.ttlSeconds: Invalid value: 0: spec.ttlSeconds in body should be greater than "
            "or equal to 1",
        ),
        (
            {"podGroupName": "g", "resources": {"cpu": "1"}, "count": 1, "duration": "10 min"},
            'spec.duration: Invalid value: "10 min": spec.duration in body should match '
            "'^([0-9]+(\\.[0-9]+)?(ms|h|m|s))+$'",
        ),
        # Errors after which the real server skips the CEL rules, and says so.
        (
            {"resources": {"cpu": "1"}, "count": 1},
            f"[spec.podGroupName: Required value, {_CEL_SKIPPED}]",
        ),
        (
            {"podGroupName": "g", "reservations": {"a": {"node": "n1"}}},
            f"[spec.reservations.a.resources: Required value, {_CEL_SKIPPED}]",
        ),
        (
            {"podGroupName": "g", "resources": {"cpu": "1"}, "count": "3"},
            '[spec.count: Invalid value: "string": spec.count in body must be of type integer: '
            f'"string", {_CEL_SKIPPED}]',
        ),
    ],
)
async def test_an_invalid_reservation_is_refused_by_its_schema(
    cluster: Cluster, spec: dict[str, Any], detail: str
) -> None:
    client = await _client(cluster)
    try:
        with pytest.raises(ApiError) as refused:
            await client.request("POST", RESERVATIONS, body=_reservation("bad", spec))
        assert (refused.value.status, refused.value.reason) == (422, "Invalid")
        assert refused.value.message == (
            f'ResourceReservation.scheduling.kubenexus.io "bad" is invalid: {detail}'
        )
    finally:
        await client.close()


async def test_a_reservation_status_is_checked_against_its_schema(cluster: Cluster) -> None:
    """The status the scheduler writes is accepted; one outside the schema is refused."""
    client = await _client(cluster)
    spec = {"podGroupName": "g", "resources": {"cpu": "1"}, "count": 2}
    try:
        stored = await client.request("POST", RESERVATIONS, body=_reservation("r", spec))
        status = {
            "phase": "Active",
            "claimed": 1,
            "total": 2,
            "claims": "1/2",
            "message": "1 of 2 slots held for default/g",
            "expiresAt": "2026-11-29T09:30:00Z",
            "slots": {
                "slot-0": {"node": "n1", "state": "Claimed", "pod": "default/exec-1"},
                "slot-1": {"node": "n1", "state": "Free"},
            },
            "conditions": [
                {
                    "type": "Holding",
                    "status": "True",
                    "reason": "Holding",
                    "message": "1 of 2 slots held for default/g",
                    "lastTransitionTime": "2026-11-29T09:20:00Z",
                }
            ],
        }
        written = await client.request(
            "PUT", f"{RESERVATIONS}/r/status", body={**stored, "status": status}
        )
        assert written["status"] == status
        with pytest.raises(ApiError) as refused:
            await client.request(
                "PUT",
                f"{RESERVATIONS}/r/status",
                body={**written, "status": {**status, "phase": "Claimed"}},
            )
        assert refused.value.status == 422
        assert refused.value.message == (
            'ResourceReservation.scheduling.kubenexus.io "r" is invalid: [status.phase: '
            'Unsupported value: "Claimed": supported values: "Pending", "Active", "Released", '
            f'"Expired", "Invalid", {_CEL_SKIPPED}]'
        )
    finally:
        await client.close()


PODS = "/api/v1/namespaces/default/pods"
SMP = "application/strategic-merge-patch+json"


def _pod(name: str, node: str = "") -> dict[str, Any]:
    spec: dict[str, Any] = {"containers": [{"name": "c", "image": "busybox"}]}
    if node:
        spec["nodeName"] = node
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": spec}


async def test_a_pod_on_a_node_is_deleted_gracefully_others_at_once(cluster: Cluster) -> None:
    """What preemption's DELETE does (kube-apiserver v1.36, no kubelet): a pod on a node is only
    marked for its grace period; one on no node, or finished, goes at once."""
    client = await _client(cluster)
    try:
        await client.request("POST", PODS, body=_pod("free"))
        gone = await client.request("DELETE", f"{PODS}/free")
        assert gone["metadata"]["deletionGracePeriodSeconds"] == 0
        assert gone["metadata"]["deletionTimestamp"]
        with pytest.raises(ApiError) as missing:
            await client.request("GET", f"{PODS}/free")
        assert missing.value.status == 404

        await client.request("POST", PODS, body=_pod("bound", node="n1"))
        marked = await client.request("DELETE", f"{PODS}/bound")
        assert marked["metadata"]["deletionGracePeriodSeconds"] == 30  # the pod's default
        again = await client.request("DELETE", f"{PODS}/bound")  # never lengthened, not redone
        assert again["metadata"]["deletionTimestamp"] == marked["metadata"]["deletionTimestamp"]
        stored = await client.request("GET", f"{PODS}/bound")
        assert stored["metadata"]["deletionGracePeriodSeconds"] == 30
        shorter = await client.request("DELETE", f"{PODS}/bound", query={"gracePeriodSeconds": "5"})
        assert shorter["metadata"]["deletionGracePeriodSeconds"] == 5
        # What a kubelet does once the containers stopped (the tests stand in for it).
        await client.request("DELETE", f"{PODS}/bound", body={"gracePeriodSeconds": 0})
        with pytest.raises(ApiError) as missing:
            await client.request("GET", f"{PODS}/bound")
        assert missing.value.status == 404

        await client.request("POST", PODS, body=_pod("done", node="n1"))
        await client.request(
            "PATCH",
            f"{PODS}/done/status",
            body={"status": {"phase": "Succeeded"}},
            content_type=SMP,
        )
        await client.request("DELETE", f"{PODS}/done")
        with pytest.raises(ApiError) as missing:
            await client.request("GET", f"{PODS}/done")
        assert missing.value.status == 404
    finally:
        await client.close()


async def test_a_nomination_is_a_node_name_and_only_for_a_pod_not_bound(cluster: Cluster) -> None:
    client = await _client(cluster)
    try:
        await client.request("POST", PODS, body=_pod("pending"))
        path = f"{PODS}/pending/status"
        stored = await client.request(
            "PATCH", path, body={"status": {"nominatedNodeName": "n1"}}, content_type=SMP
        )
        assert stored["status"]["nominatedNodeName"] == "n1"
        stored = await client.request(
            "PATCH", path, body={"status": {"nominatedNodeName": None}}, content_type=SMP
        )
        assert "nominatedNodeName" not in stored["status"]
        with pytest.raises(ApiError) as refused:
            await client.request(
                "PATCH", path, body={"status": {"nominatedNodeName": "Bad_Name"}}, content_type=SMP
            )
        assert (refused.value.status, refused.value.reason) == (422, "Invalid")
        assert refused.value.message.startswith(
            'Pod "pending" is invalid: status.nominatedNodeName: Invalid value: "Bad_Name": '
            "a lowercase RFC 1123 subdomain"
        )

        await client.request("POST", PODS, body=_pod("bound", node="n1"))
        with pytest.raises(ApiError) as refused:
            await client.request(
                "PATCH",
                f"{PODS}/bound/status",
                body={"status": {"nominatedNodeName": "n2"}},
                content_type=SMP,
            )
        assert (refused.value.status, refused.value.message) == (
            422,
            'Pod "bound" is invalid: status.nominatedNodeName: Forbidden: may not be set on '
            "pods that are already bound to a node",
        )
    finally:
        await client.close()


async def test_a_victim_gets_its_disruption_target_condition_merged_by_type(
    cluster: Cluster,
) -> None:
    client = await _client(cluster)
    try:
        await client.request("POST", PODS, body=_pod("victim", node="n1"))
        condition = {
            "type": "DisruptionTarget",
            "status": "True",
            "reason": "PreemptionByScheduler",
            "message": "kubenexus-scheduler: preempting to accommodate a higher priority pod",
            "lastTransitionTime": "2026-01-01T00:00:00Z",
        }
        for message in ("first", condition["message"]):
            stored = await client.request(
                "PATCH",
                f"{PODS}/victim/status",
                body={"status": {"conditions": [dict(condition, message=message)]}},
                content_type=SMP,
            )
        conditions = [c for c in stored["status"]["conditions"] if c["type"] == "DisruptionTarget"]
        assert len(conditions) == 1
        assert {k: conditions[0][k] for k in condition} == condition
    finally:
        await client.close()


async def test_a_binding_merges_its_annotations_and_labels_onto_the_pod(cluster: Cluster) -> None:
    """What the binder relies on to send one call per pod: the placement annotations ride in
    the Binding. Merged over the pod's own; a null value is stored as "" (never a removal)."""
    client = await _client(cluster)
    try:
        pod = _pod("carried")
        pod["metadata"]["annotations"] = {"team": "ml", "cpu-set": "old", "stale": "1"}
        await client.request("POST", PODS, body=pod)
        binding = {
            "apiVersion": "v1",
            "kind": "Binding",
            "metadata": {
                "name": "carried",
                "annotations": {"cpu-set": "0-3", "numa.kubenexus.io/zones": "0", "stale": None},
                "labels": {"placed": "yes"},
            },
            "target": {"apiVersion": "v1", "kind": "Node", "name": "n1"},
        }
        reply = await client.request("POST", f"{PODS}/carried/binding", body=binding)
        assert reply["status"] == "Success"
        stored = await client.request("GET", f"{PODS}/carried")
        assert stored["spec"]["nodeName"] == "n1"
        assert stored["metadata"]["annotations"] == {
            "team": "ml",
            "cpu-set": "0-3",
            "numa.kubenexus.io/zones": "0",
            "stale": "",
        }
        assert stored["metadata"]["labels"] == {"placed": "yes"}
    finally:
        await client.close()
