"""A pod's tenant tier and workload type: a stand-in for the ProfileClassifier of issue 15
(which will compute them once per pod when it is queued). The GPU plugins read them from here,
so the stand-in is one, and its replacement changes one place."""

from __future__ import annotations

from typing import Final

from kubenexus.api import keys
from kubenexus.api.objects import PodInfo

TIER_ORDINALS: Final = {"gold": 3, "silver": 2, "bronze": 1}
WORKLOAD_TYPES: Final = frozenset({"training", "inference", "batch", "service", "interactive"})
_BATCH_OWNERS: Final = frozenset({"Job", "CronJob"})


def pod_tier(pod: PodInfo) -> str:
    """gold, silver or bronze: the original's ProfileClassifier steps that need no namespace
    (reference §2.1 steps 3-5): the priorityClassName table, then the pod annotation
    ``tenant.kubenexus.io/tier``, else bronze. Namespace labels and Kueue queues: issue 15."""
    tier = keys.PRIORITY_CLASS_TIERS.get(pod.priority_class_name)
    if tier is not None:
        return tier
    annotated = pod.annotations.get(keys.TENANT_TIER, "").strip().lower()
    return annotated if annotated in TIER_ORDINALS else "bronze"


def _interactive(pod: PodInfo) -> bool:
    if any(key in pod.labels for key in keys.INTERACTIVE_LABELS):
        return True
    app = pod.labels.get(keys.APP_NAME_LABEL, "").lower()
    return app in keys.INTERACTIVE_APP_NAMES or "notebook" in app


def workload_type(pod: PodInfo) -> str:
    """training, inference, batch, service, interactive or unknown, by reference §2.2 as far as
    the pod record allows (it keeps no container images, so images are not read)."""
    explicit = pod.labels.get(keys.WORKLOAD_TYPE)
    if explicit is None:
        explicit = pod.annotations.get(keys.WORKLOAD_TYPE)
    if explicit is not None:
        value = explicit.strip().lower()
        return value if value in WORKLOAD_TYPES else "unknown"
    if _interactive(pod):
        return "interactive"
    batch = (
        bool(pod.gang)
        or (pod.owner is not None and pod.owner.kind in _BATCH_OWNERS)
        or any(key in pod.labels for key in keys.BATCH_LABELS)
    )
    if not batch:
        return "service"  # inference is not told apart: this plugin treats both alike
    training = (
        bool(pod.gang)
        or pod.requests.get(keys.GPU_NVIDIA, 0) > 1
        or any(key in pod.labels for key in keys.TRAINING_LABELS)
    )
    return "training" if training else "batch"


def pod_profile(pod: PodInfo) -> tuple[str, str]:
    """(tenant tier, workload type). A stand-in: issue 15's ProfileClassifier replaces it."""
    return pod_tier(pod), workload_type(pod)


PREEMPTIBLE_LABEL: Final = "workload.kubenexus.io/preemptible"
BACKFILL_LABEL: Final = "scheduling.kubenexus.io/backfill"
_PREEMPTIBLE_CLASSES: Final = frozenset({"low-priority", "best-effort"})


def preemptible(pod: PodInfo) -> bool:
    """Whether the pod is there to be preempted (reference §2.3 IsPreemptible, and §10's
    backfill label): the label ``workload.kubenexus.io/preemptible`` says so when present;
    else a backfill label, a low-priority/best-effort priority class, or priority <= 100."""
    label = pod.labels.get(PREEMPTIBLE_LABEL)
    if label is not None:
        return label == "true"
    if pod.labels.get(BACKFILL_LABEL) == "true":
        return True
    return pod.priority_class_name in _PREEMPTIBLE_CLASSES or pod.priority <= 100
