"""The ResourceReservation CRD on a real kube-apiserver: its CEL rules (which the emulator does
not evaluate) refuse the combinations the schema alone cannot, and ``kubectl get rr`` shows what
the scheduler wrote."""

from __future__ import annotations

import subprocess
from typing import Any

import pytest

from kubenexus.api.reservation import reservation_from_dict
from tests.builders import make_node
from tests.core.helpers import scheduler
from tests.realk8s.client import RealApi, RealApiError

GROUP = {"group": "scheduling.kubenexus.io", "version": "v1alpha1"}
PATH = "/apis/scheduling.kubenexus.io/v1alpha1/namespaces/default/resourcereservations"


def _create(api: RealApi, name: str, spec: dict[str, Any]) -> dict[str, Any]:
    api.ensure_namespace("default")
    body = {
        "apiVersion": "scheduling.kubenexus.io/v1alpha1",
        "kind": "ResourceReservation",
        "metadata": {"name": name, "namespace": "default"},
        "spec": spec,
    }
    return api.request("POST", PATH, body)


@pytest.mark.parametrize(
    ("spec", "detail"),
    [
        ({"podGroupName": "g"}, "spec: Invalid value: needs reservations, or resources and count"),
        (
            {"podGroupName": "g", "count": 3},
            "spec: Invalid value: needs reservations, or resources and count",
        ),
        (
            {"podGroupName": "g", "resources": {"cpu": "1"}},
            "spec: Invalid value: needs reservations, or resources and count",
        ),
        (
            {
                "podGroupName": "g",
                "reservations": {"a": {"resources": {"cpu": "1"}}},
                "resources": {"cpu": "1"},
                "count": 2,
            },
            "spec: Invalid value: reservations cannot be combined with resources or count",
        ),
        (
            {"podGroupName": "g", "reservations": {"a": {"resources": {"cpu": "1"}}}, "count": 2},
            "spec: Invalid value: reservations cannot be combined with resources or count",
        ),
        (
            {
                "podGroupName": "g",
                "resources": {"cpu": "1"},
                "count": 1,
                "ttlSeconds": 60,
                "duration": "1m",
            },
            "spec: Invalid value: set ttlSeconds or duration, not both",
        ),
        (
            {"podGroupName": "g", "resources": {"cpu": "1"}, "count": 1, "duration": "0h0m"},
            'spec.duration: Invalid value: "0h0m": must be longer than 0s',
        ),
        (
            {"podGroupName": "g", "reservations": {"Executor_0": {"resources": {"cpu": "1"}}}},
            "spec.reservations: Invalid value: slot names are lower case letters, digits, '-' "
            "and '.', starting and ending with a letter or digit",
        ),
        (
            {"podGroupName": "g", "reservations": {"a" * 64: {"resources": {"cpu": "1"}}}},
            "spec.reservations: Invalid value: slot names are lower case letters, digits, '-' "
            "and '.', starting and ending with a letter or digit, at most 63 characters",
        ),
        (
            {"podGroupName": "g", "resources": {"cpu": "-2"}, "count": 1},
            'spec.resources.cpu: Invalid value: "-2": spec.resources.cpu in body should match',
        ),
    ],
)
def test_cel_rules_refuse_combinations_the_schema_cannot(
    real_api: RealApi, spec: dict[str, Any], detail: str
) -> None:
    real_api.wipe()
    with pytest.raises(RealApiError) as refused:
        _create(real_api, "bad", spec)
    assert refused.value.status == 422
    assert refused.value.body["message"].startswith(
        f'ResourceReservation.scheduling.kubenexus.io "bad" is invalid: {detail}'
    )


def test_kubectl_get_rr_shows_group_phase_claims_and_expiry(real_api: RealApi) -> None:
    real_api.wipe()
    spec = {"podGroupName": "spark-pi", "resources": {"cpu": "2"}, "count": 3, "duration": "1h"}
    stored = _create(real_api, "spark-pi-driver", spec)
    s = scheduler(make_node("n1").alloc(cpu="8", memory="16Gi").obj())
    s.upsert_reservation(reservation_from_dict(stored))
    status = dict(s.reserving.book.status("default/spark-pi-driver"))
    written = real_api.request(
        "PUT", f"{PATH}/spark-pi-driver/status", {**stored, "status": status}
    )
    assert written["status"] == status  # nothing pruned: every field is in the schema
    kubectl = real_api.plane.assets / "kubectl"
    if not kubectl.exists():
        pytest.skip("no kubectl in KUBEBUILDER_ASSETS")
    for what in ("rr", "kubenexus"):  # short name, category
        out = subprocess.run(
            [str(kubectl), "--kubeconfig", str(real_api.plane.admin_kubeconfig), "get", what],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        ).stdout.splitlines()
        assert out[0].split() == ["NAME", "PODGROUP", "PHASE", "CLAIMED", "EXPIRES", "AGE"]
        row = out[1].split()
        assert row[0].endswith("spark-pi-driver")
        assert row[1:5] == ["spark-pi", "Active", "0/3", status["expiresAt"]]
