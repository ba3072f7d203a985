"""The CRDs in crds/: structural schemas that reject what the daemon would reject, useful columns."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

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
    ],
)
def test_podgroup_validation(spec: dict[str, Any], valid: bool) -> None:
    assert _valid(_crd("podgroups.yaml"), spec) is valid


@pytest.mark.parametrize(
    ("spec", "valid"),
    [
        (
            {
                "podGroupName": "spark",
                "slots": [{"node": "n1", "resources": {"cpu": "4", "memory": "8Gi"}}],
            },
            True,
        ),
        (
            {
                "podGroupName": "spark",
                "slots": [{"node": "n1", "resources": {"cpu": 4}}],
                "ttlSeconds": 60,
            },
            True,
        ),
        ({"podGroupName": "spark", "slots": []}, False),
        ({"podGroupName": "", "slots": [{"node": "n1", "resources": {"cpu": "1"}}]}, False),
        ({"podGroupName": "spark", "slots": [{"node": "n1", "resources": {}}]}, False),
        ({"podGroupName": "spark", "slots": [{"resources": {"cpu": "1"}}]}, False),
        (
            {
                "podGroupName": "spark",
                "slots": [{"node": "n1", "resources": {"cpu": "1"}}],
                "ttlSeconds": 0,
            },
            False,
        ),
    ],
)
def test_reservation_validation(spec: dict[str, Any], valid: bool) -> None:
    assert _valid(_crd("resourcereservations.yaml"), spec) is valid
