"""NetworkFabricScore with a driver-led gang whose executors claim reserved slots (found by a
break-test of issue 15; the docstring tells the case as found)."""

from __future__ import annotations

from kubenexus.api import keys
from kubenexus.api.objects import NodeInfo
from tests.builders import make_node
from tests.core.helpers import place, scheduler
from tests.core.test_reservations import driver, executor, status

GPU = keys.GPU_NVIDIA


def clique_node(name: str, fabric: str, clique: str, gpus: int) -> NodeInfo:
    return (
        make_node(name).alloc(cpu="64", memory="512Gi").extended(GPU, str(gpus))
        .label(keys.FABRIC_TYPE_LABEL, fabric).label(keys.GPU_CLIQUE_LABEL, clique).obj()
    )  # fmt: skip


def test_require_clique_executors_can_claim_every_slot_their_driver_reserved() -> None:
    """A driver (gang sp, minMember 5) reserves four 2-GPU executor slots; the executors carry
    ``require-clique``. Clique A has 4 + 2 GPUs, clique B 4 + 4 (room for all four). The
    reservation's slots are chosen without cliques (then: a1 in A; b0, b0, b1 in B); the first
    executor claims a1 and binds the gang to A, the other three can never claim their slots
    in B ("not in the GPU clique of the pod's gang"): 1/4 claimed, the gang stuck, its room
    in B held."""
    s = scheduler(
        clique_node("a0", "nvswitch", "A", 4),
        clique_node("a1", "infiniband", "A", 2),
        clique_node("b0", "nvswitch", "B", 4),
        clique_node("b1", "nvswitch", "B", 4),
    )
    gang = {keys.GANG_NAME_LABELS[0]: "sp", keys.GANG_MIN_AVAILABLE_KEYS[0]: "5"}
    lead = driver("sp", 4, **{"scheduling.kubenexus.io/executor-gpu": "2"})
    for key, value in gang.items():
        lead.label(key, value)
    assert " " not in place(s, lead.obj())["sp-driver"]
    workers = []
    for i in range(4):
        worker = executor("sp", i).extended(GPU, "2").annotate(keys.REQUIRE_CLIQUE, "true")
        for key, value in gang.items():
            worker.label(key, value)
        workers.append(worker.obj())
    placed = place(s, *workers)
    # Every slot is claimed: no deadlock. The slots were placed when the driver was admitted,
    # cliques unseen, so the executors keep their slots' nodes, in two cliques here (a known
    # gap: docs/profiles.md; reservation slots are not planned by clique yet).
    assert status(s, "default/sp-driver")["claims"] == "4/4", placed
    assert len({"a0", "a1"} & set(placed.values())) > 0  # slots in both cliques: none stuck
    assert len({"b0", "b1"} & set(placed.values())) > 0
