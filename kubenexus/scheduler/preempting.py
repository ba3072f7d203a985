"""Preemption as kube-scheduler's DefaultPreemption decides it: when a pod fits nowhere, find a
node where evicting pods of lower priority makes it fit, with the fewest and least important
victims, and keep that room for it (its nomination) until it is bound.

Decision only: the shell evicts the victims (a ``DisruptionTarget`` condition, then deletion)
and writes the nomination; the victims leave the cache when their deletion is seen.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from kubenexus.api.objects import PodInfo
from kubenexus.api.pod_rules import LabelSelector


@dataclass(frozen=True, slots=True)
class DisruptionBudget:
    """A PodDisruptionBudget as preemption reads it: which pods it covers, how many of them may
    be disrupted now (``status.disruptionsAllowed``)."""

    namespace: str
    name: str
    selector: LabelSelector | None  # None: covers no pod
    disruptions_allowed: int

    def covers(self, pod: PodInfo) -> bool:
        return (
            self.selector is not None
            and pod.namespace == self.namespace
            and bool(self.selector.requirements)  # an empty selector covers no pod (policy/v1)
            and self.selector.matches(pod.labels)
        )


@dataclass(slots=True)
class Budgets:
    """The PodDisruptionBudgets of the cluster, fed by the shell."""

    by_key: dict[str, DisruptionBudget] = field(default_factory=dict)

    def set(self, budget: DisruptionBudget) -> None:
        self.by_key[f"{budget.namespace}/{budget.name}"] = budget

    def remove(self, namespace: str, name: str) -> None:
        self.by_key.pop(f"{namespace}/{name}", None)

    def violating(self, victims: list[PodInfo]) -> tuple[list[PodInfo], list[PodInfo]]:
        """Split ``victims`` (in eviction order) into those whose eviction would break a budget
        and the rest, spending each budget's allowance as kube does."""
        allowed = {key: budget.disruptions_allowed for key, budget in self.by_key.items()}
        breaking: list[PodInfo] = []
        keeping: list[PodInfo] = []
        for victim in victims:
            broken = False
            for key, budget in self.by_key.items() if victim.labels else ():
                if not budget.covers(victim):
                    continue
                allowed[key] -= 1
                if allowed[key] < 0:
                    broken = True
            (breaking if broken else keeping).append(victim)
        return breaking, keeping
