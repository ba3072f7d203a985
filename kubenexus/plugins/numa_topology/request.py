"""What a pod asks of NUMA placement, read from its annotations (both spellings accepted)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

from kubenexus.api import keys
from kubenexus.api.objects import PodInfo
from kubenexus.errors import InvalidInputError

Policy = Literal["none", "best-effort", "restricted", "single-numa-node", "isolated"]
POLICIES: Final[dict[str, Policy]] = {
    "none": "none",
    "best-effort": "best-effort",
    "restricted": "restricted",
    "single-numa-node": "single-numa-node",
    "single-numa": "single-numa-node",
    "isolated": "isolated",
}
STRICT: Final = frozenset({"restricted", "single-numa-node", "isolated"})
# What a NUMA zone accounts for, so what can be aligned.
ALIGNABLE: Final = frozenset({keys.CPU, keys.MEMORY, keys.GPU_NVIDIA})
SPREADS: Final = frozenset({"packed", "balanced", "isolated"})
GIB: Final = 2**30
# Every annotation ``numa_request`` reads that can be malformed: a pod carrying none of them
# asks for no alignment of its own and cannot be refused for one.
NUMA_ANNOTATIONS: Final = frozenset(
    {
        *keys.NUMA_POLICY_KEYS,
        keys.NUMA_RESOURCES,
        keys.NUMA_AFFINITY,
        keys.NUMA_ANTI_AFFINITY,
        keys.MEMORY_INTENSIVE,
        keys.NUMA_DISTANCE_WEIGHT,
        keys.GANG_NUMA_SPREAD,
    }
)


@dataclass(frozen=True, slots=True)
class NumaRequest:
    policy: Policy
    explicit: (
        bool  # the pod chose the policy (a defaulted one never rejects nodes lacking topology)
    )
    cpu: int  # millicores to align
    memory: int
    gpus: int
    affinity: frozenset[int] = frozenset()
    anti_affinity: frozenset[int] = frozenset()
    memory_intensive: bool = False
    distance_weight: float = 0.5  # 0..1
    gang_group: str = ""
    spread: str = "packed"


def _ids(pod: PodInfo, key: str) -> frozenset[int]:
    raw = pod.annotations.get(key, "").strip()
    if not raw:
        return frozenset()
    try:
        ids = frozenset(int(part) for part in raw.replace("_", ",").split(",") if part.strip())
    except ValueError:
        raise InvalidInputError(
            f"metadata.annotations[{key}]", raw, "expected zone numbers like '0,1'"
        ) from None
    if any(i < 0 for i in ids):
        raise InvalidInputError(f"metadata.annotations[{key}]", raw, "zone numbers are >= 0")
    return ids


def numa_request(pod: PodInfo, default_policy: Policy, batch_default: Policy) -> NumaRequest:
    """The pod's NUMA request; malformed annotations raise InvalidInputError naming the key."""
    raw_policy = ""
    for key in keys.NUMA_POLICY_KEYS:
        raw_policy = pod.annotations.get(key, "")
        if raw_policy:
            policy_key = key
            break
    explicit = bool(raw_policy)
    if explicit:
        policy = POLICIES.get(raw_policy.strip())
        if policy is None:
            raise InvalidInputError(
                f"metadata.annotations[{policy_key}]",
                raw_policy,
                f"must be one of {sorted(POLICIES)}",
            )
    else:
        batch = bool(pod.gang) or (pod.owner is not None and pod.owner.kind in {"Job", "CronJob"})
        policy = batch_default if batch else default_policy
    aligned = {"cpu", "memory"}
    raw_resources = pod.annotations.get(keys.NUMA_RESOURCES, "").strip()
    if raw_resources:
        aligned = {r.strip() for r in raw_resources.split(",") if r.strip()}
        unknown = sorted(aligned - ALIGNABLE) if aligned else [""]
        if unknown:
            # A misspelt name would silently leave that resource unaligned.
            raise InvalidInputError(
                f"metadata.annotations[{keys.NUMA_RESOURCES}]",
                raw_resources,
                f"unknown resource {unknown[0]!r}, expected some of {', '.join(sorted(ALIGNABLE))}",
            )
    gpus = pod.requests.get(keys.GPU_NVIDIA, 0)
    if gpus and not raw_resources:
        aligned.add(keys.GPU_NVIDIA)  # GPUs requested: align them by default
    cpu = pod.requests.get(keys.CPU, 0) if "cpu" in aligned else 0
    memory = pod.requests.get(keys.MEMORY, 0) if "memory" in aligned else 0
    raw_intensive = pod.annotations.get(keys.MEMORY_INTENSIVE, "").strip().lower()
    if raw_intensive not in {"", "true", "false"}:
        raise InvalidInputError(
            f"metadata.annotations[{keys.MEMORY_INTENSIVE}]", raw_intensive, "must be true or false"
        )
    cores = max(pod.requests.get(keys.CPU, 0) / 1000, 0.001)
    pod_memory = pod.requests.get(keys.MEMORY, 0)
    intensive = raw_intensive == "true" or (
        raw_intensive == "" and (pod_memory > 16 * GIB or pod_memory / cores > 4 * GIB)
    )
    weight = 50.0
    raw_weight = pod.annotations.get(keys.NUMA_DISTANCE_WEIGHT, "").strip()
    if raw_weight:
        try:
            weight = float(raw_weight)
        except ValueError:
            raise InvalidInputError(
                f"metadata.annotations[{keys.NUMA_DISTANCE_WEIGHT}]",
                raw_weight,
                "must be a number 0-100",
            ) from None
        if not 0 <= weight <= 100:
            raise InvalidInputError(
                f"metadata.annotations[{keys.NUMA_DISTANCE_WEIGHT}]",
                raw_weight,
                "must be a number 0-100",
            )
    spread = pod.annotations.get(keys.GANG_NUMA_SPREAD, "packed").strip() or "packed"
    if spread not in SPREADS:
        raise InvalidInputError(
            f"metadata.annotations[{keys.GANG_NUMA_SPREAD}]",
            spread,
            f"must be one of {sorted(SPREADS)}",
        )
    return NumaRequest(
        policy=policy,
        explicit=explicit,
        cpu=cpu,
        memory=memory,
        gpus=gpus if keys.GPU_NVIDIA in aligned else 0,
        affinity=_ids(pod, keys.NUMA_AFFINITY),
        anti_affinity=_ids(pod, keys.NUMA_ANTI_AFFINITY),
        memory_intensive=intensive,
        distance_weight=weight / 100.0,
        gang_group=pod.annotations.get(keys.GANG_GROUP, "") or pod.gang,
        spread=spread,
    )
