"""ImageLocality: kube-scheduler's image scores (its unit cases, at the current formula: the
1000 MiB ceiling is per container, init containers included)."""

from __future__ import annotations

from typing import Any

from kubenexus.api.objects import node_from_dict, pod_from_dict
from kubenexus.framework import CycleState
from kubenexus.plugins.image_locality import ImageLocality, normalized_image_name
from kubenexus.scheduler.cache import ClusterCache
from tests.builders import make_node, make_pod
from tests.core.helpers import place, scheduler

MB = 1024 * 1024

NODE_40_300_2000 = [
    {"names": ["gcr.io/40:latest", "gcr.io/40:v1", "gcr.io/40:v1"], "sizeBytes": 40 * MB},
    {"names": ["gcr.io/300:latest", "gcr.io/300:v1"], "sizeBytes": 300 * MB},
    {"names": ["gcr.io/2000:latest"], "sizeBytes": 2000 * MB},
]
NODE_250_10 = [
    {"names": ["gcr.io/250:latest"], "sizeBytes": 250 * MB},
    {"names": ["gcr.io/10:latest", "gcr.io/10:v1"], "sizeBytes": 10 * MB},
]


def _node(name: str, images: list[dict[str, Any]]) -> Any:
    body = make_node(name).alloc(cpu="8").dict()
    body["status"]["images"] = images
    return node_from_dict(body)


def _pod(*images: str, init: tuple[str, ...] = ()) -> Any:
    body = make_pod("p").dict()
    body["spec"]["containers"] = [
        {"name": f"c{i}", "image": image} for i, image in enumerate(images)
    ]
    if init:
        body["spec"]["initContainers"] = [
            {"name": f"i{i}", "image": image} for i, image in enumerate(init)
        ]
    return pod_from_dict(body)


def _scores(pod: Any, *nodes: Any) -> list[int]:
    cache = ClusterCache()
    plugin = ImageLocality()
    cache.observers = [plugin]
    for node in nodes:
        cache.upsert_node(node)
    table = cache.nodes
    scores = plugin.score(CycleState(), pod, table, table.all_slots())
    if scores is None:
        return [0] * len(nodes)
    return [int(scores[table.slot_of(n.name)]) for n in nodes]  # type: ignore[index]


def test_two_images_spread_on_two_nodes_prefer_the_larger_one() -> None:
    # 40M/2 < 23M: 0; 250M/2 → 100 * (125M - 23M) / (2000M - 23M) = 5
    nodes = (_node("m1", NODE_40_300_2000), _node("m2", NODE_250_10))
    assert _scores(_pod("gcr.io/40", "gcr.io/250"), *nodes) == [0, 5]


def test_two_images_on_one_node_prefer_it() -> None:
    # (40M + 300M)/2 → 100 * (170M - 23M) / 1977M = 7
    nodes = (_node("m1", NODE_40_300_2000), _node("m2", NODE_250_10))
    assert _scores(_pod("gcr.io/40", "gcr.io/300"), *nodes) == [7, 0]


def test_the_ceiling_is_per_container_and_the_spread_scales_the_size() -> None:
    nodes = (_node("m1", NODE_40_300_2000), _node("m2", NODE_250_10))
    # 2000M/2 = 1000M → 100 * 977 / 1977 = 49; 10M/2 below the floor: 0
    assert _scores(_pod("gcr.io/10", "gcr.io/2000"), *nodes) == [49, 0]
    # A third node without images: 2000M/3 = 666.67M → 32
    assert _scores(_pod("gcr.io/10", "gcr.io/2000"), *nodes, _node("m3", [])) == [32, 0, 0]


def test_init_containers_count_like_containers() -> None:
    nodes = (_node("m1", NODE_40_300_2000), _node("m2", NODE_250_10))
    # Three containers: ceiling 3000M; m1 holds 300M and 2000M, each on half the nodes.
    pod = _pod("gcr.io/300", "gcr.io/2000", init=("gcr.io/10",))
    assert _scores(pod, *nodes) == [100 * (1150 * MB - 23 * MB) // (3000 * MB - 23 * MB), 0]


def test_names_are_matched_as_written_with_latest_for_untagged_ones() -> None:
    assert normalized_image_name("nginx") == "nginx:latest"
    assert normalized_image_name("registry:5000/team/app") == "registry:5000/team/app:latest"
    assert normalized_image_name("app:v1") == "app:v1"
    assert normalized_image_name("app@sha256:abc") == "app@sha256:abc"
    images = [{"names": ["docker.io/library/nginx:latest"], "sizeBytes": 900 * MB}]
    # kube does not expand "nginx" to docker.io/library/nginx either.
    assert _scores(_pod("nginx"), _node("m1", images)) == [0]
    assert _scores(_pod("docker.io/library/nginx"), _node("m1", images)) == [100 * 877 // 977]


def test_a_node_whose_images_change_is_reindexed_and_a_removed_one_forgotten() -> None:
    cache = ClusterCache()
    plugin = ImageLocality()
    cache.observers = [plugin]
    cache.upsert_node(_node("m1", NODE_250_10))
    cache.upsert_node(_node("m2", []))
    pod = _pod("gcr.io/250")
    table = cache.nodes
    first = plugin.score(CycleState(), pod, table, table.all_slots())
    assert first is not None
    assert first.tolist() == [100 * (125 - 23) // 977, 0]
    cache.upsert_node(_node("m1", []))
    cache.upsert_node(_node("m2", NODE_250_10))
    second = plugin.score(CycleState(), pod, table, table.all_slots())
    assert second is not None
    assert second.tolist() == [0, 100 * (125 - 23) // 977]
    cache.remove_node("m2")
    assert plugin.score(CycleState(), pod, table, table.all_slots()) is None


def test_unreadable_image_entries_are_left_out_and_the_node_stays_usable() -> None:
    body = make_node("m1").alloc(cpu="8").dict()
    body["status"]["images"] = [
        "not-a-mapping",
        {"names": "not-a-list", "sizeBytes": 1},
        {"names": ["ok:v1"], "sizeBytes": "big"},
        {"names": ["good:v1", 7], "sizeBytes": 500 * MB},
    ]
    node = node_from_dict(body)
    assert dict(node.images) == {"good:v1": 500 * MB}


def test_the_default_profile_breaks_a_tie_toward_the_node_holding_the_image() -> None:
    big = [{"names": ["registry.example/trainer:v3"], "sizeBytes": 4000 * MB}]
    s = scheduler(
        make_node("cold").alloc(cpu="8", memory="16Gi").obj(),
        _node_with("warm", big),
    )
    body = make_pod("job").req(cpu="1").dict()
    body["spec"]["containers"][0]["image"] = "registry.example/trainer:v3"
    assert place(s, pod_from_dict(body)) == {"job": "warm"}


def _node_with(name: str, images: list[dict[str, Any]]) -> Any:
    body = make_node(name).alloc(cpu="8", memory="16Gi").dict()
    body["status"]["images"] = images
    return node_from_dict(body)
