"""The pods counted on nodes, indexed for rules about other pods (inter-pod affinity, topology
spread): how many pods a selector matches on each node, and which affinity terms the placed
pods carry, kept up to date as pods are counted and uncounted.

A selector is registered the first time a pending pod asks about it (built from the pods that
carry its labels), then kept in step incrementally: a pod's question costs the nodes (one
numpy row), never the number of pods in the cluster. Selectors are indexed by one label they
require, so counting a pod checks only the selectors that could match it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final, TypeVar

import numpy as np
import numpy.typing as npt

from kubenexus.api.objects import PodInfo
from kubenexus.api.pod_rules import LabelSelector, PodAffinityTerm

CountArray = npt.NDArray[np.int32]
# Registered selectors kept at most; beyond it the least recently asked half is dropped (and
# rebuilt from the pods if asked again).
MAX_SELECTORS: Final = 4096

# The kinds of affinity term a placed pod can carry (symmetry: they bind incoming pods).
REQUIRED: Final = "required"
REQUIRED_ANTI: Final = "required_anti"
PREFERRED: Final = "preferred"
PREFERRED_ANTI: Final = "preferred_anti"

_EMPTY_LABELS: Final[Mapping[str, str]] = {}

# (the namespaces, None for every one; selector; whether pods being deleted are left out)
SelectorKey = tuple[frozenset[str] | None, LabelSelector, bool]


@dataclass(slots=True, eq=False)
class _Selector:
    key: SelectorKey
    counts: CountArray
    last_used: int = 0

    def selects(self, pod: PodInfo) -> bool:
        namespaces, selector, skip_deleting = self.key
        return (
            (namespaces is None or pod.namespace in namespaces)
            and not (skip_deleting and pod.deleting)
            and selector.matches(pod.labels)
        )


def _term_label(term: PodAffinityTerm) -> tuple[str, str] | None:
    """One (key, value) a pod must carry for the term to select it, if there is one."""
    if term.selector is None:
        return None
    equality = term.selector.equality_keys()
    return equality[0] if equality else None


def _bucket(namespaces: frozenset[str] | None) -> str | None:
    """The namespace a selector is filed under: its only one, or None (checked on every pod
    of any namespace; ``selects`` then checks the set)."""
    if namespaces is not None and len(namespaces) == 1:
        return next(iter(namespaces))
    return None


@dataclass(frozen=True, slots=True)
class CarriedTerm:
    """An affinity term some placed pods carry: its kind, weight (1 for required terms) and
    how many carriers each node holds."""

    kind: str
    weight: int
    term: PodAffinityTerm
    counts: CountArray


K = TypeVar("K")
_NO_SLOTS: Final[Mapping[int, int]] = MappingProxyType({})


def tally_slot(index: dict[K, dict[int, int]], key: K, slot: int, sign: int) -> None:
    """Count ``sign`` pods of ``key`` on ``slot`` in a key → slot → count index; entries that
    reach zero are dropped, so the index holds only what is counted."""
    by_slot = index.setdefault(key, {})
    left = by_slot.get(slot, 0) + sign
    if left > 0:
        by_slot[slot] = left
    else:
        by_slot.pop(slot, None)
        if not by_slot:
            del index[key]


class PodIndex:
    def __init__(self, capacity: int) -> None:
        self._capacity = capacity
        # key → (pod, slot) of every counted pod.
        self._pods: dict[str, tuple[PodInfo, int]] = {}
        # (namespace, label key, value) → keys of counted pods carrying that label.
        self._by_label: dict[tuple[str, str, str], set[str]] = {}
        self._selectors: dict[SelectorKey, _Selector] = {}
        # Selectors by one (namespace, key, value) they require; the rest by namespace alone
        # (None: they may match pods anywhere and are checked against every pod).
        self._indexed: dict[tuple[str | None, str, str], list[_Selector]] = {}
        self._unindexed: dict[str | None, list[_Selector]] = {}
        self._tick = 0
        self._carried: dict[tuple[str, int, PodAffinityTerm], CarriedTerm] = {}
        self._carried_total: dict[tuple[str, int, PodAffinityTerm], int] = {}
        # Carried terms by one (key, value) their selector requires; the rest (no equality
        # requirement, or no selector) apart: a pod is checked only against terms that can
        # select it.
        self._carried_by_label: dict[tuple[str, str], set[tuple[str, int, PodAffinityTerm]]] = {}
        self._carried_unindexed: set[tuple[str, int, PodAffinityTerm]] = set()
        # Namespace name → its labels (from the Namespace informer; unknown ones: none).
        self.namespace_labels: dict[str, Mapping[str, str]] = {}
        # (namespace, owner kind, owner name) → slot → counted pods of that owner there.
        self._by_owner: dict[tuple[str, str, str], dict[int, int]] = {}
        # gang → slot → counted members there (bound, assumed, planned in a gang plan).
        self._by_gang: dict[str, dict[int, int]] = {}
        # Counted pods per namespace (namespaces seen without a Namespace object count too).
        self._pod_namespaces: dict[str, int] = {}
        # Bumped when the namespaces known or their labels change (namespaceSelector results).
        self._namespace_generation = 0
        self._chosen: dict[tuple[frozenset[str], LabelSelector], tuple[int, frozenset[str]]] = {}
        # Bumped when a carried term appears or goes (plugins cache what they derive from them).
        self.carried_generation = 0

    # ------------------------------------------------------------------ maintenance

    def grow(self, capacity: int) -> None:
        extra = capacity - self._capacity
        pad = np.zeros(extra, dtype=np.int32)
        for selector in self._selectors.values():
            selector.counts = np.concatenate([selector.counts, pad])
        for key, carried in list(self._carried.items()):
            self._carried[key] = CarriedTerm(
                carried.kind, carried.weight, carried.term, np.concatenate([carried.counts, pad])
            )
        self._capacity = capacity

    def add(self, pod: PodInfo, slot: int) -> None:
        if pod.key in self._pods:
            self.remove(pod)
        self._pods[pod.key] = (pod, slot)
        for label, value in pod.labels.items():
            self._by_label.setdefault((pod.namespace, label, value), set()).add(pod.key)
        seen = self._pod_namespaces.get(pod.namespace, 0)
        self._pod_namespaces[pod.namespace] = seen + 1
        if not seen:
            self._namespace_generation += 1
        if pod.owner is not None:
            tally_slot(self._by_owner, (pod.namespace, pod.owner.kind, pod.owner.name), slot, 1)
        if pod.gang:
            tally_slot(self._by_gang, pod.gang, slot, 1)
        self._count(pod, slot, 1)

    def remove(self, pod: PodInfo) -> None:
        found = self._pods.pop(pod.key, None)
        if found is None:
            return
        counted, slot = found
        left = self._pod_namespaces.get(counted.namespace, 0) - 1
        if left > 0:
            self._pod_namespaces[counted.namespace] = left
        else:
            self._pod_namespaces.pop(counted.namespace, None)
            self._namespace_generation += 1
        if counted.owner is not None:
            owner = (counted.namespace, counted.owner.kind, counted.owner.name)
            tally_slot(self._by_owner, owner, slot, -1)
        if counted.gang:
            tally_slot(self._by_gang, counted.gang, slot, -1)
        for label, value in counted.labels.items():
            keys = self._by_label.get((counted.namespace, label, value))
            if keys is not None:
                keys.discard(counted.key)
                if not keys:
                    del self._by_label[(counted.namespace, label, value)]
        self._count(counted, slot, -1)

    def update(self, pod: PodInfo) -> None:
        """The counted pod changed in place (labels, deletion, affinity): count it anew."""
        found = self._pods.get(pod.key)
        if found is None:
            return
        old, slot = found
        if (
            old.labels != pod.labels
            or old.deleting != pod.deleting
            or old.pod_affinity != pod.pod_affinity
            or old.namespace != pod.namespace
            or old.owner != pod.owner
            or old.gang != pod.gang
        ):
            self.remove(old)
            self.add(pod, slot)
        else:
            self._pods[pod.key] = (pod, slot)

    def _count(self, pod: PodInfo, slot: int, sign: int) -> None:
        if self._selectors:
            for selector in self._candidates(pod):
                if selector.selects(pod):
                    selector.counts[slot] += sign
        if pod.pod_affinity:
            self._carry(pod, slot, sign)

    def _candidates(self, pod: PodInfo) -> Iterable[_Selector]:
        for namespace in (pod.namespace, None):
            yield from self._unindexed.get(namespace, ())
            for label, value in pod.labels.items():
                yield from self._indexed.get((namespace, label, value), ())

    def _carry(self, pod: PodInfo, slot: int, sign: int) -> None:
        affinity = pod.pod_affinity
        assert affinity is not None
        terms: list[tuple[str, int, PodAffinityTerm]] = [
            *((REQUIRED, 1, t) for t in affinity.required),
            *((REQUIRED_ANTI, 1, t) for t in affinity.required_anti),
            *((PREFERRED, w, t) for w, t in affinity.preferred),
            *((PREFERRED_ANTI, w, t) for w, t in affinity.preferred_anti),
        ]
        for key in terms:
            carried = self._carried.get(key)
            if carried is None:
                if sign < 0:
                    continue
                carried = CarriedTerm(*key, np.zeros(self._capacity, dtype=np.int32))
                self._carried[key] = carried
                self._carried_bucket(key).add(key)
                self.carried_generation += 1
            carried.counts[slot] += sign
            total = self._carried_total.get(key, 0) + sign
            if total <= 0:
                del self._carried[key]
                self._carried_total.pop(key, None)
                bucket = self._carried_bucket(key)
                bucket.discard(key)
                label = _term_label(key[2])
                if not bucket and label is not None:
                    del self._carried_by_label[label]
                self.carried_generation += 1
            else:
                self._carried_total[key] = total

    def _carried_bucket(
        self, key: tuple[str, int, PodAffinityTerm]
    ) -> set[tuple[str, int, PodAffinityTerm]]:
        label = _term_label(key[2])
        if label is None:
            return self._carried_unindexed
        return self._carried_by_label.setdefault(label, set())

    # ------------------------------------------------------------------ namespaces

    def set_namespace(self, name: str, labels: Mapping[str, str] | None) -> bool:
        """A Namespace's labels (None: it is gone); whether they changed."""
        if self.namespace_labels.get(name) == labels:
            return False
        if labels is None:
            self.namespace_labels.pop(name, None)
        else:
            self.namespace_labels[name] = labels
        self._namespace_generation += 1
        return True

    def labels_of_namespace(self, name: str) -> Mapping[str, str]:
        return self.namespace_labels.get(name, _EMPTY_LABELS)

    def namespaces_of(self, term: PodAffinityTerm) -> frozenset[str] | None:
        """The namespaces a term selects pods in (None: every namespace). Resolving a
        namespaceSelector is remembered until a namespace appears, goes or is relabelled."""
        if term.all_namespaces:
            return None
        if term.namespace_selector is None:
            return term.namespaces
        key = (term.namespaces, term.namespace_selector)
        found = self._chosen.get(key)
        if found is not None and found[0] == self._namespace_generation:
            return found[1]
        known = self.namespace_labels.keys() | self._pod_namespaces.keys()
        chosen = term.namespaces | {
            n for n in known if term.namespace_selector.matches(self.labels_of_namespace(n))
        }
        if len(self._chosen) >= MAX_SELECTORS:
            self._chosen.clear()
        self._chosen[key] = (self._namespace_generation, chosen)
        return chosen

    # ------------------------------------------------------------------ questions

    @property
    def pod_count(self) -> int:
        return len(self._pods)

    def owned_by(self, namespace: str, kind: str, name: str) -> Mapping[int, int]:
        """Slot → how many counted pods of this owner are there (read-only)."""
        return self._by_owner.get((namespace, kind, name), _NO_SLOTS)

    def gang_slots(self, gang: str) -> Mapping[int, int]:
        """Slot → how many counted members of the gang are there (read-only)."""
        return self._by_gang.get(gang, _NO_SLOTS)

    def pods(self) -> Iterable[tuple[PodInfo, int]]:
        """Every counted pod and its slot."""
        return self._pods.values()

    def matching(
        self, namespace: str | None, selector: LabelSelector, *, skip_deleting: bool = False
    ) -> CountArray:
        """Per node slot, how many counted pods in ``namespace`` (None: any) the selector
        matches. Read-only: the index keeps updating it."""
        namespaces = None if namespace is None else frozenset({namespace})
        return self.matching_in(namespaces, selector, skip_deleting=skip_deleting)

    def matching_in(
        self,
        namespaces: frozenset[str] | None,
        selector: LabelSelector,
        *,
        skip_deleting: bool = False,
    ) -> CountArray:
        """As ``matching``, for pods in any of ``namespaces`` (None: every namespace): one
        registered selector for the set, whatever its size."""
        key: SelectorKey = (namespaces, selector, skip_deleting)
        self._tick += 1
        found = self._selectors.get(key)
        if found is None:
            found = self._register(key)
        found.last_used = self._tick
        return found.counts

    def term_counts(self, term: PodAffinityTerm, *, skip_deleting: bool = False) -> CountArray:
        """Per node slot, how many counted pods the term selects (read-only)."""
        if term.selector is None:
            return np.zeros(self._capacity, dtype=np.int32)
        namespaces = self.namespaces_of(term)
        return self.matching_in(namespaces, term.selector, skip_deleting=skip_deleting)

    @property
    def carries_terms(self) -> bool:
        """Whether any placed pod carries an affinity term."""
        return bool(self._carried)

    def carried_terms_for(self, labels: Mapping[str, str]) -> Iterable[CarriedTerm]:
        """The carried terms that may select a pod with these labels (a superset: the
        caller still checks each term's selector and namespaces)."""
        for key in self._carried_unindexed:
            yield self._carried[key]
        for label in labels.items():
            for key in self._carried_by_label.get(label, ()):
                yield self._carried[key]

    def carried_terms(self) -> Iterable[CarriedTerm]:
        """The affinity terms placed pods carry, each once, with their carriers per node."""
        return self._carried.values()

    def _register(self, key: SelectorKey) -> _Selector:
        if len(self._selectors) >= MAX_SELECTORS:
            self._evict()
        namespaces, selector, _ = key
        counts = np.zeros(self._capacity, dtype=np.int32)
        entry = _Selector(key, counts)
        equality = selector.equality_keys()
        candidates: Iterable[str]
        if equality and namespaces is not None:
            label, value = equality[0]
            candidates = [
                pod_key
                for namespace in namespaces
                for pod_key in self._by_label.get((namespace, label, value), ())
            ]
        else:
            candidates = self._pods
        for pod_key in candidates:
            pod, slot = self._pods[pod_key]
            if entry.selects(pod):
                counts[slot] += 1
        self._file(entry)
        self._selectors[key] = entry
        return entry

    def _file(self, entry: _Selector) -> None:
        namespaces, selector, _ = entry.key
        bucket = _bucket(namespaces)
        equality = selector.equality_keys()
        if equality:
            label, value = equality[0]
            self._indexed.setdefault((bucket, label, value), []).append(entry)
        else:
            self._unindexed.setdefault(bucket, []).append(entry)

    def _evict(self) -> None:
        ranked = sorted(self._selectors.values(), key=lambda s: s.last_used)
        for entry in ranked[: len(ranked) // 2]:
            del self._selectors[entry.key]
        self._indexed = {}
        self._unindexed = {}
        for entry in self._selectors.values():
            self._file(entry)
