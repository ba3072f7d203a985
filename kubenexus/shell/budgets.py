"""PodDisruptionBudgets (policy/v1), read from an informer and handed to the scheduler, which
prefers preemption victims whose eviction breaks no budget (kube's DefaultPreemption).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

import structlog

from kubenexus.api.fields import int_at, mapping_at
from kubenexus.api.pod_rules import label_selector
from kubenexus.errors import InvalidInputError
from kubenexus.scheduler import Scheduler
from kubenexus.scheduler.preempting import DisruptionBudget
from kubenexus.shell.client import KubeClient
from kubenexus.shell.informer import Informer, InformerSettings, object_name

log = structlog.get_logger(__name__)

PATH: Final = "/apis/policy/v1/poddisruptionbudgets"


def disruption_budget(obj: Mapping[str, Any]) -> DisruptionBudget:
    """A PodDisruptionBudget as preemption reads it: its selector (absent: it covers no pod) and
    ``status.disruptionsAllowed`` (absent: 0, as before the disruption controller's first
    count). Raises InvalidInputError for a malformed one."""
    namespace, name = object_name(obj)
    spec = mapping_at(obj.get("spec"), "spec")
    status = mapping_at(obj.get("status"), "status")
    return DisruptionBudget(
        namespace=namespace,
        name=name,
        selector=label_selector(spec.get("selector"), "spec.selector"),
        disruptions_allowed=int_at(status.get("disruptionsAllowed"), "status.disruptionsAllowed"),
    )


class DisruptionBudgets:
    """The informer of PodDisruptionBudgets, feeding ``scheduler``."""

    def __init__(
        self, client: KubeClient, scheduler: Scheduler, settings: InformerSettings
    ) -> None:
        self.scheduler = scheduler
        self.informer = Informer(
            client,
            PATH,
            on_upsert=self._upsert,
            on_delete=self._delete,
            settings=settings,
            name="poddisruptionbudgets",
        )

    def _upsert(self, obj: Mapping[str, Any]) -> None:
        namespace, name = object_name(obj)
        try:
            budget = disruption_budget(obj)
        except InvalidInputError as exc:
            # The API server validates budgets; one it let through protects nothing (rather
            # than everything: a broken budget must not block preemption cluster-wide).
            log.warning("pdb.invalid", pdb=f"{namespace}/{name}", error=str(exc))
            budget = DisruptionBudget(namespace, name, selector=None, disruptions_allowed=0)
        self.scheduler.set_disruption_budget(budget)

    def _delete(self, obj: Mapping[str, Any]) -> None:
        namespace, name = object_name(obj)
        self.scheduler.remove_disruption_budget(namespace, name)
