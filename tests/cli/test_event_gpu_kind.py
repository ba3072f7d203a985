"""The Scheduled Event's detail names the kind of GPU the pod was given (docs/explain.md)."""

from __future__ import annotations

from pathlib import Path

from kubenexus.scheduler.explaining import placement_detail
from kubenexus.simulator import simulate

MIXED = """\
apiVersion: v1
kind: Node
metadata: {name: mixed}
status: {allocatable: {cpu: "16", memory: 64Gi, pods: "110", nvidia.com/gpu: "2"}}
---
apiVersion: resource.k8s.io/v1
kind: ResourceSlice
metadata: {name: mixed-gpu.nvidia.com}
spec:
  driver: gpu.nvidia.com
  nodeName: mixed
  pool: {name: mixed, generation: 1, resourceSliceCount: 1}
  devices:
  - name: gpu-0
    attributes:
      type: {string: gpu}
      productName: {string: NVIDIA A100-SXM4-80GB}
    capacity:
      memory: {value: 81920Mi}
  - name: gpu-1
    attributes:
      type: {string: gpu}
      productName: {string: Tesla T4}
    capacity:
      memory: {value: 15360Mi}
---
apiVersion: v1
kind: Pod
metadata:
  name: llm
  namespace: default
  annotations: {scheduling.kubenexus.io/vram-request: 40Gi}
spec:
  containers:
  - name: c
    resources: {limits: {nvidia.com/gpu: "1"}}
"""


def test_the_scheduled_detail_names_the_kind_of_gpu_chosen_not_every_kind_on_the_node(
    tmp_path: Path,
) -> None:
    """A node with one A100-80GB and one T4; a pod asking 1 GPU with 40Gi of VRAM can only
    have the A100: the detail names the kinds that can hold its demand, not the T4."""
    path = tmp_path / "mixed.yaml"
    path.write_text(MIXED)
    result = simulate(path)
    (row,) = result.pods
    assert (row.status, row.node) == ("Scheduled", "mixed"), row
    assert result.scheduler is not None
    pod = next(e for e in result.scheduler.cache.pods_on("mixed"))
    detail = placement_detail(pod, row.annotations, result.scheduler.cache.node_info("mixed"))
    assert "T4" not in detail, detail
