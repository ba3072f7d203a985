"""NetworkFabricScore with real gangs: cliques sized for the whole quorum on the nodes the pod
may use, launchers that bind nobody, and clique-bound gangs that preempt (found by a break-test;
each function's docstring tells the case as it was found)."""

from __future__ import annotations

from kubenexus.api import keys
from kubenexus.api.objects import NodeInfo
from kubenexus.scheduler import Unschedulable
from tests.builders import make_node, make_pod
from tests.core.helpers import place, scheduler
from tests.core.test_network_fabric import gang_pod

GPU = keys.GPU_NVIDIA


def clique_node(name: str, fabric: str, clique: str, *, tainted: bool = False) -> NodeInfo:
    node = (
        make_node(name).alloc(cpu="64", memory="512Gi").extended(GPU, "8")
        .label(keys.FABRIC_TYPE_LABEL, fabric).label(keys.GPU_CLIQUE_LABEL, clique)
    )  # fmt: skip
    if tainted:
        node = node.taint("maintenance", "true")
    return node.obj()


def test_clique_room_ignores_taints_so_a_require_clique_gang_never_starts() -> None:
    """Clique A (NVSwitch, preferred by the fabric score) has four 8-GPU nodes but two are
    tainted NoSchedule: room for two members. Clique B (InfiniBand) has room for all four.
    The first member's room count counts the tainted nodes, so the gang is sent into A, where
    it can never fit; B would take it whole."""
    s = scheduler(
        clique_node("a0", "nvswitch", "A"),
        clique_node("a1", "nvswitch", "A"),
        clique_node("a2", "nvswitch", "A", tainted=True),
        clique_node("a3", "nvswitch", "A", tainted=True),
        *[clique_node(f"b{i}", "infiniband", "B") for i in range(4)],
    )
    gang = [gang_pod(f"w{i}", gpus=8).annotate(keys.REQUIRE_CLIQUE, "true").obj() for i in range(4)]
    placed = place(s, *gang)
    assert sorted(placed.values()) == ["b0", "b1", "b2", "b3"], placed


def test_a_cpu_launcher_sizes_the_clique_for_its_gpu_workers() -> None:
    """An MPIJob-style gang: one CPU-only launcher and four 8-GPU workers, all
    ``require-clique``. The first member planned is the launcher; the clique room is counted
    in copies of *its* shape (cpu only: hundreds per node), so clique A (one 8-GPU node,
    NVSwitch, the better fabric score) is judged roomy for the gang; the workers must then
    follow the launcher into A, where one fits. Clique B (four 8-GPU nodes) would take all."""
    s = scheduler(
        clique_node("a0", "nvswitch", "A"),
        *[clique_node(f"b{i}", "infiniband", "B") for i in range(4)],
    )
    launcher = (
        make_pod("launcher")
        .label(keys.GANG_NAME_LABELS[0], "ddp")
        .label(keys.GANG_MIN_AVAILABLE_KEYS[0], "5")
        .req(cpu="1", memory="1Gi")
        .annotate(keys.REQUIRE_CLIQUE, "true")
        .obj()
    )
    workers = [
        gang_pod(f"w{i}", size=5, gpus=8).annotate(keys.REQUIRE_CLIQUE, "true").obj()
        for i in range(4)
    ]
    placed = place(s, launcher, *workers)
    assert all(node.startswith("b") for node in placed.values()), placed


def test_a_require_clique_gang_can_preempt_like_any_other_gang() -> None:
    """Clique A is full of priority -5 pods (one 8-GPU pod per node). A priority-1000 gang of
    four 8-GPU members preempts them — unless it carries ``require-clique``: then the first
    member's clique-room check reads the nodes' free room as it is (victims not removed), no
    clique has room, and the gang never preempts (it waits forever behind opportunistic
    pods). Without the annotation the same gang preempts."""
    s = scheduler(*[clique_node(f"a{i}", "nvswitch", "A") for i in range(4)])
    for i in range(4):
        s.upsert_pod(
            make_pod(f"low{i}").priority(-5).req(cpu="1").extended(GPU, "8")
            .node(f"a{i}").phase("Running").obj()
        )  # fmt: skip
    for i in range(4):
        s.upsert_pod(
            gang_pod(f"w{i}", gpus=8).priority(1000).annotate(keys.REQUIRE_CLIQUE, "true").obj()
        )
    outcomes = s.run_until_idle()
    preempting = [o for o in outcomes if isinstance(o, Unschedulable) and o.preemption is not None]
    assert preempting, [getattr(o, "message", "") for o in outcomes]


def test_a_launcher_without_require_clique_chains_the_workers_to_its_clique() -> None:
    """The realistic MPIJob spelling: only the workers carry ``require-clique``; the CPU-only
    launcher does not and a CPU node is free. NetworkFabricScore still scores the launcher
    (a gang member) by fabric, so it lands on a0 (clique A, NVSwitch); the workers' filter
    then takes "the clique of the gang's placed or planned members" — the launcher's, though
    it never asked for one — and only one worker fits there: the gang never starts, while
    clique B would hold all four workers."""
    s = scheduler(
        clique_node("a0", "nvswitch", "A"),
        *[clique_node(f"b{i}", "infiniband", "B") for i in range(4)],
        make_node("cpu").alloc(cpu="64", memory="256Gi").obj(),
    )
    launcher = (
        make_pod("launcher").label(keys.GANG_NAME_LABELS[0], "ddp")
        .label(keys.GANG_MIN_AVAILABLE_KEYS[0], "5").req(cpu="1", memory="1Gi").obj()
    )  # fmt: skip
    workers = [
        gang_pod(f"w{i}", size=5, gpus=8).annotate(keys.REQUIRE_CLIQUE, "true").obj()
        for i in range(4)
    ]
    placed = place(s, launcher, *workers)
    assert sorted(placed[w.name] for w in workers) == ["b0", "b1", "b2", "b3"], placed
