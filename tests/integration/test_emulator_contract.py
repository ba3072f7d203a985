"""Contract tests of the API server emulator: if a kmock upgrade or a change breaks the behaviour
the daemon relies on, these fail first and say which."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from tests.emulator import KubeEmulator, running_emulator

POD = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {"name": "p"},
    "spec": {"containers": [{"name": "c", "image": "x"}]},
}


@pytest.fixture
async def api() -> AsyncIterator[tuple[KubeEmulator, aiohttp.ClientSession]]:
    async with running_emulator() as (emulator, url), aiohttp.ClientSession(url) as session:
        yield emulator, session


async def _call(
    session: aiohttp.ClientSession,
    method: str,
    path: str,
    body: Any = None,
    content_type: str = "application/json",
) -> tuple[int, Any]:
    data = json.dumps(body) if body is not None else None
    async with session.request(
        method, path, data=data, headers={"Content-Type": content_type}
    ) as response:
        return response.status, await response.json()


def _binding(pod: str, node: str, **meta: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Binding",
        "metadata": {"name": pod, **meta},
        "target": {"apiVersion": "v1", "kind": "Node", "name": node},
    }


def _pod(name: str, **labels: str) -> dict[str, Any]:
    body = json.loads(json.dumps(POD))
    body["metadata"]["name"] = name
    if labels:
        body["metadata"]["labels"] = labels
    return body


async def test_create_sets_uid_resource_version_timestamp_and_pending(api: Any) -> None:
    _, s = api
    status, pod = await _call(s, "POST", "/api/v1/namespaces/default/pods", POD)
    assert status == 201
    meta = pod["metadata"]
    assert meta["uid"]
    assert meta["resourceVersion"].isdigit()
    assert meta["creationTimestamp"].endswith("Z")
    assert meta["namespace"] == "default"
    assert pod["status"]["phase"] == "Pending"
    status, again = await _call(s, "POST", "/api/v1/namespaces/default/pods", POD)
    assert status == 409
    assert again["kind"] == "Status"
    assert again["reason"] == "AlreadyExists"
    assert again["code"] == 409


async def test_generate_name_and_invalid_objects(api: Any) -> None:
    _, s = api
    status, event = await _call(
        s,
        "POST",
        "/api/v1/namespaces/default/events",
        {"metadata": {"generateName": "p."}, "reason": "X"},
    )
    assert status == 201
    assert event["metadata"]["name"].startswith("p.")
    status, second = await _call(
        s,
        "POST",
        "/api/v1/namespaces/default/events",
        {"metadata": {"generateName": "p."}, "reason": "X"},
    )
    assert status == 201
    assert second["metadata"]["name"] != event["metadata"]["name"]
    status, error = await _call(
        s,
        "POST",
        "/api/v1/namespaces/default/pods",
        {"metadata": {"name": "Bad_Name"}, "spec": {"containers": [{"name": "c"}]}},
    )
    assert status == 422
    assert error["reason"] == "Invalid"
    status, error = await _call(
        s,
        "POST",
        "/api/v1/namespaces/default/pods",
        {"metadata": {"name": "nocontainers"}, "spec": {}},
    )
    assert status == 422
    assert "spec.containers" in error["message"]


async def test_get_404_and_put_conflict_on_stale_resource_version(api: Any) -> None:
    _, s = api
    status, error = await _call(s, "GET", "/api/v1/namespaces/default/pods/missing")
    assert status == 404
    assert error["reason"] == "NotFound"
    _, pod = await _call(s, "POST", "/api/v1/namespaces/default/pods", POD)
    stale = dict(pod, metadata=dict(pod["metadata"], labels={"a": "1"}))
    status, updated = await _call(s, "PUT", "/api/v1/namespaces/default/pods/p", stale)
    assert status == 200
    assert updated["metadata"]["labels"] == {"a": "1"}
    status, error = await _call(s, "PUT", "/api/v1/namespaces/default/pods/p", stale)
    assert status == 409
    assert error["reason"] == "Conflict"


async def test_patch_kinds_and_status_separation(api: Any) -> None:
    _, s = api
    await _call(s, "POST", "/api/v1/namespaces/default/pods", POD)
    status, pod = await _call(
        s,
        "PATCH",
        "/api/v1/namespaces/default/pods/p",
        {"metadata": {"annotations": {"a": "1"}}, "status": {"phase": "Running"}},
        "application/merge-patch+json",
    )
    assert status == 200
    assert pod["metadata"]["annotations"] == {"a": "1"}
    assert pod["status"]["phase"] == "Pending"  # status only through /status
    status, pod = await _call(
        s,
        "PATCH",
        "/api/v1/namespaces/default/pods/p/status",
        {
            "status": {
                "conditions": [
                    {"type": "PodScheduled", "status": "False", "reason": "Unschedulable"}
                ]
            }
        },
        "application/strategic-merge-patch+json",
    )
    assert status == 200
    assert pod["status"]["conditions"][0]["reason"] == "Unschedulable"
    status, pod = await _call(
        s,
        "PATCH",
        "/api/v1/namespaces/default/pods/p/status",
        {"status": {"conditions": [{"type": "Ready", "status": "False"}]}},
        "application/strategic-merge-patch+json",
    )
    assert [c["type"] for c in pod["status"]["conditions"]] == [
        "PodScheduled",
        "Ready",
    ]  # merged by type
    status, pod = await _call(
        s,
        "PATCH",
        "/api/v1/namespaces/default/pods/p",
        [{"op": "add", "path": "/metadata/labels", "value": {"x": "y"}}],
        "application/json-patch+json",
    )
    assert status == 200
    assert pod["metadata"]["labels"] == {"x": "y"}
    status, _ = await _call(
        s,
        "PATCH",
        "/api/v1/namespaces/default/pods/p",
        [{"op": "remove", "path": "/metadata/nope"}],
        "application/json-patch+json",
    )
    assert status == 422


# The binding tests compare whole bodies with what kube-apiserver v1.36.2 answered to the same
# requests (measured with the envtest control plane; /work/notes/real-api.md in the session that
# measured them). Pod and node names differ; the texts are the server's.

PODS = "/api/v1/namespaces/default/pods"


def _status(code: int, reason: str, message: str, **details: str) -> dict[str, Any]:
    """A failure Status as kube-apiserver writes it (no reason or details key when empty)."""
    body: dict[str, Any] = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
    }
    if reason:
        body["reason"] = reason
    if details:
        body["details"] = details
    body["code"] = code
    return body


def _conflict(pod: str, why: str) -> dict[str, Any]:
    return _status(
        409,
        "Conflict",
        f'Operation cannot be fulfilled on pods/binding "{pod}": {why}',
        name=pod,
        kind="pods/binding",
    )


SUCCESS = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}


async def test_binding_201_status_then_409_then_404(api: Any) -> None:
    _, s = api
    await _call(s, "POST", PODS, POD)
    status, body = await _call(s, "POST", f"{PODS}/p/binding", _binding("p", "n1"))
    assert (status, body) == (201, SUCCESS)
    _, pod = await _call(s, "GET", f"{PODS}/p")
    assert pod["spec"]["nodeName"] == "n1"
    [condition] = pod["status"]["conditions"]
    assert condition == {
        "type": "PodScheduled",
        "status": "True",
        "lastProbeTime": None,
        "lastTransitionTime": condition["lastTransitionTime"],
    }
    # A second binding names the node the pod is on, whichever node it asks for.
    for node in ("n1", "n2"):
        status, body = await _call(s, "POST", f"{PODS}/p/binding", _binding("p", node))
        assert (status, body) == (409, _conflict("p", 'pod p is already assigned to node "n1"'))
    status, body = await _call(s, "POST", f"{PODS}/gone/binding", _binding("gone", "n1"))
    assert (status, body) == (
        404,
        _status(404, "NotFound", 'pods "gone" not found', name="gone", kind="pods"),
    )


async def test_binding_a_terminating_pod_is_refused(api: Any) -> None:
    emulator, s = api
    await _call(
        s, "POST", PODS, dict(POD, metadata={"name": "p", "finalizers": ["example.com/hold"]})
    )
    status, marked = await _call(s, "DELETE", f"{PODS}/p")
    assert status == 200
    assert marked["metadata"]["deletionTimestamp"]
    status, body = await _call(s, "POST", f"{PODS}/p/binding", _binding("p", "n1"))
    assert (status, body) == (
        409,
        _conflict("p", "pod p is being deleted, cannot be assigned to a host"),
    )
    _, pod = await _call(s, "GET", f"{PODS}/p")
    assert "nodeName" not in pod["spec"]
    assert emulator.bindings["default/p"] == 0


async def test_binding_a_gated_pod_is_refused_until_its_gates_are_removed(api: Any) -> None:
    emulator, s = api
    gated = json.loads(json.dumps(POD))
    gated["spec"]["schedulingGates"] = [{"name": "example.com/a"}, {"name": "example.com/b"}]
    status, pod = await _call(s, "POST", PODS, gated)
    assert status == 201
    # The API server itself marks a gated pod (the scheduler never sees it).
    [condition] = pod["status"]["conditions"]
    assert condition == {
        "type": "PodScheduled",
        "status": "False",
        "lastProbeTime": None,
        "lastTransitionTime": condition["lastTransitionTime"],
        "reason": "SchedulingGated",
        "message": "Scheduling is blocked due to non-empty scheduling gates",
    }
    refused = (409, _conflict("p", "pod p has non-empty .spec.schedulingGates"))
    assert await _call(s, "POST", f"{PODS}/p/binding", _binding("p", "n1")) == refused
    merge = "application/merge-patch+json"
    status, pod = await _call(
        s, "PATCH", f"{PODS}/p", {"spec": {"schedulingGates": [{"name": "example.com/b"}]}}, merge
    )
    assert status == 200
    assert await _call(s, "POST", f"{PODS}/p/binding", _binding("p", "n1")) == refused
    status, pod = await _call(s, "PATCH", f"{PODS}/p", {"spec": {"schedulingGates": None}}, merge)
    assert status == 200
    assert "schedulingGates" not in pod["spec"]
    # Removing the gates leaves the condition as it was: changing it is the scheduler's job.
    assert pod["status"]["conditions"] == [condition]
    assert await _call(s, "POST", f"{PODS}/p/binding", _binding("p", "n1")) == (201, SUCCESS)
    _, pod = await _call(s, "GET", f"{PODS}/p")
    assert [(c["type"], c["status"], c.get("reason")) for c in pod["status"]["conditions"]] == [
        ("PodScheduled", "True", None)
    ]
    assert emulator.bindings["default/p"] == 1


async def test_scheduling_gates_can_only_be_removed(api: Any) -> None:
    _, s = api
    await _call(s, "POST", PODS, POD)
    status, body = await _call(
        s,
        "PATCH",
        f"{PODS}/p",
        {"spec": {"schedulingGates": [{"name": "late"}]}},
        "application/merge-patch+json",
    )
    message = "Forbidden: only deletion is allowed, but found new scheduling gate 'late'"
    assert (status, body) == (
        422,
        {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": f'Pod "p" is invalid: spec.schedulingGates[0].name: {message}',
            "reason": "Invalid",
            "details": {
                "name": "p",
                "kind": "Pod",
                "causes": [
                    {
                        "reason": "FieldValueForbidden",
                        "message": message,
                        "field": "spec.schedulingGates[0].name",
                    }
                ],
            },
            "code": 422,
        },
    )
    bound_and_gated = json.loads(json.dumps(POD))
    bound_and_gated["metadata"]["name"] = "bg"
    bound_and_gated["spec"].update(nodeName="n1", schedulingGates=[{"name": "g"}])
    status, body = await _call(s, "POST", PODS, bound_and_gated)
    assert status == 422
    assert body["message"] == (
        'Pod "bg" is invalid: spec.nodeName: Forbidden: cannot be set until all schedulingGates '
        "have been cleared"
    )


async def test_binding_preconditions_on_uid_and_resource_version(api: Any) -> None:
    emulator, s = api
    _, pod = await _call(s, "POST", PODS, POD)
    uid, rv = pod["metadata"]["uid"], pod["metadata"]["resourceVersion"]
    storage_error = (
        'Operation cannot be fulfilled on pods "p": StorageError: invalid object, Code: 4, '
        "Key: /registry/pods/default/p, ResourceVersion: 0, AdditionalErrorMsg: Precondition "
        "failed: "
    )
    other_uid = "00000000-0000-0000-0000-000000000000"
    status, body = await _call(s, "POST", f"{PODS}/p/binding", _binding("p", "n1", uid=other_uid))
    assert (status, body) == (
        409,
        _status(
            409,
            "Conflict",
            f"{storage_error}UID in precondition: {other_uid}, UID in object meta: {uid}",
            name="p",
            kind="pods",
        ),
    )
    # The uid is checked before the resourceVersion.
    stale = str(int(rv) + 1000)
    status, body = await _call(
        s, "POST", f"{PODS}/p/binding", _binding("p", "n1", uid="x", resourceVersion=stale)
    )
    assert status == 409
    assert "UID in precondition: x" in body["message"]
    status, body = await _call(
        s, "POST", f"{PODS}/p/binding", _binding("p", "n1", resourceVersion=stale)
    )
    assert (status, body) == (
        409,
        _status(
            409,
            "Conflict",
            f"{storage_error}ResourceVersion in precondition: {stale}, ResourceVersion in object meta: {rv}",
            name="p",
            kind="pods",
        ),
    )
    assert emulator.bindings["default/p"] == 0
    status, body = await _call(
        s, "POST", f"{PODS}/p/binding", _binding("p", "n1", uid=uid, resourceVersion=rv)
    )
    assert (status, body) == (201, SUCCESS)


async def test_binding_checks_preconditions_first_and_deletion_before_gates(
    api: Any,
) -> None:
    _, s = api
    doomed = json.loads(json.dumps(POD))
    doomed["metadata"]["finalizers"] = ["example.com/hold"]
    doomed["spec"]["schedulingGates"] = [{"name": "g"}]
    await _call(s, "POST", PODS, doomed)
    await _call(s, "DELETE", f"{PODS}/p")
    status, body = await _call(s, "POST", f"{PODS}/p/binding", _binding("p", "n1", uid="x"))
    assert status == 409
    assert "UID in precondition: x" in body["message"]
    status, body = await _call(s, "POST", f"{PODS}/p/binding", _binding("p", "n1"))
    assert (status, body) == (
        409,
        _conflict("p", "pod p is being deleted, cannot be assigned to a host"),
    )


async def test_binding_to_a_node_that_does_not_exist_is_accepted(api: Any) -> None:
    _, s = api
    await _call(s, "POST", PODS, POD)
    status, body = await _call(s, "POST", f"{PODS}/p/binding", _binding("p", "no-such-node"))
    assert (status, body) == (201, SUCCESS)  # kube-apiserver does not look the node up


async def test_binding_body_must_match_the_url_and_name_a_node(api: Any) -> None:
    emulator, s = api
    await _call(s, "POST", PODS, POD)
    name_mismatch = (
        400,
        _status(400, "BadRequest", "name in URL does not match name in Binding object"),
    )
    for body in ({"target": {"name": "n1"}}, _binding("other", "n1")):
        assert await _call(s, "POST", f"{PODS}/p/binding", body) == name_mismatch
    namespace_mismatch = _status(
        400,
        "BadRequest",
        "the namespace of the provided object does not match the namespace sent on the request",
    )
    status, body = await _call(
        s, "POST", f"{PODS}/p/binding", _binding("p", "n1", namespace="other")
    )
    assert (status, body) == (400, namespace_mismatch)
    status, body = await _call(s, "POST", PODS, dict(POD, metadata={"name": "q", "namespace": "x"}))
    assert (status, body) == (400, namespace_mismatch)
    # Validation errors of the target are bare 500s (no reason, no details), before the lookup.
    for pod in ("p", "ghost"):
        status, body = await _call(s, "POST", f"{PODS}/{pod}/binding", _binding(pod, ""))
        assert (status, body) == (500, _status(500, "", "target.name: Required value"))
    not_a_node = {"apiVersion": "v1", "kind": "Binding", "metadata": {"name": "p"}}
    status, body = await _call(
        s, "POST", f"{PODS}/p/binding", dict(not_a_node, target={"kind": "Pod", "name": "n1"})
    )
    unsupported = 'target.kind: Unsupported value: "Pod": supported values: "Node", "<empty>"'
    assert (status, body) == (500, _status(500, "", unsupported))
    status, body = await _call(
        s, "POST", f"{PODS}/p/binding", dict(not_a_node, target={"kind": "Pod"})
    )
    assert (status, body) == (
        500,
        _status(500, "", f"[{unsupported}, target.name: Required value]"),
    )
    assert emulator.bindings["default/p"] == 0


async def test_binding_copies_its_annotations_and_labels_onto_the_pod(api: Any) -> None:
    _, s = api
    await _call(s, "POST", PODS, dict(POD, metadata={"name": "p", "annotations": {"keep": "1"}}))
    binding = _binding(
        "p", "n1", annotations={"from-binding": "yes", "keep": "2"}, labels={"l": "v"}
    )
    assert await _call(s, "POST", f"{PODS}/p/binding", binding) == (201, SUCCESS)
    _, pod = await _call(s, "GET", f"{PODS}/p")
    assert pod["metadata"]["annotations"] == {"from-binding": "yes", "keep": "2"}
    assert pod["metadata"]["labels"] == {"l": "v"}


async def test_list_selectors_and_pagination(api: Any) -> None:
    _, s = api
    for i in range(5):
        await _call(
            s, "POST", "/api/v1/namespaces/default/pods", _pod(f"p{i}", app="a" if i % 2 else "b")
        )
    await _call(s, "POST", "/api/v1/namespaces/default/pods/p1/binding", _binding("p1", "n1"))
    _, listed = await _call(s, "GET", "/api/v1/pods?labelSelector=app%3Da")
    assert [p["metadata"]["name"] for p in listed["items"]] == ["p1", "p3"]
    _, listed = await _call(s, "GET", "/api/v1/pods?labelSelector=app%20in%20(a,b),app!%3Db")
    assert [p["metadata"]["name"] for p in listed["items"]] == ["p1", "p3"]
    _, listed = await _call(s, "GET", "/api/v1/pods?fieldSelector=spec.nodeName%3D")
    assert [p["metadata"]["name"] for p in listed["items"]] == ["p0", "p2", "p3", "p4"]
    _, page = await _call(s, "GET", "/api/v1/pods?limit=2")
    names = [p["metadata"]["name"] for p in page["items"]]
    while page["metadata"].get("continue"):
        _, page = await _call(
            s, "GET", f"/api/v1/pods?limit=2&continue={page['metadata']['continue']}"
        )
        names += [p["metadata"]["name"] for p in page["items"]]
    assert names == ["p0", "p1", "p2", "p3", "p4"]


async def _watch(
    s: aiohttp.ClientSession, path: str, count: int, timeout: float = 5
) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    async with s.get(path) as response:

        async def read() -> None:
            async for line in response.content:
                events.append(json.loads(line))
                if len(events) >= count:
                    return

        await asyncio.wait_for(read(), timeout)
    return events


async def test_watch_resumes_from_resource_version_and_accepts_capitalised_true(api: Any) -> None:
    _, s = api
    _, first = await _call(s, "POST", "/api/v1/namespaces/default/pods", _pod("a"))
    await _call(s, "POST", "/api/v1/namespaces/default/pods", _pod("b"))
    await _call(s, "DELETE", "/api/v1/namespaces/default/pods/a")
    rv = first["metadata"]["resourceVersion"]
    events = await _watch(s, f"/api/v1/pods?watch=True&resourceVersion={rv}", 2)
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [
        ("ADDED", "b"),
        ("DELETED", "a"),
    ]


async def test_watch_without_version_lists_then_streams(api: Any) -> None:
    _, s = api
    await _call(s, "POST", "/api/v1/namespaces/default/pods", _pod("a"))

    async def later() -> None:
        await asyncio.sleep(0.1)
        await _call(s, "POST", "/api/v1/namespaces/default/pods", _pod("b"))

    task = asyncio.create_task(later())
    events = await _watch(s, "/api/v1/pods?watch=true", 2)
    await task
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [
        ("ADDED", "a"),
        ("ADDED", "b"),
    ]


async def test_watch_with_selector_sees_transitions(api: Any) -> None:
    _, s = api
    _, before = await _call(
        s, "POST", "/api/v1/namespaces/default/events", {"metadata": {"name": "e"}}
    )
    await _call(s, "POST", "/api/v1/namespaces/default/pods", _pod("a"))
    await _call(s, "POST", "/api/v1/namespaces/default/pods/a/binding", _binding("a", "n1"))
    rv = before["metadata"]["resourceVersion"]
    events = await _watch(
        s, f"/api/v1/pods?watch=true&resourceVersion={rv}&fieldSelector=spec.nodeName%3D", 2
    )
    assert [e["type"] for e in events] == ["ADDED", "DELETED"]  # left the selector when bound


async def test_compacted_history_answers_410_gone(api: Any) -> None:
    emulator, s = api
    _, pod = await _call(s, "POST", "/api/v1/namespaces/default/pods", _pod("a"))
    await _call(s, "POST", "/api/v1/namespaces/default/pods", _pod("b"))
    emulator.compact()
    events = await _watch(
        s, f"/api/v1/pods?watch=true&resourceVersion={pod['metadata']['resourceVersion']}", 1
    )
    assert events[0]["type"] == "ERROR"
    assert events[0]["object"]["code"] == 410
    assert events[0]["object"]["reason"] == "Expired"


async def test_watch_timeout_and_drop(api: Any) -> None:
    emulator, s = api
    started = asyncio.get_running_loop().time()
    async with s.get("/api/v1/pods?watch=true&timeoutSeconds=1") as response:
        assert await response.content.read() == b""
    assert asyncio.get_running_loop().time() - started >= 0.9

    async with s.get("/api/v1/pods?watch=true") as response:
        for _ in range(50):
            if emulator.watch_count("pods"):
                break
            await asyncio.sleep(0.01)
        assert emulator.drop_watches("pods") == 1
        with pytest.raises(aiohttp.ClientPayloadError):
            await response.content.read()


async def test_finalizers_delay_deletion(api: Any) -> None:
    _, s = api
    group = "/apis/scheduling.kubenexus.io/v1alpha1/namespaces/default/podgroups"
    await _call(
        s, "POST", group, {"metadata": {"name": "g", "finalizers": ["x"]}, "spec": {"minMember": 2}}
    )
    status, marked = await _call(s, "DELETE", f"{group}/g")
    assert status == 200
    assert marked["metadata"]["deletionTimestamp"]
    await _call(
        s, "PATCH", f"{group}/g", {"metadata": {"finalizers": None}}, "application/merge-patch+json"
    )
    status, _ = await _call(s, "GET", f"{group}/g")
    assert status == 404


async def test_fault_injection(api: Any) -> None:
    emulator, s = api
    emulator.inject(method="POST", path=r"/pods$", status=500, times=1)
    status, body = await _call(s, "POST", "/api/v1/namespaces/default/pods", POD)
    assert status == 500
    assert body["kind"] == "Status"
    status, _ = await _call(s, "POST", "/api/v1/namespaces/default/pods", POD)
    assert status == 201
    emulator.inject(method="GET", path=r"/pods/p$", status=None, delay=0.3, times=1)
    started = asyncio.get_running_loop().time()
    status, _ = await _call(s, "GET", "/api/v1/namespaces/default/pods/p")
    assert status == 200
    assert asyncio.get_running_loop().time() - started >= 0.25
    assert ("GET", "/api/v1/namespaces/default/pods/p", {}) in emulator.calls


async def test_requests_are_recorded_with_their_sender_and_arrival_time(api: Any) -> None:
    emulator, s = api
    emulator.inject(method="GET", path=r"/pods/p$", status=None, delay=0.3, times=1)
    before = asyncio.get_running_loop().time()
    async with s.get(
        "/api/v1/namespaces/default/pods/p", headers={"Authorization": "Bearer alpha"}
    ) as response:
        assert response.status == 404
    after = asyncio.get_running_loop().time()
    await _call(s, "GET", "/api/v1/namespaces/default/pods/q")
    first, second = emulator.received[-2:]
    assert (first.method, first.path, first.user) == (
        "GET",
        "/api/v1/namespaces/default/pods/p",
        "alpha",
    )
    assert before <= first.at <= after - 0.25  # on arrival, not after the injected delay
    assert second.user == ""
    assert second.at >= first.at


async def test_discovery_serves_our_crds(api: Any) -> None:
    _, s = api
    status, group = await _call(s, "GET", "/apis/scheduling.kubenexus.io/v1alpha1")
    assert status == 200
    names = {r["name"] for r in group["resources"]}
    assert {"podgroups", "podgroups/status", "resourcereservations"} <= names
    status, core = await _call(s, "GET", "/api/v1")
    assert "pods/binding" in {r["name"] for r in core["resources"]}


async def test_leases_support_put_with_optimistic_concurrency(api: Any) -> None:
    _, s = api
    path = "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases"
    lease = {
        "metadata": {"name": "kubenexus-scheduler"},
        "spec": {"holderIdentity": "a", "leaseDurationSeconds": 15},
    }
    status, created = await _call(s, "POST", path, lease)
    assert status == 201
    taken = dict(created, spec={"holderIdentity": "b", "leaseDurationSeconds": 15})
    status, updated = await _call(s, "PUT", f"{path}/kubenexus-scheduler", taken)
    assert status == 200
    assert updated["spec"]["holderIdentity"] == "b"
    status, conflict = await _call(s, "PUT", f"{path}/kubenexus-scheduler", taken)  # stale version
    assert status == 409
    assert conflict["reason"] == "Conflict"
