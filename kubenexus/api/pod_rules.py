"""What a pod asks of the pods around it: inter-pod (anti-)affinity terms and topology spread
constraints, read as kube-apiserver validates them and as kube-scheduler interprets them.

Label selectors follow ``metav1.LabelSelectorAsSelector``: an absent selector matches no pod,
an empty one every pod. ``matchLabelKeys`` / ``mismatchLabelKeys`` are merged into the selector
from the pod's own labels. For affinity terms kube-apiserver does so once, when it creates the
pod, and kube-scheduler reads the selector only: a key the selector already constrains was
merged there (validation forbids writing one), from the labels of that time, and is not merged
again from the current ones (a placed pod may have been relabelled since). Topology spread
constraints are merged at each attempt, as kube-scheduler does.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from kubenexus.api.fields import int_at, list_at, mapping_at, string_at, string_map_at
from kubenexus.errors import InvalidInputError

LABEL_OPERATORS: Final = frozenset({"In", "NotIn", "Exists", "DoesNotExist"})
DO_NOT_SCHEDULE: Final = "DoNotSchedule"
SCHEDULE_ANYWAY: Final = "ScheduleAnyway"
HONOR: Final = "Honor"
IGNORE: Final = "Ignore"


@dataclass(frozen=True, slots=True)
class LabelRequirement:
    key: str
    operator: str  # In, NotIn, Exists, DoesNotExist
    values: frozenset[str] = frozenset()

    def matches(self, labels: Mapping[str, str]) -> bool:
        value = labels.get(self.key)
        if self.operator == "In":
            return value is not None and value in self.values
        if self.operator == "NotIn":
            return value is None or value not in self.values
        if self.operator == "Exists":
            return value is not None
        return value is None


@dataclass(frozen=True, slots=True)
class LabelSelector:
    """A pod label selector: every requirement must hold (none: every pod matches)."""

    requirements: tuple[LabelRequirement, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        return all(r.matches(labels) for r in self.requirements)

    def equality_keys(self) -> tuple[tuple[str, str], ...]:
        """(key, value) pairs a matching pod must carry (``In`` with one value): an index key."""
        return tuple(
            (r.key, next(iter(r.values)))
            for r in self.requirements
            if r.operator == "In" and len(r.values) == 1
        )

    def with_requirements(self, extra: tuple[LabelRequirement, ...]) -> LabelSelector:
        merged = list(self.requirements)
        for requirement in extra:
            if requirement not in merged:
                merged.append(requirement)
        return LabelSelector(tuple(sorted(merged, key=_requirement_order)))


def _requirement_order(r: LabelRequirement) -> tuple[str, str, tuple[str, ...]]:
    return (r.key, r.operator, tuple(sorted(r.values)))


@dataclass(frozen=True, slots=True)
class PodAffinityTerm:
    """Pods matching ``selector`` in the term's namespaces, on nodes sharing the value of
    ``topology_key``. Namespaces: the listed ones plus those ``namespace_selector`` matches;
    neither given means the namespace of the pod carrying the term (filled in when read)."""

    selector: LabelSelector | None  # None: matches no pod
    namespaces: frozenset[str]
    namespace_selector: LabelSelector | None  # None: no namespace by labels; empty: all
    topology_key: str

    @property
    def all_namespaces(self) -> bool:
        return self.namespace_selector is not None and not self.namespace_selector.requirements

    def matches(
        self, namespace: str, labels: Mapping[str, str], namespace_labels: Mapping[str, str]
    ) -> bool:
        """Whether a pod in ``namespace`` (labelled ``namespace_labels``) with ``labels`` is
        one this term selects (kube's AffinityTerm.Matches)."""
        if self.selector is None or not self.selector.matches(labels):
            return False
        if namespace in self.namespaces:
            return True
        return self.namespace_selector is not None and self.namespace_selector.matches(
            namespace_labels
        )


@dataclass(frozen=True, slots=True)
class PodAffinity:
    """A pod's inter-pod affinity and anti-affinity (empty tuples where it has none)."""

    required: tuple[PodAffinityTerm, ...] = ()
    required_anti: tuple[PodAffinityTerm, ...] = ()
    preferred: tuple[tuple[int, PodAffinityTerm], ...] = ()
    preferred_anti: tuple[tuple[int, PodAffinityTerm], ...] = ()

    def __bool__(self) -> bool:
        return bool(self.required or self.required_anti or self.preferred or self.preferred_anti)


@dataclass(frozen=True, slots=True)
class SpreadConstraint:
    max_skew: int
    topology_key: str
    when_unsatisfiable: str  # DoNotSchedule or ScheduleAnyway
    selector: LabelSelector | None  # None: matches no pod
    min_domains: int | None = None
    node_affinity_policy: str = HONOR
    node_taints_policy: str = IGNORE

    @property
    def hard(self) -> bool:
        return self.when_unsatisfiable == DO_NOT_SCHEDULE


def label_selector(obj: object, path: str) -> LabelSelector | None:
    """A ``metav1.LabelSelector`` (absent: None, which matches nothing)."""
    if obj is None:
        return None
    data = mapping_at(obj, path)
    requirements: list[LabelRequirement] = [
        LabelRequirement(key, "In", frozenset({value}))
        for key, value in string_map_at(data.get("matchLabels"), f"{path}.matchLabels").items()
    ]
    expressions = list_at(data.get("matchExpressions"), f"{path}.matchExpressions")
    for i, item in enumerate(expressions):
        requirements.append(_label_requirement(item, f"{path}.matchExpressions[{i}]"))
    return LabelSelector().with_requirements(tuple(requirements))


def _label_requirement(obj: object, path: str) -> LabelRequirement:
    data = mapping_at(obj, path)
    key = string_at(data.get("key"), f"{path}.key", required=True)
    operator = string_at(data.get("operator"), f"{path}.operator", required=True)
    if operator not in LABEL_OPERATORS:
        raise InvalidInputError(
            f"{path}.operator", operator, f"must be one of {sorted(LABEL_OPERATORS)}"
        )
    # A null value is read as "", as the API server decodes it into a Go string.
    values = [
        string_at(value, f"{path}.values[{i}]")
        for i, value in enumerate(list_at(data.get("values"), f"{path}.values"))
    ]
    if operator in {"In", "NotIn"} and not values:
        raise InvalidInputError(f"{path}.values", values, f"must be non-empty for {operator}")
    if operator in {"Exists", "DoesNotExist"} and values:
        raise InvalidInputError(f"{path}.values", values, f"must be empty for {operator}")
    return LabelRequirement(key, operator, frozenset(values))


def _label_keys(
    obj: object, path: str, labels: Mapping[str, str], operator: str
) -> tuple[LabelRequirement, ...]:
    """``matchLabelKeys`` (In) / ``mismatchLabelKeys`` (NotIn) as requirements on the values
    of the pod's own labels; keys the pod does not carry are ignored, as kube does."""
    found: list[LabelRequirement] = []
    for i, key in enumerate(list_at(obj, path)):
        name = string_at(key, f"{path}[{i}]", required=True)
        if name in labels:
            found.append(LabelRequirement(name, operator, frozenset({labels[name]})))
    return tuple(found)


def _affinity_term(
    obj: object, path: str, namespace: str, labels: Mapping[str, str]
) -> PodAffinityTerm:
    data = mapping_at(obj, path)
    topology_key = string_at(data.get("topologyKey"), f"{path}.topologyKey", required=True)
    selector = label_selector(data.get("labelSelector"), f"{path}.labelSelector")
    extra = _label_keys(data.get("matchLabelKeys"), f"{path}.matchLabelKeys", labels, "In")
    extra += _label_keys(
        data.get("mismatchLabelKeys"), f"{path}.mismatchLabelKeys", labels, "NotIn"
    )
    if extra and selector is not None:
        merged = {r.key for r in selector.requirements}
        selector = selector.with_requirements(tuple(r for r in extra if r.key not in merged))
    names = list_at(data.get("namespaces"), f"{path}.namespaces")
    namespaces = frozenset(string_at(n, f"{path}.namespaces[{i}]") for i, n in enumerate(names))
    namespace_selector = label_selector(data.get("namespaceSelector"), f"{path}.namespaceSelector")
    if not namespaces and namespace_selector is None:
        namespaces = frozenset({namespace})
    return PodAffinityTerm(selector, namespaces, namespace_selector, topology_key)


def _weighted_terms(
    obj: object, path: str, namespace: str, labels: Mapping[str, str]
) -> tuple[tuple[int, PodAffinityTerm], ...]:
    found: list[tuple[int, PodAffinityTerm]] = []
    for i, item in enumerate(list_at(obj, path)):
        data = mapping_at(item, f"{path}[{i}]")
        weight = data.get("weight")
        if isinstance(weight, bool) or not isinstance(weight, int) or not 1 <= weight <= 100:
            raise InvalidInputError(
                f"{path}[{i}].weight", weight, "must be an integer from 1 to 100"
            )
        term = _affinity_term(
            data.get("podAffinityTerm"), f"{path}[{i}].podAffinityTerm", namespace, labels
        )
        found.append((weight, term))
    return tuple(found)


_NO_POD_AFFINITY: Final = PodAffinity()


def pod_affinity(spec: Mapping[str, Any], namespace: str, labels: Mapping[str, str]) -> PodAffinity:
    """``spec.affinity.podAffinity`` and ``podAntiAffinity``."""
    affinity = mapping_at(spec.get("affinity"), "spec.affinity")
    if "podAffinity" not in affinity and "podAntiAffinity" not in affinity:
        return _NO_POD_AFFINITY  # most pods (read at every start-up and watch event)
    parts: dict[str, Any] = {}
    for kind, field_prefix in (("podAffinity", ""), ("podAntiAffinity", "_anti")):
        base = f"spec.affinity.{kind}"
        data = mapping_at(affinity.get(kind), base)
        required = "requiredDuringSchedulingIgnoredDuringExecution"
        preferred = "preferredDuringSchedulingIgnoredDuringExecution"
        parts[f"required{field_prefix}"] = tuple(
            _affinity_term(term, f"{base}.{required}[{i}]", namespace, labels)
            for i, term in enumerate(list_at(data.get(required), f"{base}.{required}"))
        )
        parts[f"preferred{field_prefix}"] = _weighted_terms(
            data.get(preferred), f"{base}.{preferred}", namespace, labels
        )
    return PodAffinity(**parts)


def spread_constraints(
    spec: Mapping[str, Any], labels: Mapping[str, str]
) -> tuple[SpreadConstraint, ...]:
    """``spec.topologySpreadConstraints``, checked as kube-apiserver validates them."""
    base = "spec.topologySpreadConstraints"
    found: list[SpreadConstraint] = []
    for i, item in enumerate(list_at(spec.get("topologySpreadConstraints"), base)):
        path = f"{base}[{i}]"
        data = mapping_at(item, path)
        max_skew = int_at(data.get("maxSkew"), f"{path}.maxSkew")
        if max_skew < 1:
            raise InvalidInputError(f"{path}.maxSkew", max_skew, "must be greater than zero")
        topology_key = string_at(data.get("topologyKey"), f"{path}.topologyKey", required=True)
        when = string_at(data.get("whenUnsatisfiable"), f"{path}.whenUnsatisfiable", required=True)
        if when not in {DO_NOT_SCHEDULE, SCHEDULE_ANYWAY}:
            raise InvalidInputError(
                f"{path}.whenUnsatisfiable", when, f"must be {DO_NOT_SCHEDULE} or {SCHEDULE_ANYWAY}"
            )
        min_domains: int | None = None
        if data.get("minDomains") is not None:
            min_domains = int_at(data.get("minDomains"), f"{path}.minDomains")
            if min_domains < 1:
                raise InvalidInputError(
                    f"{path}.minDomains", min_domains, "must be greater than zero"
                )
            if when != DO_NOT_SCHEDULE:
                raise InvalidInputError(
                    f"{path}.minDomains", min_domains, f"needs whenUnsatisfiable {DO_NOT_SCHEDULE}"
                )
        policies = []
        for name, default in (("nodeAffinityPolicy", HONOR), ("nodeTaintsPolicy", IGNORE)):
            policy = string_at(data.get(name), f"{path}.{name}") or default
            if policy not in {HONOR, IGNORE}:
                raise InvalidInputError(f"{path}.{name}", policy, f"must be {HONOR} or {IGNORE}")
            policies.append(policy)
        selector = label_selector(data.get("labelSelector"), f"{path}.labelSelector")
        extra = _label_keys(data.get("matchLabelKeys"), f"{path}.matchLabelKeys", labels, "In")
        if extra and selector is not None:
            selector = selector.with_requirements(extra)
        found.append(
            SpreadConstraint(
                max_skew=max_skew,
                topology_key=topology_key,
                when_unsatisfiable=when,
                selector=selector,
                min_domains=min_domains,
                node_affinity_policy=policies[0],
                node_taints_policy=policies[1],
            )
        )
    return tuple(found)


def container_images(spec: Mapping[str, Any]) -> tuple[str, ...]:
    """The images of the pod's containers and init containers, in order (ImageLocality)."""
    found: list[str] = []
    for group in ("initContainers", "containers"):
        for i, container in enumerate(list_at(spec.get(group), f"spec.{group}")):
            data = mapping_at(container, f"spec.{group}[{i}]")
            image = string_at(data.get("image"), f"spec.{group}[{i}].image")
            if image:
                found.append(image)
    return tuple(found)
