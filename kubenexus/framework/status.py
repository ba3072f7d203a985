"""Results of plugin hooks as values (kube-scheduler's Status), and failure diagnoses."""

from __future__ import annotations

import enum
from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt


class Code(enum.Enum):
    SUCCESS = "Success"
    # The pod does not fit now; a cluster change may help.
    UNSCHEDULABLE = "Unschedulable"
    # Nothing but a change to the pod itself can help (e.g. a malformed annotation).
    UNSCHEDULABLE_AND_UNRESOLVABLE = "UnschedulableAndUnresolvable"
    # Permit: hold the pod until the plugin allows or rejects it.
    WAIT = "Wait"
    # A plugin failed; the pod is retried with backoff.
    ERROR = "Error"
    # PreFilter/PreScore: this plugin has nothing to do for this pod; skip its later hooks.
    SKIP = "Skip"


_REJECTIONS = frozenset({Code.UNSCHEDULABLE, Code.UNSCHEDULABLE_AND_UNRESOLVABLE})


@dataclass(frozen=True, slots=True)
class Status:
    code: Code = Code.SUCCESS
    reasons: tuple[str, ...] = ()
    plugin: str = ""

    @property
    def ok(self) -> bool:
        return self.code is Code.SUCCESS

    @property
    def rejected(self) -> bool:
        return self.code in _REJECTIONS

    @property
    def message(self) -> str:
        return ", ".join(self.reasons)

    @classmethod
    def unschedulable(cls, *reasons: str, plugin: str = "") -> Status:
        return cls(Code.UNSCHEDULABLE, reasons, plugin)

    @classmethod
    def unresolvable(cls, *reasons: str, plugin: str = "") -> Status:
        return cls(Code.UNSCHEDULABLE_AND_UNRESOLVABLE, reasons, plugin)

    @classmethod
    def error(cls, *reasons: str, plugin: str = "") -> Status:
        return cls(Code.ERROR, reasons, plugin)


# kube-scheduler's message when the cluster has no node at all (nothing else is said).
NO_NODES = "no nodes available to schedule pods"

SUCCESS = Status()
SKIP = Status(Code.SKIP)


@dataclass(slots=True)
class Diagnosis:
    """Why a pod fits nowhere: a count of nodes per reason, rendered in kube-scheduler's style."""

    total_nodes: int
    reasons: Counter[str] = field(default_factory=Counter)
    # A pre-filter rejection applies to the pod as a whole, not to single nodes.
    pre_filter_message: str = ""
    unresolvable: bool = False
    # The plugins that rejected the pod (on some node, or as a whole): only changes they care
    # about are worth a retry.
    plugins: set[str] = field(default_factory=set)
    # Per node slot, whether its rejection is one no eviction can help (kube's per-node
    # UnschedulableAndUnresolvable); None when the filters did not run (a pre-filter refused).
    hopeless: npt.NDArray[np.bool_] | None = field(default=None, compare=False, repr=False)

    @property
    def message(self) -> str:
        """``0/12 nodes are available: 4 Insufficient cpu, 8 node(s) had untolerated taint {a: b}.``

        Like kube-scheduler, the "count reason" strings are sorted as strings.
        """
        if self.total_nodes == 0:
            return NO_NODES
        if self.pre_filter_message:
            return f"0/{self.total_nodes} nodes are available: {self.pre_filter_message}."
        parts = sorted(f"{count} {reason}" for reason, count in self.reasons.items())
        return f"0/{self.total_nodes} nodes are available: {', '.join(parts)}."
