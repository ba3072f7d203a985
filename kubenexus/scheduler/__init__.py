"""Stateful but I/O-free: the cache (assume/forget), the queue, and the scheduling loop's core."""

from kubenexus.scheduler.cache import ClusterCache
from kubenexus.scheduler.queue import QueueSettings, SchedulingQueue
from kubenexus.scheduler.scheduler import (
    Outcome,
    Preemption,
    Scheduled,
    Scheduler,
    Unschedulable,
)

__all__ = [
    "ClusterCache",
    "Outcome",
    "Preemption",
    "QueueSettings",
    "Scheduled",
    "Scheduler",
    "SchedulingQueue",
    "Unschedulable",
]
