"""GPU services spread over zones with the default profile (found by a break-test, when
only CPU-only services did; the docstring tells the case as found)."""

from __future__ import annotations

from typing import Any

import pytest

from kubenexus.api import keys
from kubenexus.api.workloads import selector_from_labels
from tests.builders import make_pod
from tests.core.helpers import place, scheduler
from tests.core.test_profiles import GPU, gfd_node

SPREADING: dict[str, Any] = {
    "profiles": [
        {
            "plugins": {"score": {"enabled": [{"name": "TopologyScoring"}]}},
            "pluginConfig": [{"name": "WorkloadAwareScoring", "args": {"spreadServices": True}}],
        }
    ]
}


@pytest.mark.parametrize("config", [None, SPREADING], ids=["default", "TopologyScoring+spread"])
def test_gpu_inference_replicas_of_one_deployment_spread_over_zones(
    config: dict[str, Any] | None,
) -> None:
    """Six 1-GPU KServe predictor replicas of one Deployment (its ReplicaSet's selector known,
    so PodTopologySpread's default constraints apply), three zones of two A100 nodes. The
    issue: "services of one Deployment spread across zones"; docs/profiles.md: inference
    spreads, TopologyScoring spreads a service's replicas over zones. All six land on one
    node — ResourceFragmentationScore (5) and VRAMScheduler (8) pack GPU pods and outweigh
    PodTopologySpread (2) and TopologyScoring / WorkloadAwareScoring (1 and 2); one node
    failure takes the whole service down."""
    nodes = [
        gfd_node(f"{zone}-{i}", "NVIDIA-A100-SXM4-40GB", 40960, 8, **{keys.ZONE_LABEL: zone})
        for zone in ("a", "b", "c")
        for i in range(2)
    ]
    s = scheduler(*nodes, config=config)
    s.set_namespace("serve", {keys.TENANT_TIER: "silver"})
    s.set_workload_selector(
        "ReplicaSet", "serve", "chat-5d8", selector_from_labels({"app": "chat"})
    )
    replicas = [
        make_pod(f"chat-{i}").namespace("serve").owner("ReplicaSet", "chat-5d8")
        .label("app", "chat").label("serving.kserve.io/inferenceservice", "chat")
        .label("component", "predictor").req(cpu="4", memory="32Gi").extended(GPU, "1").obj()
        for i in range(6)
    ]  # fmt: skip
    placed = place(s, *replicas)
    zones = {placed[p.name].split("-")[0] for p in replicas}
    assert zones == {"a", "b", "c"}, placed
