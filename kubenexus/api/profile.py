"""A pod's workload profile: WHO runs it (tenant tier and name) and WHAT it is (training,
inference, batch, service, interactive), plus the gang and preemptible flags.

The original's ProfileClassifier rules (reference §2), computed from the pod record and its
namespace's labels (a Namespace informer; the original made an API call per pod in the
scheduling path). Where we differ: an app name matches interactive words whole ("gitlab" is not
a lab), a pod is preemptible only when something says so (the original's ``priority <= 100``
made every ordinary pod preemptible), and gang membership is the core's one definition.
A value that cannot be read is named in ``problems`` and ignored (the next rule decides).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final

from kubenexus.api import keys
from kubenexus.api.objects import PodInfo

TIER_ORDINALS: Final = {"gold": 3, "silver": 2, "bronze": 1}
TIERS: Final = tuple(TIER_ORDINALS)
WORKLOAD_TYPES: Final = ("training", "inference", "batch", "service", "interactive")
# Types that fill nodes (bin-pack) rather than spread.
PACKING_TYPES: Final = frozenset({"training", "batch"})
# Tenant names that say their tier (Kueue step, reference §2.1): first match wins.
_NAME_TIERS: Final = (("prod", "gold"), ("staging", "silver"), ("dev", "bronze"))
_WORD: Final = re.compile(r"[a-z0-9]+")
# Key sets, so a pod's labels are checked in one C-level pass each.
_INTERACTIVE_KEYS: Final = frozenset(keys.INTERACTIVE_LABELS)
_INFERENCE_KEYS: Final = frozenset(keys.INFERENCE_LABELS)
_BATCH_KEYS: Final = frozenset(keys.BATCH_LABELS)
_TRAINING_KEYS: Final = frozenset(keys.TRAINING_LABELS)
_GPU_RESOURCES: Final = (keys.GPU_NVIDIA, "amd.com/gpu", "gpu.intel.com/xe", "gpu.intel.com/i915")


@dataclass(frozen=True, slots=True)
class ClassifierSettings:
    """What a cluster may change about the rules (ProfileClassifier's arguments)."""

    priority_class_tiers: Mapping[str, str] = field(
        default_factory=lambda: dict(keys.PRIORITY_CLASS_TIERS)
    )
    default_tier: str = "bronze"
    # Pods with a priority below this are preemptible (PriorityClasses with negative values are
    # how clusters mark opportunistic work; the original's "<= 100" caught priority 0 too).
    preemptible_below_priority: int = 0


DEFAULT_SETTINGS: Final = ClassifierSettings()


@dataclass(frozen=True, slots=True)
class WorkloadProfile:
    tier: str  # gold | silver | bronze
    tenant: str
    # Which rule gave the tier: kueue, namespace, priority-class, annotation, default.
    tier_source: str
    workload: str  # one of WORKLOAD_TYPES, or "unknown" (an explicit value we do not know)
    gang: bool = False
    preemptible: bool = False
    problems: tuple[str, ...] = ()
    gpus: int = 0  # GPUs requested (any vendor's device plugin)

    @property
    def tier_ordinal(self) -> int:
        return TIER_ORDINALS.get(self.tier, 1)

    @property
    def packs(self) -> bool:
        """Whether the workload fills nodes (training, batch) rather than spreads."""
        return self.workload in PACKING_TYPES

    def summary(self) -> str:
        """One line for people: ``gold tenant ml-prod (namespace), training, gang``."""
        flags = [f for f, on in (("gang", self.gang), ("preemptible", self.preemptible)) if on]
        return ", ".join(
            [f"{self.tier} tenant {self.tenant} ({self.tier_source})", self.workload, *flags]
        )


def reserved_tier_ordinal(value: str) -> int:
    """The tier a node is reserved for (label ``tenant.kubenexus.io/reserved-tier``) as an
    ordinal: 0 when not reserved ("" or "none"), an unknown tier counts as bronze."""
    tier = value.strip().lower()
    if tier in {"", "none"}:
        return 0
    return TIER_ORDINALS.get(tier, 1)


def _tier(value: str | None) -> str | None:
    if value is None:
        return None
    tier = value.strip().lower()
    return tier if tier in TIER_ORDINALS else None


def _bad(where: str, value: str, expected: str) -> str:
    return f"{where}={value!r} is not {expected}; ignored"


_TIER_NAMES: Final = "gold, silver or bronze"


def _who(
    pod: PodInfo, namespace: Mapping[str, str], settings: ClassifierSettings, problems: list[str]
) -> tuple[str, str, str]:
    """(tier, tenant name, source): the first rule that answers (reference §2.1)."""
    labelled = namespace.get(keys.TENANT_TIER)
    namespace_tier = _tier(labelled)
    if labelled is not None and namespace_tier is None:
        problems.append(
            _bad(f"namespace {pod.namespace} label {keys.TENANT_TIER}", labelled, _TIER_NAMES)
        )
    tenant_name = namespace.get(keys.TENANT_NAME, "").strip()
    queue = pod.labels.get(keys.KUEUE_QUEUE)
    if queue is not None:
        if namespace_tier is not None:
            return namespace_tier, queue, "kueue"
        if tenant_name:
            lowered = tenant_name.lower()
            inferred = next((t for word, t in _NAME_TIERS if word in lowered), "bronze")
            return inferred, tenant_name, "kueue"
    if namespace_tier is not None:
        return namespace_tier, tenant_name or pod.namespace, "namespace"
    by_class = settings.priority_class_tiers.get(pod.priority_class_name)
    if by_class is not None:
        return by_class, pod.namespace, "priority-class"
    annotated = pod.annotations.get(keys.TENANT_TIER)
    if annotated is not None:
        tier = _tier(annotated)
        if tier is not None:
            return tier, pod.namespace, "annotation"
        problems.append(_bad(f"annotation {keys.TENANT_TIER}", annotated, _TIER_NAMES))
    return settings.default_tier, pod.namespace, "default"


def _interactive_by_labels(pod: PodInfo) -> bool:
    labels = pod.labels
    if not labels:
        return False
    if not _INTERACTIVE_KEYS.isdisjoint(labels):
        return True
    if any(labels.get(key) in keys.INTERACTIVE_COMPONENTS for key in keys.COMPONENT_LABELS):
        return True
    app = labels.get(keys.APP_NAME_LABEL, "").lower()
    return bool(app) and (
        app in keys.INTERACTIVE_APP_NAMES
        or not keys.INTERACTIVE_APP_WORDS.isdisjoint(_WORD.findall(app))
    )


def _repository(image: str) -> str:
    """An image's repository path without the registry host, tag or digest, lowercased
    ("quay.io/jupyter/scipy-notebook:2024" → "jupyter/scipy-notebook")."""
    name = image.split("@", 1)[0].lower()
    first, slash, rest = name.partition("/")
    if slash and ("." in first or ":" in first or first == "localhost"):
        name = rest
    if name.rfind(":") > name.rfind("/"):
        name = name[: name.rfind(":")]
    return name


def _interactive_image(pod: PodInfo) -> bool:
    for image in pod.images:
        repository = _repository(image)
        if not keys.INTERACTIVE_IMAGE_WORDS.isdisjoint(_WORD.findall(repository)):
            return True
        if any(phrase in repository for phrase in keys.INTERACTIVE_IMAGE_PHRASES):
            return True
    return False


def _inference(pod: PodInfo) -> bool:
    labels = pod.labels
    if not labels:
        return False
    if not _INFERENCE_KEYS.isdisjoint(labels):
        return True
    if labels.get(keys.RAY_ORIGIN_LABEL) == "RayService":
        return True
    return any(labels.get(key) in keys.INFERENCE_COMPONENTS for key in keys.COMPONENT_LABELS)


def states_preferences(pod: PodInfo) -> bool:
    """Whether the pod says where it would rather run (preferred node affinity, inter-pod
    affinity or anti-affinity, its own topology spread constraints): the profile scorers then
    leave the choice to the plugins that read those (a stated preference is not overruled)."""
    return bool(pod.preferred_affinity or pod.spread or pod.pod_affinity)


def gpu_count(pod: PodInfo) -> int:
    """GPUs the pod requests, of any vendor's device plugin."""
    requests = pod.requests
    total = 0
    for name in _GPU_RESOURCES:
        amount = requests.get(name)
        if amount:
            total += amount
    return total


def _what(pod: PodInfo, problems: list[str]) -> str:
    """The workload type (reference §2.2, §1.2)."""
    where, explicit = f"label {keys.WORKLOAD_TYPE}", pod.labels.get(keys.WORKLOAD_TYPE)
    if explicit is None:
        where, explicit = (
            f"annotation {keys.WORKLOAD_TYPE}",
            pod.annotations.get(keys.WORKLOAD_TYPE),
        )
    if explicit is not None:
        value = explicit.strip().lower()
        if value in WORKLOAD_TYPES:
            return value
        problems.append(_bad(where, explicit, ", ".join(WORKLOAD_TYPES)))
        return "unknown"
    if _interactive_by_labels(pod):
        return "interactive"
    if _inference(pod):
        return "inference"
    batch = (
        bool(pod.gang)
        or not _BATCH_KEYS.isdisjoint(pod.labels)
        or (pod.owner is not None and pod.owner.kind in keys.BATCH_OWNERS)
    )
    if not batch:
        # An IDE's image marks a notebook only where nothing says it is a framework's worker.
        return "interactive" if _interactive_image(pod) else "service"
    training = bool(pod.gang) or gpu_count(pod) > 1 or not _TRAINING_KEYS.isdisjoint(pod.labels)
    return "training" if training else "batch"


def _flag_label(pod: PodInfo, key: str, problems: list[str]) -> bool | None:
    """A true/false label: its value, or None when absent or unreadable (then named)."""
    value = pod.labels.get(key)
    if value is None:
        return None
    lowered = value.strip().lower()
    if lowered in {"true", "false"}:
        return lowered == "true"
    problems.append(_bad(f"label {key}", value, "true or false"))
    return None


def _preemptible(pod: PodInfo, settings: ClassifierSettings, problems: list[str]) -> bool:
    """Reference §2.3 and §10: the preemptible label when readable decides; else a backfill
    label, a low-priority/best-effort class, or a priority below the configured bound."""
    label = _flag_label(pod, keys.PREEMPTIBLE_LABEL, problems)
    if label is not None:
        return label
    if _flag_label(pod, keys.BACKFILL_LABEL, problems):
        return True
    return (
        pod.priority_class_name in keys.PREEMPTIBLE_CLASSES
        or pod.priority < settings.preemptible_below_priority
    )


def classify(
    pod: PodInfo,
    namespace_labels: Mapping[str, str],
    settings: ClassifierSettings = DEFAULT_SETTINGS,
) -> WorkloadProfile:
    """The pod's profile, given its namespace's labels (empty when the namespace is unknown)."""
    problems: list[str] = []
    tier, tenant, source = _who(pod, namespace_labels, settings, problems)
    return WorkloadProfile(
        tier=tier,
        tenant=tenant,
        tier_source=source,
        workload=_what(pod, problems),
        gang=bool(pod.gang),
        preemptible=_preemptible(pod, settings, problems),
        gpus=gpu_count(pod),
        problems=tuple(problems),
    )
