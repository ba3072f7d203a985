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
ZONE_LABEL: Final = "topology.kubernetes.io/zone"
# Written on each pod placed when the daemon runs with --score-annotation (off by default): the
# chosen node and the best others, each plugin's score (as kube-scheduler-simulator's results).
SCORE_BREAKDOWN: Final = "scheduling.kubenexus.io/score-breakdown"

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

# GPUs (issue: one GPU model, VRAMScheduler). See kubenexus/api/gpu.py for how each is read.
# Pod annotations: VRAM per GPU (VRAM_REQUEST above), accepted products, model size (informational).
GPU_PRODUCTS: Final = "scheduling.kubenexus.io/gpu-products"  # "H100,A100-80GB"
MODEL_SIZE: Final = "scheduling.kubenexus.io/model-size"
# NVIDIA GPU Feature Discovery node labels (memory in MiB).
GFD_PRODUCT: Final = "nvidia.com/gpu.product"
GFD_MEMORY: Final = "nvidia.com/gpu.memory"
GFD_COUNT: Final = "nvidia.com/gpu.count"
GFD_CLIQUE: Final = "nvidia.com/gpu.clique"
# Node Feature Discovery, in the original's spelling:
# feature.node.kubernetes.io/pci-<vendor>.device.<device>.present|.count, and the NUMA count.
NFD_PREFIX: Final = "feature.node.kubernetes.io/"
NFD_MEMORY_NUMA: Final = "feature.node.kubernetes.io/memory-numa"
NFD_MEMORY_NUMA_COUNT: Final = "feature.node.kubernetes.io/memory-numa.node_count"
# Labels an administrator writes by hand; GPU_NUMA_LABEL is the zone of GPU K (also read by the
# NUMA model in api/topology.py).
GPU_MODEL_LABEL: Final = "gpu.kubenexus.io/model"
GPU_VRAM_LABEL: Final = "gpu.kubenexus.io/vram"
GPU_COUNT_LABEL: Final = "gpu.kubenexus.io/count"
GPU_NUMA_LABEL: Final = "gpu.kubenexus.io/gpu{index}-numa"
# DRA ResourceSlice device attributes and capacities read for a GPU, each list in the order tried:
# seed 002's bare names first, then what drivers publish, read from their sources:
# - NVIDIA, driver gpu.nvidia.com (kubernetes-sigs/dra-driver-nvidia-gpu, formerly
#   NVIDIA/k8s-dra-driver-gpu, cmd/gpu-kubelet-plugin/deviceinfo.go): type "gpu"|"mig"|"vfio",
#   uuid, productName, brand, architecture, cudaComputeCapability, driverVersion, capacity memory
#   (bytes; absent when NVML gives none); the PCI address as pcieBusID in v25.8 and as the
#   standard pciBusID from v25.12; NUMA as the standard numaNode only on main after v25.12 (v25.12
#   has "numa" on VFIO devices only). No NVLink or clique attribute on GPUs (the clique is the
#   nvidia.com/gpu.clique node label).
# - AMD, driver gpu.amd.com (ROCm/k8s-gpu-dra-driver, cmd/gpu-kubeletplugin/deviceinfo.go):
#   type "amdgpu"|"amdgpu-partition", productName, family, deviceID, pciAddr, capacity memory.
# - Intel, driver gpu.intel.com (intel/intel-resource-drivers-for-kubernetes,
#   cmd/kubelet-gpu-plugin/node_state.go): type "gpu"|"vf", model, family, pciId, pciAddress
#   (deprecated), capacity memory.
# - Standard names (k8s.io/dynamic-resource-allocation/deviceattribute):
#   resource.kubernetes.io/pcieRoot, .../pciBusID, .../numaNode (an int, or with the alpha
#   DRAListTypeAttributes gate a list, the device's own node first).
# A name without a domain belongs to the slice's driver, so it is also looked up qualified by it
# ("productName" and "gpu.nvidia.com/productName" are one attribute in a gpu.nvidia.com slice).
DRA_STANDARD_PREFIX: Final = "resource.kubernetes.io/"
DRA_TYPE: Final = ("type",)
DRA_PRODUCT: Final = ("productName", "model")
DRA_UUID: Final = ("uuid",)
DRA_MEMORY_CAPACITY: Final = ("memory", "gpu.memory", "vram", "nvidia.com/memory")
DRA_MEMORY_ATTRIBUTE: Final = ("vram", "memory")
DRA_NUMA: Final = ("numa-node", "resource.kubernetes.io/numaNode", "numaNode", "numa")
DRA_NVLINK_DOMAIN: Final = ("nvlink-domain",)
DRA_NVLINK_PEERS: Final = ("nvlink-peers",)
DRA_PCI_BUS_ID: Final = (
    "pcie-bus-id",
    "resource.kubernetes.io/pciBusID",
    "pcieBusID",
    "pciBusID",
    "pciAddr",
    "pciAddress",
)
DRA_PCIE_SWITCH: Final = ("pcie-switch",)
DRA_PCIE_ROOT: Final = ("resource.kubernetes.io/pcieRoot", "pcieRoot")

# GPU islands (ResourceFragmentationScore), node labels.
GPU_TOPOLOGY_LABEL: Final = "gpu.kubenexus.io/topology"  # nvswitch | nvlink | pcie | other
GPU_PRISTINE_LABEL: Final = "gpu.kubenexus.io/is-pristine"  # "true": pristine; other: not
RESERVED_TIER_LABEL: Final = "tenant.kubenexus.io/reserved-tier"  # gold|silver|bronze|none|""

# Workload profiles (api/profile.py: WHO the tenant is, WHAT the workload is).
TENANT_TIER: Final = "tenant.kubenexus.io/tier"  # namespace label; pod annotation (not label)
TENANT_NAME: Final = "tenant.kubenexus.io/name"  # namespace label
KUEUE_QUEUE: Final = "kueue.x-k8s.io/queue-name"  # pod label
WORKLOAD_TYPE: Final = "workload.kubenexus.io/type"  # pod label, else annotation
PREEMPTIBLE_LABEL: Final = "workload.kubenexus.io/preemptible"  # "true" | anything else
BACKFILL_LABEL: Final = "scheduling.kubenexus.io/backfill"  # "true": backfill (preemptible)
# priorityClassName → tier, as the original's ProfileClassifier maps it (configurable).
PRIORITY_CLASS_TIERS: Final = {
    "high-priority": "gold",
    "system-cluster-critical": "gold",
    "system-node-critical": "gold",
    "medium-priority": "silver",
    "default-priority": "silver",
    "low-priority": "bronze",
    "best-effort": "bronze",
}
PREEMPTIBLE_CLASSES: Final = frozenset({"low-priority", "best-effort"})
# Pod labels that mark a batch pod (a framework's worker; the original's list, the Spark
# operator's real ``spark-app-selector`` and Kubeflow's current training labels).
BATCH_LABELS: Final = (
    "spark-role",
    "spark-app-id",
    "spark-app-selector",
    "tf-replica-type",
    "pytorch-replica-type",
    "mpi-job-role",
    "ray.io/node-type",
    "kubeflow.org/component",
    "batch.kubernetes.io/job-name",
    "training.kubeflow.org/job-name",
    "training.kubeflow.org/replica-type",
    "jobset.sigs.k8s.io/jobset-name",
    "trainer.kubeflow.org/trainjob-ancestor-step",
    # Workflow engines: Argo Workflows (and Kubeflow Pipelines on it), Tekton, Volcano.
    "workflows.argoproj.io/workflow",
    "tekton.dev/taskRun",
    "volcano.sh/job-name",
)
# Owners whose pods run to completion.
BATCH_OWNERS: Final = frozenset({"Job", "CronJob", "Workflow", "TaskRun", "PipelineRun"})
# Among batch pods, training ones: Kubeflow's training operators (PyTorchJob, TFJob, MPIJob,
# XGBoostJob… all label ``training.kubeflow.org/job-name``), Trainer v2, the original's keys.
TRAINING_LABELS: Final = (
    "training.kubeflow.org/job-name",
    "training.kubeflow.org/replica-type",
    "pytorch.org/job-name",
    "tensorflow.org/job-name",
    "tf-replica-type",
    "pytorch-replica-type",
    "trainer.kubeflow.org/trainjob-ancestor-step",
)
# Among service pods, inference ones: KServe, Kubeflow serving, Seldon.
INFERENCE_LABELS: Final = (
    "serving.kserve.io/inferenceservice",
    "serving.kubeflow.org/inferenceservice",
    "seldon.io/deployment",
    "seldon-deployment-id",
)
COMPONENT_LABELS: Final = ("app.kubernetes.io/component", "component")
INFERENCE_COMPONENTS: Final = frozenset({"predictor", "inference", "serving"})
# KubeRay marks what created a pod; a RayService serves, a RayJob or RayCluster computes.
RAY_ORIGIN_LABEL: Final = "ray.io/originated-from-crd"
# Interactive pods (notebooks, IDEs): any of these labels, JupyterHub's single-user servers,
# app.kubernetes.io/name among the names, a word of it among the words, or an IDE image.
INTERACTIVE_LABELS: Final = (
    "app.jupyter.org/hub-version",
    "app.rstudio.com/rstudio-server",
    "hub.jupyter.org/username",
    "notebook-name",
)
INTERACTIVE_COMPONENTS: Final = frozenset({"singleuser-server"})
APP_NAME_LABEL: Final = "app.kubernetes.io/name"
# (Not "jupyterhub": z2jh names every pod of the chart so, the hub and proxy included.)
INTERACTIVE_APP_NAMES: Final = frozenset(
    {"jupyter", "jupyterlab", "rstudio", "code-server", "vscode"}
)
INTERACTIVE_APP_WORDS: Final = frozenset({"ide", "repl", "lab", "notebook", "notebooks"})
# Words of an image's repository path (registry host and tag left out).
INTERACTIVE_IMAGE_WORDS: Final = frozenset({"jupyter", "rstudio", "vscode", "nteract"})
INTERACTIVE_IMAGE_PHRASES: Final = ("code-server",)

# Hardware tiers (TenantHardwareAffinityScore): node label, premium | standard | economy.
HARDWARE_TIER_LABEL: Final = "hardware.kubenexus.io/tier"

# Network fabric (NetworkFabricScore): node labels and pod annotations.
FABRIC_TYPE_LABEL: Final = "network.kubenexus.io/fabric-type"
FABRIC_ID_LABEL: Final = "network.kubenexus.io/fabric-id"
RACK_LABEL: Final = "network.kubenexus.io/rack-id"
AZ_LABEL: Final = "network.kubenexus.io/az"
GPU_CLIQUE_LABEL: Final = "nvidia.com/gpu.clique"
REQUIRE_CLIQUE: Final = "scheduling.kubenexus.io/require-clique"
CO_LOCATE: Final = "scheduling.kubenexus.io/co-locate"  # strict | preferred | none
NETWORK_SENSITIVE: Final = "scheduling.kubenexus.io/network-sensitive"
MIN_FABRIC_TIER: Final = "scheduling.kubenexus.io/min-fabric-tier"
