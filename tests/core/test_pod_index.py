"""The pod index: per-node counts of the pods a selector matches, kept as pods come and go."""

from __future__ import annotations

import random

import numpy as np

from kubenexus.api import pod_from_dict
from kubenexus.api.pod_rules import LabelRequirement, LabelSelector, PodAffinityTerm
from kubenexus.framework.pod_index import MAX_SELECTORS, REQUIRED_ANTI, PodIndex
from kubenexus.scheduler.cache import ClusterCache
from tests.builders import make_node, make_pod


def _selector(**labels: str) -> LabelSelector:
    return LabelSelector().with_requirements(
        tuple(LabelRequirement(k, "In", frozenset({v})) for k, v in labels.items())
    )


def _cache(nodes: int = 3) -> ClusterCache:
    cache = ClusterCache()
    for i in range(nodes):
        cache.upsert_node(make_node(f"n{i}").alloc(cpu="100", pods="100").obj())
    return cache


def test_counts_follow_pods_added_removed_and_relabelled() -> None:
    cache = _cache()
    index = cache.nodes.pods
    web = _selector(app="web")
    cache.upsert_pod(make_pod("w1").label("app", "web").node("n0").obj())
    assert index.matching("default", web)[:3].tolist() == [1, 0, 0]  # built from the pods
    cache.upsert_pod(make_pod("w2").label("app", "web").node("n2").obj())
    cache.upsert_pod(make_pod("d1").label("app", "db").node("n2").obj())
    assert index.matching("default", web)[:3].tolist() == [1, 0, 1]  # kept incrementally
    cache.upsert_pod(make_pod("w2").label("app", "db").node("n2").obj())  # relabelled in place
    assert index.matching("default", web)[:3].tolist() == [1, 0, 0]
    cache.remove_pod("uid-w1")
    assert index.matching("default", web)[:3].tolist() == [0, 0, 0]


def test_namespaces_deleting_pods_and_selectors_without_an_equality() -> None:
    cache = _cache()
    index = cache.nodes.pods
    other = make_pod("x").label("app", "web").node("n1").dict()
    other["metadata"]["namespace"] = "other"
    cache.upsert_pod(pod_from_dict(other))
    going = make_pod("g").label("app", "web").node("n0").dict()
    going["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    cache.upsert_pod(pod_from_dict(going))
    web = _selector(app="web")
    assert index.matching("default", web)[:3].tolist() == [1, 0, 0]
    assert index.matching(None, web)[:3].tolist() == [1, 1, 0]
    assert index.matching(None, web, skip_deleting=True)[:3].tolist() == [0, 1, 0]
    exists = LabelSelector((LabelRequirement("app", "Exists"),))
    everything = LabelSelector()
    assert index.matching(None, exists)[:3].tolist() == [1, 1, 0]
    cache.upsert_pod(make_pod("plain").node("n2").obj())
    assert index.matching(None, everything)[:3].tolist() == [1, 1, 1]
    assert index.matching(None, exists)[:3].tolist() == [1, 1, 0]


def test_node_removal_and_return_recount_its_pods() -> None:
    cache = _cache()
    index = cache.nodes.pods
    web = _selector(app="web")
    cache.upsert_pod(make_pod("w1").label("app", "web").node("n1").obj())
    counts = index.matching("default", web)
    assert counts[1] == 1
    cache.remove_node("n1")
    assert int(index.matching("default", web).sum()) == 0
    cache.upsert_node(make_node("n1").alloc(cpu="100", pods="100").obj())
    slot = cache.nodes.slot_of("n1")
    assert index.matching("default", web)[slot] == 1


def test_carried_terms_are_counted_per_node_and_dropped_with_their_last_carrier() -> None:
    cache = _cache()
    index = cache.nodes.pods
    spec = {
        "podAntiAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": [
                {"labelSelector": {"matchLabels": {"app": "web"}}, "topologyKey": "zone"}
            ]
        }
    }
    for name, node in (("a", "n0"), ("b", "n0"), ("c", "n2")):
        pod = make_pod(name).label("app", "web").node(node).dict()
        pod["spec"]["affinity"] = spec
        cache.upsert_pod(pod_from_dict(pod))
    (carried,) = index.carried_terms()
    assert carried.kind == REQUIRED_ANTI
    assert carried.term.topology_key == "zone"
    assert carried.counts[:3].tolist() == [2, 0, 1]
    for key in ("uid-a", "uid-b", "uid-c"):
        cache.remove_pod(key)
    assert list(index.carried_terms()) == []


def test_namespace_selectors_resolve_from_namespace_labels_and_pods_seen() -> None:
    index = PodIndex(4)
    for namespace, slot in (("team-a", 0), ("team-b", 1), ("unlabelled", 2)):
        pod = make_pod(f"p-{namespace}").label("app", "web").node("x").dict()
        pod["metadata"]["namespace"] = namespace
        index.add(pod_from_dict(pod), slot)
    index.set_namespace("team-a", {"team": "yes"})
    index.set_namespace("team-b", {"team": "yes"})
    term = PodAffinityTerm(
        selector=_selector(app="web"),
        namespaces=frozenset({"unlabelled"}),
        namespace_selector=_selector(team="yes"),
        topology_key="zone",
    )
    assert index.namespaces_of(term) == {"team-a", "team-b", "unlabelled"}
    assert index.term_counts(term).tolist() == [1, 1, 1, 0]
    index.set_namespace("team-b", {"team": "no"})
    assert index.term_counts(term).tolist() == [1, 0, 1, 0]
    everywhere = PodAffinityTerm(_selector(app="web"), frozenset(), LabelSelector(), "zone")
    assert index.namespaces_of(everywhere) is None
    assert index.term_counts(everywhere).tolist() == [1, 1, 1, 0]


def test_random_churn_matches_a_recount_and_survives_eviction() -> None:
    """Whatever the order of adds, removals, relabels, node growth and selector eviction, the
    counts equal a recount from scratch."""
    rng = random.Random(7)
    cache = _cache(2)
    index = cache.nodes.pods
    selectors = [_selector(app=f"a{i}") for i in range(6)] + [
        LabelSelector((LabelRequirement("tier", "NotIn", frozenset({"x"})),)),
        _selector(app="a1", tier="x"),
    ]
    live: set[str] = set()
    nodes = 2
    for step in range(600):
        action = rng.random()
        if action < 0.05:
            cache.upsert_node(make_node(f"n{nodes}").alloc(cpu="100", pods="100").obj())
            nodes += 1
        elif action < 0.6 or not live:
            name = f"p{rng.randrange(60)}"
            builder = make_pod(name).label("app", f"a{rng.randrange(6)}")
            if rng.random() < 0.5:
                builder = builder.label("tier", rng.choice("xy"))
            cache.upsert_pod(builder.node(f"n{rng.randrange(nodes)}").obj())
            live.add(name)
        else:
            name = rng.choice(sorted(live))
            cache.remove_pod(f"uid-{name}")
            live.discard(name)
        if step % 50 == 49:
            index._evict()  # as when too many selectors are registered
        for selector in rng.sample(selectors, 3):
            expected = np.zeros(cache.nodes.size, dtype=np.int32)
            for pod, slot in index.pods():
                if selector.matches(pod.labels):
                    expected[slot] += 1
            got = index.matching("default", selector)[: cache.nodes.size]
            assert got.tolist() == expected.tolist(), f"step {step}"


def test_too_many_selectors_drop_the_least_recently_asked() -> None:
    index = PodIndex(2)
    first = _selector(app="first")
    index.matching("default", first)
    for i in range(MAX_SELECTORS):
        index.matching("default", _selector(app=f"s{i}"))
    assert len(index._selectors) <= MAX_SELECTORS
    assert ("default", first, False) not in index._selectors


def test_carried_terms_for_a_pod_include_every_term_that_selects_it() -> None:
    """The label-indexed lookup returns a superset of the carried terms selecting a pod,
    whatever mix of selectors (equalities, NotIn, Exists, none) the placed pods carry."""
    rng = random.Random(3)
    cache = _cache(4)
    index = cache.nodes.pods
    selectors: list[dict | None] = [
        {"matchLabels": {"app": "a"}},
        {"matchLabels": {"app": "b", "tier": "x"}},
        {"matchExpressions": [{"key": "app", "operator": "NotIn", "values": ["a"]}]},
        {"matchExpressions": [{"key": "tier", "operator": "Exists"}]},
        {},
        None,
    ]
    for i in range(60):
        term: dict = {"topologyKey": "zone"}
        chosen = rng.choice(selectors)
        if chosen is not None:
            term["labelSelector"] = chosen
        body = make_pod(f"c{i}").node(f"n{rng.randrange(4)}").dict()
        body["spec"]["affinity"] = {
            "podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [term]}
        }
        cache.upsert_pod(pod_from_dict(body))
        if rng.random() < 0.3:
            cache.remove_pod(f"uid-c{rng.randrange(i + 1)}")
    for labels in ({"app": "a"}, {"app": "b", "tier": "x"}, {"tier": "y"}, {}, {"app": "c"}):
        found = {id(t) for t in index.carried_terms_for(labels)}
        selecting = [
            t
            for t in index.carried_terms()
            if t.term.selector is not None and t.term.selector.matches(labels)
        ]
        assert all(id(t) in found for t in selecting), labels
