"""The loop closes: discovery describes a host, the scheduler places a single-numa-node
Guaranteed pod there and writes its zone and cpu-set, and the hook, fed that pod's OCI state,
pins the container to exactly those CPUs and that zone's memory node."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from kubenexus.api import node_from_dict, pod_from_dict
from kubenexus.api.keys import CPU_SET, NUMA_ZONES
from kubenexus.node.discover import desired_annotations, desired_labels, discover
from kubenexus.node.hook import run
from kubenexus.scheduler import Scheduled
from tests.builders import make_node, make_pod
from tests.core.helpers import scheduler
from tests.node.hosts import FakeSysfs, cgroup_tree, oci_state

GIB = 2**30


@pytest.mark.parametrize(("version", "driver"), [(2, "systemd"), (1, "cgroupfs")])
def test_scheduler_and_hook_pin_a_guaranteed_pod_to_one_zone(
    tmp_path: Path, version: int, driver: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # Two zones, SMT: zone 0 = CPUs 0-3,8-11 on node 0, zone 1 = CPUs 4-7,12-15 on node 1.
    sysfs = (
        FakeSysfs(tmp_path)
        .node(0, "0-3,8-11", 16 * GIB)
        .node(1, "4-7,12-15", 16 * GIB)
        .smt(2)
        .build()
    )
    found = discover(str(sysfs), nvidia_smi=None)
    node = make_node("worker-1").alloc(cpu="16", memory="32Gi")
    for key, value in desired_labels(found).items():
        node.label(key, value)
    node_dict = node.dict()
    node_dict["metadata"]["annotations"] = desired_annotations(found)
    s = scheduler(node_from_dict(node_dict))

    # Zone 0 is half taken by a pinned pod already running there: the new pod fits only zone 1.
    running = (
        make_pod("running")
        .req(cpu="6", memory="2Gi")
        .annotate("scheduling.kubenexus.io/numa-policy", "single-numa-node")
        .node("worker-1")
    )
    running.annotate(NUMA_ZONES, "0").annotate(CPU_SET, "0-3,8-9")
    s.upsert_pod(running.obj())
    guaranteed = (
        make_pod("trainer")
        .req(cpu="4", memory="8Gi")
        .annotate("scheduling.kubenexus.io/numa-policy", "single-numa-node")
    )
    body = guaranteed.dict()
    resources = body["spec"]["containers"][0]["resources"]
    resources["limits"] = dict(resources["requests"])  # requests == limits: Guaranteed
    s.upsert_pod(pod_from_dict(body))
    outcomes = [o for o in s.run_until_idle() if isinstance(o, Scheduled)]
    assert [(o.pod.name, o.node) for o in outcomes] == [("trainer", "worker-1")]
    annotations = outcomes[0].placement.annotations
    assert annotations[NUMA_ZONES] == "1"
    assert annotations[CPU_SET] == "4-7"

    # The runtime starts the container: containerd passes the pod's annotations into the spec.
    cgroup, path, leaf = cgroup_tree(
        tmp_path, version, driver, pod_uid="trainer_uid", container="c1"
    )
    state = oci_state(
        tmp_path, {**annotations, "io.kubernetes.cri.container-type": "container"}, path
    )
    code = run(["--cgroup-root", str(cgroup), "--sysfs-root", str(sysfs)], io.StringIO(state))
    assert (code, capsys.readouterr().err) == (0, "")
    assert (leaf / "cpuset.cpus").read_text() == "4-7"
    assert (leaf / "cpuset.mems").read_text() == "1"
