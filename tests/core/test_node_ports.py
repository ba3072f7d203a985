"""NodePorts: host ports as kube-scheduler checks them (same protocol and port conflict unless
both host IPs are specific and differ)."""

from __future__ import annotations

from typing import Any

import pytest

from kubenexus.api.objects import HostPort, pod_from_dict
from tests.builders import make_node, make_pod, no_victims
from tests.core.helpers import place, scheduler


def with_ports(name: str, *ports: dict[str, Any], node: str = "") -> Any:
    builder = make_pod(name).req(cpu="100m")
    if node:
        builder.node(node).phase("Running")
    body = builder.dict()
    body["spec"]["containers"][0]["ports"] = list(ports)
    return pod_from_dict(body)


def port(number: int, protocol: str = "", ip: str = "") -> dict[str, Any]:
    entry: dict[str, Any] = {"containerPort": 80, "hostPort": number}
    if protocol:
        entry["protocol"] = protocol
    if ip:
        entry["hostIP"] = ip
    return entry


@pytest.mark.parametrize(
    ("held", "wanted", "conflict"),
    [
        (port(8080), port(8080), True),
        (port(8080), port(8081), False),
        (port(8080), port(8080, "UDP"), False),
        (port(8080, ip="10.0.0.1"), port(8080, ip="10.0.0.2"), False),
        (port(8080, ip="10.0.0.1"), port(8080, ip="10.0.0.1"), True),
        (port(8080, ip="10.0.0.1"), port(8080), True),  # 0.0.0.0 takes every address
        (port(8080), port(8080, ip="10.0.0.1"), True),
        (port(53, "UDP"), port(53, "UDP", "127.0.0.1"), True),
    ],
)
def test_port_conflicts_as_kube_scheduler(
    held: dict[str, Any], wanted: dict[str, Any], conflict: bool
) -> None:
    s = scheduler(make_node("only").alloc(cpu="4").obj())
    s.upsert_pod(with_ports("running", held, node="only"))
    result = place(s, with_ports("new", wanted))
    if conflict:
        assert result == {
            "new": "0/1 nodes are available: 1 node(s) didn't have free ports for the requested pod ports."
            + no_victims(1)
        }
    else:
        assert result == {"new": "only"}


def test_one_replica_per_node_and_a_freed_port_takes_the_next() -> None:
    now = [1000.0]
    s = scheduler(*[make_node(f"n{i}").alloc(cpu="4").obj() for i in range(3)], clock=now)
    result = place(s, *[with_ports(f"web-{i}", port(443)) for i in range(4)])
    assert sorted(result[f"web-{i}"] for i in range(3)) == ["n0", "n1", "n2"]
    assert "3 node(s) didn't have free ports" in result["web-3"]
    s.remove_pod("uid-web-0")  # its node's port is free again
    now[0] += 30  # past the backoff
    assert place(s) == {"web-3": result["web-0"]}


def test_sidecars_hold_ports_plain_init_containers_do_not() -> None:
    body = make_pod("p").dict()
    body["spec"]["initContainers"] = [
        {"name": "setup", "image": "x", "ports": [{"containerPort": 1, "hostPort": 9000}]},
        {
            "name": "proxy",
            "image": "x",
            "restartPolicy": "Always",
            "ports": [{"containerPort": 2, "hostPort": 9001, "protocol": "UDP"}],
        },
    ]
    assert pod_from_dict(body).host_ports == (HostPort("0.0.0.0", "UDP", 9001),)


@pytest.mark.parametrize(
    ("entry", "field"),
    [
        (port(70000), "spec.containers[0].ports[0].hostPort"),
        (port(80, "ICMP"), "spec.containers[0].ports[0].protocol"),
    ],
)
def test_bad_ports_name_the_field(entry: dict[str, Any], field: str) -> None:
    body = make_pod("p").dict()
    body["spec"]["containers"][0]["ports"] = [entry]
    with pytest.raises(ValueError, match=field.replace("[", r"\[").replace("]", r"\]")):
        pod_from_dict(body)
