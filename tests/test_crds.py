"""The CRDs in crds/: structural schemas that reject what the daemon would reject, useful columns."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from kubenexus.api.reservation import reservation_from_dict
from tests.builders import make_node
from tests.core.helpers import scheduler

CRDS = Path(__file__).resolve().parents[1] / "crds"


def _crd(name: str) -> dict[str, Any]:
    return yaml.safe_load((CRDS / name).read_text())  # type: ignore[no-any-return]


def _schema(crd: dict[str, Any]) -> dict[str, Any]:
    return crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]  # type: ignore[no-any-return]


def _valid(crd: dict[str, Any], spec: dict[str, Any]) -> bool:
    body = {
        "apiVersion": "scheduling.kubenexus.io/v1alpha1",
        "kind": crd["spec"]["names"]["kind"],
        "metadata": {"name": "x"},
        "spec": spec,
    }
    try:
        jsonschema.validate(body, _schema(crd))
    except jsonschema.ValidationError:
        return False
    return True


@pytest.mark.parametrize("name", ["podgroups.yaml", "resourcereservations.yaml"])
def test_crds_are_served_with_status_subresource_and_group(name: str) -> None:
    crd = _crd(name)
    assert crd["apiVersion"] == "apiextensions.k8s.io/v1"
    assert crd["spec"]["group"] == "scheduling.kubenexus.io"
    version = crd["spec"]["versions"][0]
    assert version["name"] == "v1alpha1"
    assert version["served"] is True
    assert version["storage"] is True
    assert version["subresources"] == {"status": {}}
    assert crd["metadata"]["name"] == f"{crd['spec']['names']['plural']}.scheduling.kubenexus.io"


def test_podgroup_printer_columns() -> None:
    columns = [
        c["name"] for c in _crd("podgroups.yaml")["spec"]["versions"][0]["additionalPrinterColumns"]
    ]
    assert columns == ["Phase", "MinMember", "Scheduled", "Running", "Age"]


@pytest.mark.parametrize(
    ("spec", "valid"),
    [
        ({"minMember": 3}, True),
        (
            {
                "minMember": 1,
                "minResources": {"cpu": "4", "memory": "8Gi", "nvidia.com/gpu": 2},
                "scheduleTimeoutSeconds": 120,
            },
            True,
        ),
        ({"minMember": 0}, False),
        ({"minMember": -1}, False),
        ({}, False),
        ({"minMember": "3"}, False),
        ({"minMember": 2, "scheduleTimeoutSeconds": 0}, False),
        ({"minMember": 2, "minResources": {"cpu": "lots"}}, False),
        # Negative amounts: the scheduler refuses them (pod_group_spec), so must the server.
        ({"minMember": 2, "minResources": {"cpu": "-1"}}, False),
        ({"minMember": 2, "minResources": {"cpu": -1}}, False),
        ({"minMember": 2, "minResources": {"cpu": "+1"}}, True),
    ],
)
def test_podgroup_validation(spec: dict[str, Any], valid: bool) -> None:
    assert _valid(_crd("podgroups.yaml"), spec) is valid


def test_reservation_printer_columns_and_names() -> None:
    crd = _crd("resourcereservations.yaml")
    assert crd["spec"]["scope"] == "Namespaced"
    assert crd["spec"]["names"]["shortNames"] == ["rr"]
    assert crd["spec"]["names"]["categories"] == ["kubenexus"]
    columns = {
        c["name"]: (c["jsonPath"], c["type"])
        for c in crd["spec"]["versions"][0]["additionalPrinterColumns"]
    }
    assert columns == {
        "PodGroup": (".spec.podGroupName", "string"),
        "Phase": (".status.phase", "string"),
        "Claimed": (".status.claims", "string"),
        # kubectl prints a date column as the time since it: a future expiry would read
        # "<invalid>", so the timestamp is shown as written.
        "Expires": (".status.expiresAt", "string"),
        "Age": (".metadata.creationTimestamp", "date"),
    }


NAMED = {
    "podGroupName": "spark-pi",
    "reservations": {
        "executor-0": {"node": "n1", "resources": {"cpu": "2", "memory": "4Gi"}},
        "executor-1": {"resources": {"cpu": 2, "nvidia.com/gpu": 1, "example.com/fpga": "1"}},
    },
}
SHORTHAND = {"podGroupName": "spark-pi", "resources": {"cpu": "500m"}, "count": 3}


@pytest.mark.parametrize(
    ("spec", "valid"),
    [
        (NAMED, True),
        ({**NAMED, "ttlSeconds": 60}, True),
        ({**NAMED, "duration": "1h30m"}, True),
        (SHORTHAND, True),
        ({**SHORTHAND, "count": 10_000, "duration": "90s"}, True),
        ({**SHORTHAND, "duration": "1.5h"}, True),
        ({**SHORTHAND, "count": 0}, False),
        ({**SHORTHAND, "count": 10_001}, False),
        ({**SHORTHAND, "count": "3"}, False),
        ({**SHORTHAND, "resources": {}}, False),
        ({**SHORTHAND, "resources": {"cpu": "lots"}}, False),
        ({**SHORTHAND, "resources": {"memory": "4GB"}}, False),
        ({**SHORTHAND, "ttlSeconds": 0}, False),
        ({**SHORTHAND, "duration": "10 minutes"}, False),
        ({**SHORTHAND, "duration": "-5m"}, False),
        ({**SHORTHAND, "duration": "5d"}, False),
        ({**NAMED, "podGroupName": ""}, False),
        ({"reservations": NAMED["reservations"]}, False),
        ({"podGroupName": "g", "reservations": {}}, False),
        ({"podGroupName": "g", "reservations": {"a": {"node": "n1"}}}, False),
        ({"podGroupName": "g", "reservations": {"a": {"node": "n1", "resources": {}}}}, False),
        ({"podGroupName": "g", "reservations": {"a": {"resources": {"cpu": "1x"}}}}, False),
        # Negative amounts: the scheduler would mark the object Invalid, the server refuses it.
        ({**SHORTHAND, "resources": {"cpu": "-2"}}, False),
        ({**SHORTHAND, "resources": {"cpu": -2}}, False),
        ({"podGroupName": "g", "reservations": {"a": {"resources": {"memory": "-1Gi"}}}}, False),
    ],
)
def test_reservation_schema(spec: dict[str, Any], valid: bool) -> None:
    assert _valid(_crd("resourcereservations.yaml"), spec) is valid


def _rules(schema: dict[str, Any]) -> list[tuple[str, str]]:
    return [(r["rule"], r["message"]) for r in schema.get("x-kubernetes-validations", [])]


def test_reservation_cel_rules_say_what_is_wrong() -> None:
    """What the schema cannot say is CEL, evaluated by kube-apiserver (tests/real checks each
    rule refuses what it should there); the messages are what the user reads."""
    spec = _schema(_crd("resourcereservations.yaml"))["properties"]["spec"]
    assert [message for _, message in _rules(spec)] == [
        "needs reservations, or resources and count",
        "reservations cannot be combined with resources or count",
        "set ttlSeconds or duration, not both",
    ]
    assert "default" not in spec["properties"]["ttlSeconds"]  # the scheduler's configuration
    assert _rules(spec["properties"]["reservations"])[0][1].startswith("slot names are")
    assert _rules(spec["properties"]["duration"])[0][1] == "must be longer than 0s"


def test_reservation_status_schema_takes_what_the_scheduler_writes() -> None:
    s = scheduler(make_node("n1").alloc(cpu="8", memory="16Gi").obj())
    crd = _crd("resourcereservations.yaml")
    for name, spec in (("named", NAMED), ("short", SHORTHAND)):
        body = {"metadata": {"name": name, "namespace": "default"}, "spec": spec}
        s.upsert_reservation(reservation_from_dict(body))
        status = dict(s.reserving.book.status(f"default/{name}"))
        jsonschema.validate({**body, "status": status}, _schema(crd))
    assert s.reserving.book.status("default/short")["phase"] == "Active"
    # No node has a GPU for executor-1: still Pending, its slot's node "" in the status.
    pending = s.reserving.book.status("default/named")
    assert pending["phase"] == "Pending"
    assert pending["slots"]["executor-1"] == {"node": "", "state": "Pending"}  # type: ignore[index]
