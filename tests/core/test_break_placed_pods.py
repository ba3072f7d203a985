"""Break-test of the slim reading of placed pods (placed_pod_from_dict, commit 3978476): the
daemon reads every placed pod slim, so what the core decides about placed pods (victims of
preemption) must not differ from a full read of the same objects (what the simulator sees)."""

from __future__ import annotations

from typing import Any

from kubenexus.api.objects import PodInfo, placed_pod_from_dict, pod_from_dict
from kubenexus.scheduler import Scheduler, Unschedulable
from tests.builders import make_node, make_pod
from tests.core.helpers import scheduler


def _gang_pod(priority: int) -> PodInfo:
    return (
        make_pod("g-0")
        .req(cpu="2")
        .priority(priority)
        .label("pod-group.scheduling.kubenexus.io/name", "g")
        .label("pod-group.scheduling.kubenexus.io/min-available", "1")
        .obj()
    )


def _victims(s: Scheduler) -> list[str]:
    s.upsert_pod(_gang_pod(1000))
    outcomes = s.run_until_idle()
    [preemption] = [o.preemption for o in outcomes if isinstance(o, Unschedulable) and o.preemption]
    return [v.name for v in preemption.victims]


def _cluster(read: Any) -> Scheduler:
    """a: a firm pod of priority 200; b: a pod of the 'low-priority' class (preemptible by its
    class, reference §10) of priority 300 — both placed, both read as ``read`` reads them."""
    s = scheduler(make_node("a").alloc(cpu="4").obj(), make_node("b").alloc(cpu="4").obj())
    firm = make_pod("firm").req(cpu="3").node("a").phase("Running").priority(200)
    spot = make_pod("spot").req(cpu="3").node("b").phase("Running").priority(300)
    s.upsert_pod(read(firm.dict()))
    s.upsert_pod(read(spot.priority_class("low-priority").dict()))
    return s


def test_a_gang_takes_a_preemptible_class_victim_first_when_read_in_full() -> None:
    assert _victims(_cluster(pod_from_dict)) == ["spot"]


def test_break_a_gang_takes_a_preemptible_class_victim_first_as_the_daemon_reads_it() -> None:
    """Failed before the fix (placed pods keep priorityClassName): the slim read dropped it, so a
    victim preemptible by its class ('low-priority', 'best-effort') or tiered by its class
    (priority_class_tiers) is ranked as firm: the gang evicts the firm pod instead."""
    assert _victims(_cluster(lambda d: placed_pod_from_dict(d, keep_owner=False))) == ["spot"]
