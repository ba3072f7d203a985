"""Property tests: the accounting adds up and no node is over-committed, whatever happens."""

from __future__ import annotations

import random
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kubenexus.api.reservation import reservation_from_dict, reservation_to_dict
from kubenexus.plugins.resource_reservation import is_placeholder, placeholder_key
from kubenexus.scheduler import Scheduled, Scheduler
from tests.builders import make_node, make_pod
from tests.core.helpers import scheduler

NODE_NAMES = [f"n{i}" for i in range(4)]

operations = st.lists(
    st.one_of(
        st.tuples(st.just("node"), st.sampled_from(NODE_NAMES), st.integers(1, 8)),
        st.tuples(st.just("drop-node"), st.sampled_from(NODE_NAMES), st.just(0)),
        st.tuples(st.just("pod"), st.integers(0, 30), st.integers(1, 4)),
        st.tuples(st.just("delete"), st.integers(0, 30), st.just(0)),
        st.tuples(st.just("schedule"), st.just(""), st.booleans()),
    ),
    max_size=60,
)


@settings(max_examples=150, deadline=None)
@given(operations)
def test_accounting_matches_placed_pods_and_no_node_is_overcommitted(
    ops: list[tuple[object, ...]],
) -> None:
    s = scheduler()
    for op, arg, value in ops:
        if op == "node":
            s.upsert_node(make_node(str(arg)).alloc(cpu=str(value), memory="8Gi").obj())
        elif op == "drop-node":
            s.remove_node(str(arg))
        elif op == "pod":
            s.upsert_pod(make_pod(f"p{arg}").req(cpu=str(value)).obj())
        elif op == "delete":
            s.remove_pod(f"uid-p{arg}")
        else:
            outcome = s.schedule_one()
            if isinstance(outcome, Scheduled):
                if value:
                    s.binding_succeeded(outcome.pod.key)
                else:
                    s.binding_failed(outcome.pod.key, "conflict")

    nodes = s.cache.nodes
    cpu = nodes.resource_index["cpu"]
    pods_row = nodes.resource_index["pods"]
    for name in nodes.names_in_order():
        slot = nodes.index[name]
        placed = list(s.cache.pods_on(name))
        assert nodes.requested[cpu, slot] == sum(p.requests["cpu"] for p in placed)
        assert nodes.requested[pods_row, slot] == len(placed)
        assert nodes.free[cpu, slot] == nodes.allocatable[cpu, slot] - nodes.requested[cpu, slot]
    for slot in range(nodes.size):
        if not nodes.valid[slot]:
            assert nodes.requested[:, slot].sum() == 0


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.integers(1, 6), min_size=1, max_size=40),
    st.lists(st.integers(1, 8), min_size=1, max_size=6),
)
def test_scheduling_never_overcommits(pod_cpus: list[int], node_cpus: list[int]) -> None:
    s = scheduler(*[make_node(f"n{i}").alloc(cpu=str(c)).obj() for i, c in enumerate(node_cpus)])
    for i, cpu in enumerate(pod_cpus):
        s.upsert_pod(make_pod(f"p{i}").req(cpu=str(cpu)).obj())
    outcomes = s.run_until_idle()
    nodes = s.cache.nodes
    assert (nodes.free[:, : nodes.size] >= 0).all()
    placed = sum(isinstance(o, Scheduled) for o in outcomes)
    assert placed == s.cache.pod_count
    # Capacity only shrank while pods were placed, so every pod that failed still fits nowhere.
    for outcome in outcomes:
        if not isinstance(outcome, Scheduled):
            need = outcome.pod.requests["cpu"]
            assert all(nodes.free[0, slot] < need for slot in range(nodes.size))
            assert "Insufficient cpu" in outcome.message


def _reservation_program(rng: random.Random, length: int) -> list[tuple[str, int, int]]:
    """A random sequence of what happens around reservations: drivers, executors (mostly the
    slot's size, sometimes bigger), other pods, deletions, nodes leaving and coming back,
    time passing (expiry), decisions with some bindings failing."""
    kinds = [
        ("driver", 3),
        ("executor", 5),
        ("schedule", 5),
        ("pod", 2),
        ("delete", 1),
        ("delete-driver", 1),
        ("delete-executor", 1),
        ("drop-node", 1),
        ("node", 1),
        ("later", 1),
        # What the daemon adds: the watch echo of every status write, updates of bound pods,
        # hand-written reservations (and users editing them).
        ("echo", 3),
        ("update", 2),
        ("hand", 1),
    ]
    names, weights = zip(*kinds, strict=True)
    program = []
    for op in rng.choices(names, weights, k=length):
        arg, value = {
            "driver": (rng.randrange(3), rng.randrange(5)),
            "executor": (rng.randrange(3), rng.choice([1, 1, 1, 2, 3])),
            "schedule": (rng.randrange(1, 20), rng.randrange(6)),
            "pod": (rng.randrange(20), rng.randrange(1, 4)),
            "delete": (rng.randrange(20), 0),
            "delete-driver": (rng.randrange(3), 0),
            "delete-executor": (rng.randrange(3), rng.randrange(1, 6)),
            "drop-node": (rng.randrange(len(NODE_NAMES)), 0),
            "node": (rng.randrange(len(NODE_NAMES)), 0),
            "later": (rng.randrange(1, 700), 0),
            "echo": (0, 0),
            "update": (0, 0),
            "hand": (rng.randrange(3), rng.randrange(1 << 12)),
        }[op]
        program.append((op, arg, value))
    return program


@pytest.mark.parametrize("seed", range(150))
def test_reservations_hold_exactly_their_free_slots_and_never_over_commit(seed: int) -> None:
    """Whatever drivers, executors, other pods, deletions, node changes and expiries happen:
    a placeholder exists for every free slot of a holding reservation and for nothing else,
    every claim is by a counted pod, every node's accounting is the sum of what is counted on
    it, and no node is over-committed — checked after every step."""
    now = [1000.0]
    s = scheduler(*[make_node(name).alloc(cpu="8").obj() for name in NODE_NAMES[:3]], clock=now)
    executors: dict[int, int] = {}
    for op, arg, value in _reservation_program(random.Random(seed), 120):
        if op == "node":  # joins or comes back whole (a node that shrinks may over-commit)
            s.upsert_node(make_node(NODE_NAMES[arg]).alloc(cpu="8").obj())
        elif op == "drop-node":
            s.remove_node(NODE_NAMES[arg])
        elif op == "driver":
            s.upsert_pod(
                make_pod(f"d{arg}")
                .req(cpu="1")
                .label("spark-role", "driver")
                .label("spark-app-selector", f"app{arg}")
                .annotate("scheduling.kubenexus.io/executor-count", str(value))
                .annotate("scheduling.kubenexus.io/executor-cpu", "1")
                .obj()
            )
        elif op == "executor":
            index = executors[arg] = executors.get(arg, 0) + 1
            s.upsert_pod(
                make_pod(f"e{arg}-{index}")
                .req(cpu=str(value))
                .label("spark-role", "executor")
                .label("spark-app-selector", f"app{arg}")
                .obj()
            )
        elif op == "pod":
            s.upsert_pod(make_pod(f"p{arg}").req(cpu=str(value)).obj())
        elif op == "delete":
            s.remove_pod(f"uid-p{arg}")
        elif op == "delete-driver":
            s.remove_pod(f"uid-d{arg}")
        elif op == "delete-executor":
            s.remove_pod(f"uid-e{arg}-{value}")
        elif op == "later":
            now[0] += arg
            s.expire_reservations()
        elif op == "echo":
            for key in list(s.reserving.book.held):
                _echo(s, key)
        elif op == "update":
            for name in s.cache.nodes.names_in_order():
                for pod in list(s.cache.pods_on(name)):
                    if not is_placeholder(pod.key) and not s.cache.is_assumed(pod.key):
                        s.upsert_pod(replace(pod, node_name=name))
        elif op == "hand":
            s.upsert_reservation(reservation_from_dict(_hand_written(arg, value)))
        else:
            for decision in range(arg):  # value: which decision's binding fails
                outcome = s.schedule_one()
                if isinstance(outcome, Scheduled):
                    if decision + 1 != value:
                        s.binding_succeeded(outcome.pod.key)
                    else:
                        s.binding_failed(outcome.pod.key, "conflict")
        _check_reservations(s)


def _echo(s: Scheduler, key: str) -> None:
    """The object as the daemon wrote it (spec and status) coming back through the watch."""
    held = s.reserving.book.held.get(key)
    if held is None:
        return
    obj = reservation_to_dict(held.spec, held.spec.driver_uid)
    obj["metadata"]["creationTimestamp"] = "1970-01-01T00:16:40Z"
    obj["status"] = dict(s.reserving.book.status(key))
    s.upsert_reservation(reservation_from_dict(obj))


def _hand_written(app: int, bits: int) -> dict[str, object]:
    """hand-<app>: 1-3 slots of 1-3 cpu on random nodes, for app<app>'s executors."""
    slots = {}
    for index in range(1 + bits % 3):
        node = NODE_NAMES[(bits >> (2 + 3 * index)) % len(NODE_NAMES)]
        slots[f"s{index}"] = {"node": node, "resources": {"cpu": str(1 + (bits >> index) % 3)}}
    return {
        "metadata": {
            "name": f"hand-{app}",
            "namespace": "default",
            "creationTimestamp": "1970-01-01T00:16:40Z",
        },
        "spec": {"podGroupName": f"app{app}", "reservations": slots},
    }


def _check_reservations(s: Scheduler) -> None:
    book = s.reserving.book
    nodes = s.cache.nodes
    expected = set()
    for held in book.held.values():
        for slot in held.slots.values():
            if held.holding and slot.free and slot.spec.node and slot.counted:
                expected.add(placeholder_key(held.key, slot.spec.name))
            elif held.holding and slot.free and slot.spec.node:
                # Waiting for room: only while its node really lacks it.
                index = nodes.slot_of(slot.spec.node)
                cpu_free = 0 if index is None else nodes.free[nodes.resource_index["cpu"], index]
                assert cpu_free < slot.spec.requests["cpu"], f"{slot} waits though room is free"
            else:
                assert not slot.counted
    counted = {
        pod.key
        for name in s.cache.nodes.names_in_order()
        for pod in s.cache.pods_on(name)
        if is_placeholder(pod.key)
    }
    assert counted == expected
    for held in book.held.values():
        for slot in held.slots.values():
            if slot.claimed_by:
                assert slot.claimed_by in s.cache, "a claim by a pod that is not counted"
                assert book.claim_of(slot.claimed_by) == (held, slot)
    nodes = s.cache.nodes
    cpu = nodes.resource_index["cpu"]
    for name in nodes.names_in_order():
        slot_index = nodes.index[name]
        placed = list(s.cache.pods_on(name))
        assert nodes.requested[cpu, slot_index] == sum(p.requests["cpu"] for p in placed)
        assert nodes.requested[cpu, slot_index] <= nodes.allocatable[cpu, slot_index]
