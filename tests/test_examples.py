"""examples/: every object is one the API server would take (`kubectl apply -f examples/…`), so
what the simulator shows on them is what a cluster holding them would see."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((ROOT / "examples").glob("*.yaml"))
KUBERNETES_VERSION = "1.36.0"
OUR_GROUP = "scheduling.kubenexus.io"


def _crd_schemas() -> dict[str, dict[str, Any]]:
    schemas = {}
    for path in (ROOT / "crds").glob("*.yaml"):
        for crd in yaml.safe_load_all(path.read_text()):
            if crd and crd.get("kind") == "CustomResourceDefinition":
                version = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
                schemas[crd["spec"]["names"]["kind"]] = version
    return schemas


def _documents() -> list[tuple[str, dict[str, Any]]]:
    return [
        (f"{path.name}: {doc['kind']}/{doc['metadata']['name']}", doc)
        for path in EXAMPLES
        for doc in yaml.safe_load_all(path.read_text())
        if doc
    ]


@pytest.mark.parametrize(("label", "doc"), _documents(), ids=[label for label, _ in _documents()])
def test_every_example_object_is_valid_against_its_schema(label: str, doc: dict[str, Any]) -> None:
    if doc["apiVersion"].startswith(f"{OUR_GROUP}/"):
        jsonschema.validate(doc, _crd_schemas()[doc["kind"]])
    else:
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


def _pod_specs() -> list[tuple[str, dict[str, Any]]]:
    specs = []
    for label, doc in _documents():
        if doc["kind"] == "Pod":
            specs.append((label, doc.get("spec") or {}))
        elif doc["kind"] in {"Job", "Deployment", "ReplicaSet", "StatefulSet"}:
            specs.append((label, doc["spec"]["template"].get("spec") or {}))
    return specs


def test_every_pending_example_pod_names_its_scheduler() -> None:
    """Applied to a cluster, a pod without schedulerName goes to default-scheduler: the
    examples name kubenexus-scheduler (or another scheduler on purpose), so what the simulator
    shows is what `kubectl apply` gets."""
    unnamed = [
        label
        for label, spec in _pod_specs()
        if not spec.get("nodeName") and not spec.get("schedulerName")
    ]
    assert not unnamed, unnamed
