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


async def test_a_pod_group_gets_its_schema_defaults(cluster: Cluster) -> None:
    client = await _client(cluster)
    try:
        stored = await client.request("POST", GROUPS, body=_group("good", {"minMember": 2}))
        assert stored["spec"] == {"minMember": 2, "scheduleTimeoutSeconds": 60}
    finally:
        await client.close()
