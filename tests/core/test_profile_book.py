"""The ProfileBook computes a profile once per pod: through status-only updates, namespace
relabels and namespace churn (found by a break-test; the docstrings tell the case as found)."""

from __future__ import annotations

import dataclasses

import pytest

from kubenexus.api import keys
from kubenexus.framework import profiles as profiles_module
from tests.builders import make_node, make_pod
from tests.core.helpers import place, scheduler


@pytest.fixture
def classify_calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    calls: list[str] = []
    real = profiles_module.classify  # type: ignore[attr-defined]

    def counting(pod, labels, settings):  # type: ignore[no-untyped-def]
        calls.append(pod.key)
        return real(pod, labels, settings)

    monkeypatch.setattr(profiles_module, "classify", counting)
    return calls


def test_an_unchanged_pod_update_defeats_the_kept_profile(classify_calls: list[str]) -> None:
    """The daemon sees an update for every unschedulable pod (our own PodScheduled condition).
    ``upsert_pod`` keeps the profile of the *new* PodInfo, but the queue keeps the *old* one
    when both are equal (``entry.pod == pod``), and ``ProfileBook.of`` checks identity: from
    then on every read by every plugin classifies the waiting pod again."""
    s = scheduler(make_node("n").alloc(cpu="1").obj())
    pod = make_pod("big").req(cpu="4").obj()  # fits nowhere: stays queued
    place(s, pod)
    s.upsert_pod(dataclasses.replace(pod))  # an equal copy, as a status-only update gives
    queued = s.queue.entry(pod.key)
    assert queued is not None
    classify_calls.clear()
    for _ in range(3):
        s.cache.nodes.profiles.of(queued.pod)
    assert classify_calls == []


def test_after_a_namespace_relabel_waiting_pods_are_classified_on_every_read(
    classify_calls: list[str],
) -> None:
    """docs/profiles.md: relabelled namespace → profiles "computed again on their next read".
    ``of`` computes but never keeps the new profile, so each later read (5-6 plugins per
    attempt, every attempt) classifies the pod again until the pod itself changes."""
    s = scheduler(make_node("n").alloc(cpu="1").obj())
    s.set_namespace("ml", {keys.TENANT_TIER: "silver"})
    pod = make_pod("big").namespace("ml").req(cpu="4").obj()
    place(s, pod)
    s.set_namespace("ml", {keys.TENANT_TIER: "gold"})
    book = s.cache.nodes.profiles
    assert book.of(pod).tier == "gold"
    classify_calls.clear()
    for _ in range(3):
        book.of(pod)
    assert classify_calls == []


def test_deleted_namespaces_leave_nothing_behind_in_the_profile_book() -> None:
    """``namespace_changed`` adds a generation per namespace and nothing ever removes it: a
    cluster that creates and deletes namespaces (CI, per-PR previews) grows the ProfileBook
    by one entry per namespace ever seen, for the daemon's lifetime."""
    s = scheduler(make_node("n").alloc(cpu="1").obj())
    for i in range(1000):
        s.set_namespace(f"pr-{i}", {keys.TENANT_TIER: "bronze"})
        s.set_namespace(f"pr-{i}", None)
    generations = s.cache.nodes.profiles._generations
    assert len(generations) < 1000
