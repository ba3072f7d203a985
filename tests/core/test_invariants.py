"""Property tests: the accounting adds up and no node is over-committed, whatever happens."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from kubenexus.scheduler import Scheduled
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
