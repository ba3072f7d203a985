"""The tenant's tier decides the kind of hardware against half-used islands of another tier
(found by a break-test at TenantHardwareAffinityScore weight 17, where the other scorers tipped
it; the weight is 34 now, docs/profiles.md says why)."""

from __future__ import annotations

import pytest

from kubenexus.api import keys
from tests.builders import make_pod
from tests.core.helpers import place, scheduler
from tests.core.test_profiles import GPU, gfd_node, training


@pytest.mark.parametrize(
    ("tier", "own", "lower", "used"),
    [
        # gold: an empty H100 (premium) against an A100-40GB (standard) with 4 of 8 GPUs used
        ("gold", ("h100", "NVIDIA-H100-80GB-HBM3", 81559, 8), ("a100", "NVIDIA-A100-SXM4-40GB", 40960, 8), 4),
        # silver: an empty A100-40GB (standard) against an L4 node (economy) with 2 of 4 used
        ("silver", ("a100", "NVIDIA-A100-SXM4-40GB", 40960, 8), ("l4", "NVIDIA-L4", 23034, 4), 2),
    ],
)  # fmt: skip
def test_a_tenant_gpu_pod_goes_to_its_own_tier_over_a_half_used_lower_tier(
    tier: str, own: tuple[str, str, int, int], lower: tuple[str, str, int, int], used: int
) -> None:
    s = scheduler(gfd_node(*own), gfd_node(*lower))
    s.set_namespace("team", {keys.TENANT_TIER: tier})
    for i in range(used):
        s.upsert_pod(
            make_pod(f"other-{i}").namespace("other").req(cpu="1").extended(GPU, "1")
            .node(lower[0]).phase("Running").obj()
        )  # fmt: skip
    assert place(s, training("job", "team"))["job"] == own[0]
