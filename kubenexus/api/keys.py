"""Every label, annotation and name users meet, in one place.

Where the seeds use two spellings, both are accepted and the first listed is written.
"""

from __future__ import annotations

from typing import Final

SCHEDULER_NAME: Final = "kubenexus-scheduler"
# On objects the scheduler made itself (PodGroups of gangs declared only by pod labels).
MANAGED_BY_LABEL: Final = "app.kubernetes.io/managed-by"
DEFAULT_SCHEDULER_NAME: Final = "default-scheduler"

# Resources kube-scheduler always knows about, in the unit the core counts them.
CPU: Final = "cpu"  # millicores
MEMORY: Final = "memory"  # bytes
EPHEMERAL_STORAGE: Final = "ephemeral-storage"  # bytes
PODS: Final = "pods"  # pod slots
GPU_NVIDIA: Final = "nvidia.com/gpu"

# kube-scheduler counts a container with no cpu/memory request as this much when scoring,
# so that best-effort pods still spread (pkg/scheduler/util: DefaultMilliCPURequest/MemoryRequest).
DEFAULT_SCORE_MILLI_CPU: Final = 100
DEFAULT_SCORE_MEMORY: Final = 200 * 2**20

# A node reporting no pod capacity is given the kubelet's default (--max-pods).
DEFAULT_MAX_PODS: Final = 110

# Taint the node lifecycle controller puts on cordoned nodes; tolerating it admits the pod.
TAINT_UNSCHEDULABLE: Final = "node.kubernetes.io/unschedulable"

# Gang membership (issue: Coscheduling).
GANG_NAME_LABELS: Final = (
    "pod-group.scheduling.kubenexus.io/name",
    "pod-group.scheduling.sigs.k8s.io/name",
    "scheduling.x-k8s.io/pod-group",
)
GANG_MIN_AVAILABLE_KEYS: Final = (
    "pod-group.scheduling.kubenexus.io/min-available",
    "pod-group.scheduling.sigs.k8s.io/min-available",
)

# NUMA placement (issue: NUMATopology).
NUMA_POLICY_KEYS: Final = (
    "scheduling.kubenexus.io/numa-policy",
    "numa.scheduling.kubenexus.io/policy",
)
NUMA_RESOURCES: Final = "numa.scheduling.kubenexus.io/resources"
NUMA_AFFINITY: Final = "scheduling.kubenexus.io/numa-affinity-node-id"
NUMA_ANTI_AFFINITY: Final = "scheduling.kubenexus.io/numa-anti-affinity-node-id"
MEMORY_INTENSIVE: Final = "scheduling.kubenexus.io/memory-intensive"
NUMA_DISTANCE_WEIGHT: Final = "scheduling.kubenexus.io/numa-distance-weight"
GANG_GROUP: Final = "scheduling.kubenexus.io/gang-group"
GANG_NUMA_SPREAD: Final = "scheduling.kubenexus.io/gang-numa-spread"
VRAM_REQUEST: Final = "scheduling.kubenexus.io/vram-request"
CPU_SET: Final = "cpu-set"
# Written by the scheduler on pods it placed by NUMA zone (read back after a restart).
NUMA_ZONES: Final = "numa.kubenexus.io/zones"

# Driver-led applications (issue: ResourceReservation). A driver is admitted only with room held
# for its executors. Roles as the frameworks set them, or ours.
ROLE: Final = "scheduling.kubenexus.io/role"  # "driver" | "executor"
SPARK_ROLE: Final = "spark-role"  # set by Spark on its pods: "driver" | "executor"
SPARK_APP: Final = "spark-app-selector"  # the application's id, on the driver and executors
RAY_NODE_TYPE: Final = "ray.io/node-type"  # "head" | "worker"
RAY_CLUSTER: Final = "ray.io/cluster"
# On a driver: how many executors to hold room for, and each one's requests.
EXECUTOR_COUNT_KEYS: Final = (
    "scheduling.kubenexus.io/executor-count",
    "kubenexus.io/executor-count",
)
EXECUTOR_RESOURCE_KEYS: Final = {
    "cpu": ("scheduling.kubenexus.io/executor-cpu", "kubenexus.io/executor-cpu"),
    "memory": ("scheduling.kubenexus.io/executor-memory", "kubenexus.io/executor-memory"),
    "nvidia.com/gpu": ("scheduling.kubenexus.io/executor-gpu", "kubenexus.io/executor-gpu"),
}
# On a ResourceReservation the scheduler wrote for a driver.
POD_GROUP_LABEL: Final = "scheduling.kubenexus.io/pod-group"

# Labels a Job controller puts on the pods it creates.
JOB_NAME_LABELS: Final = ("batch.kubernetes.io/job-name", "job-name")
