"""The PodGroup CRD on a real kube-apiserver: it refuses the specs the scheduler refuses, keeps
the status the daemon writes (through /status only) and `kubectl get pg` shows it."""

from __future__ import annotations

import subprocess
from typing import Any

import pytest

from kubenexus.api.gang import pod_group_spec
from kubenexus.errors import InvalidInputError
from tests.realk8s.client import RealApi, RealApiError

PATH = "/apis/scheduling.kubenexus.io/v1alpha1/namespaces/default/podgroups"


def _create(api: RealApi, name: str, spec: dict[str, Any]) -> dict[str, Any]:
    api.ensure_namespace("default")
    body = {
        "apiVersion": "scheduling.kubenexus.io/v1alpha1",
        "kind": "PodGroup",
        "metadata": {"name": name, "namespace": "default"},
        "spec": spec,
    }
    return api.request("POST", PATH, body)


@pytest.mark.parametrize(
    "spec",
    [
        {"minMember": 0},
        {"minMember": -3},
        {"minMember": 2, "scheduleTimeoutSeconds": 0},
        {"minMember": 2, "minResources": {"cpu": "-1"}},
        {"minMember": 2, "minResources": {"memory": -5}},
        {"minMember": 2, "minResources": {"cpu": "lots"}},
    ],
)
def test_the_server_refuses_what_the_scheduler_refuses(
    real_api: RealApi, spec: dict[str, Any]
) -> None:
    real_api.wipe()
    with pytest.raises(InvalidInputError):
        pod_group_spec(spec)
    with pytest.raises(RealApiError) as refused:
        _create(real_api, "bad", spec)
    assert refused.value.status == 422, refused.value


def test_status_is_written_through_its_subresource_and_shown_by_kubectl(real_api: RealApi) -> None:
    real_api.wipe()
    stored = _create(real_api, "train", {"minMember": 4})
    # No schema default: the scheduler's configured defaultScheduleTimeoutSeconds applies.
    assert "scheduleTimeoutSeconds" not in stored["spec"]
    status = {
        "phase": "Scheduling",
        "scheduled": 3,
        "running": 1,
        "succeeded": 0,
        "failed": 0,
        "scheduleStartTime": "2026-01-01T00:00:00Z",
        "conditions": [
            {
                "type": "ScheduleTimeout",
                "status": "True",
                "reason": "Timeout",
                "message": "only 3 of minMember 4 members fit",
                "lastTransitionTime": "2026-01-01T00:01:00Z",
            }
        ],
    }
    # A status in a write of the object itself is dropped: only /status writes it.
    ignored = real_api.request("PUT", f"{PATH}/train", {**stored, "status": status})
    assert "status" not in ignored
    written = real_api.request("PUT", f"{PATH}/train/status", {**ignored, "status": status})
    assert written["status"] == status  # nothing pruned: every field is in the schema
    with pytest.raises(RealApiError) as refused:
        real_api.request(
            "PUT", f"{PATH}/train/status", {**written, "status": {**status, "phase": "Done"}}
        )
    assert refused.value.status == 422
    kubectl = real_api.plane.assets / "kubectl"
    if not kubectl.exists():
        pytest.skip("no kubectl in KUBEBUILDER_ASSETS")
    for what in ("pg", "kubenexus"):  # short name, category
        out = subprocess.run(
            [str(kubectl), "--kubeconfig", str(real_api.plane.admin_kubeconfig), "get", what],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        ).stdout.splitlines()
        assert out[0].split() == ["NAME", "PHASE", "MINMEMBER", "SCHEDULED", "RUNNING", "AGE"]
        row = out[1].split()
        assert row[0].endswith("train")
        assert row[1:5] == ["Scheduling", "4", "3", "1"]
