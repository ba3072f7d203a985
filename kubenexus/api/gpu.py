"""The one GPU model of the scheduler: each node's GPUs as devices, and what a pod asks of them.

Every GPU-aware part of the scheduler reads the same per-node device list, built here from the
first of these sources that yields devices:

1. DRA ``ResourceSlice`` objects (``resource.k8s.io/v1``; ``v1beta1``'s ``basic`` wrapper is
   read too) whose ``spec.nodeName`` (or, with ``perDeviceNodeSelection``, a device's
   ``nodeName``) is the node and whose driver looks like a GPU driver. Whole GPUs only: a device
   whose ``type`` attribute names something else (``mig``, ``vfio``, ``amdgpu-partition``, a
   ComputeDomain ``channel``) is not one; a device with no ``type``, no product and no memory is
   not a GPU either. Only the newest generation of each pool is read.
2. NVIDIA GPU Feature Discovery labels (``nvidia.com/gpu.count|product|memory`` in MiB
   ``|clique``).
3. Node Feature Discovery PCI labels in the original's spelling
   (``feature.node.kubernetes.io/pci-<vendor>.device.<id>.present|.count``) with a device-id
   table, each device id counted once; NUMA zones guessed from ``…/memory-numa*`` as the original
   did (GPU i of n on zone i × zones ÷ n, only when n ≥ zones).
4. Labels written by hand: ``gpu.kubenexus.io/model|vram|count``; an explicit ``vram`` wins over
   the model table.

``gpu.kubenexus.io/gpuK-numa`` gives the NUMA zone of GPU K of a label source (the key the NUMA
model reads too). A node with mixed GPUs keeps one entry per device (never a minimum). When
several sources are present and disagree on count, memory or product, ``NodeGpus.disagreements``
says so in sentences naming the keys; the first source still wins. Problems inside the winning
source that do not stop it (a GPU publishing no memory) are ``NodeGpus.warnings``.

Malformed input raises ``InvalidInputError`` naming the label key or the ResourceSlice field
(``ResourceSlice <name>.spec.devices[i].attributes[model]``); the caller reports it and treats the
node as having no GPU data. Nothing here does I/O or scheduling.

Pod demand (``gpu_demand``): the ``nvidia.com/gpu`` request, VRAM per GPU from
``scheduling.kubenexus.io/vram-request`` (a quantity), accepted products from
``scheduling.kubenexus.io/gpu-products`` (``"H100,A100-80GB"``) and the informational
``scheduling.kubenexus.io/model-size``.

Memory is what the source says: GPU Feature Discovery and DRA drivers report what the driver
sees (an H100 80GB HBM3 reports 81559 MiB, 79.6 GiB), the NFD and model tables the marketed size
(80 GiB). ``family`` ("H100-80GB") is the same for both.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any, Final

from kubenexus.api import keys
from kubenexus.api.fields import list_at as _list
from kubenexus.api.fields import mapping_at as _mapping
from kubenexus.api.quantity import format_amount, whole_value
from kubenexus.errors import InvalidInputError

GIB: Final = 2**30
MIB: Final = 2**20
# More memory than any GPU has (a mistyped value, not a card): refused, naming the key.
MAX_GPU_MEMORY: Final = 2**50

SOURCE_SLICES: Final = "ResourceSlice"
SOURCE_GFD: Final = "gpu-feature-discovery"
SOURCE_NFD: Final = "nfd"
SOURCE_LABELS: Final = "labels"

# --------------------------------------------------------------------------- the model


@dataclass(frozen=True, slots=True)
class GpuDevice:
    """One whole GPU of a node.

    ``product`` is the name as the source publishes it, spaces turned into dashes
    ("NVIDIA-H100-80GB-HBM3"); ``family`` the canonical model and memory size used for matching
    ("H100-80GB"). ``memory`` is in bytes, 0 when unknown."""

    name: str
    product: str
    family: str
    memory: int
    vendor: str = ""  # "nvidia" | "amd" | "intel" | ""
    numa: int | None = None
    nvlink_domain: str | None = None  # NVLink domain, or the GFD clique
    nvlink_peers: tuple[str, ...] = ()
    pcie_switch: str | None = None
    pcie_root: str | None = None
    pci_bus_id: str | None = None
    uuid: str | None = None
    driver: str = ""  # the DRA driver; "" for label sources
    pool: str = ""  # the DRA pool; "" for label sources


@dataclass(frozen=True, slots=True)
class NodeGpus:
    """A node's GPUs, one entry per device, and where they were read from."""

    devices: tuple[GpuDevice, ...]
    source: str  # "ResourceSlice" | "gpu-feature-discovery" | "nfd" | "labels"
    disagreements: tuple[str, ...] = ()  # other sources that say otherwise
    warnings: tuple[str, ...] = ()  # problems within the source that won

    @property
    def count(self) -> int:
        return len(self.devices)


@dataclass(frozen=True, slots=True)
class GpuDemand:
    """What a pod asks of GPUs: ``count`` GPUs (``nvidia.com/gpu``), each with at least ``vram``
    bytes (0: no requirement), of one of ``products`` (empty: any)."""

    count: int = 0
    vram: int = 0
    products: tuple[str, ...] = ()
    model_size: str = ""  # informational only

    def accepts(self, device: GpuDevice) -> bool:
        """Whether the device is one of the accepted products (always, when none are named).

        An entry matches whole words: the start of the family ("H100" and "H100-80GB" match
        family "H100-80GB") or a run of words in the product ("NVIDIA-H100" matches
        "NVIDIA-H100-80GB-HBM3"). Case does not matter; "L40" does not match an L40S."""
        if not self.products:
            return True
        family = _words(device.family)
        product = _words(device.product)
        for entry in self.products:
            wanted = _words(entry)
            if family[: len(wanted)] == wanted or _contains(product, wanted):
                return True
        return False


# --------------------------------------------------------------------------- model table


@dataclass(frozen=True, slots=True)
class _Model:
    name: str
    vendor: str
    sizes: tuple[int, ...]  # marketed memory sizes in GiB; the first is the default


def _models(vendor: str, table: Mapping[str, tuple[int, ...]]) -> dict[str, _Model]:
    return {name: _Model(name, vendor, sizes) for name, sizes in table.items()}


# The original's manual model table (H100 80, H200 141, A100 40 / -80GB 80, L40S 48, L40 48,
# L4 24, A40 48, A30 24, T4 16, V100 32 / -16GB 16, RTX8000 48, RTX6000 24, MI300 192), matched
# by whole words rather than substrings (an "L40S" is not an "L4"), plus the models of the
# device-id table below.
_MODELS: Final = {
    **_models(
        "nvidia",
        {
            "B200": (180, 192),
            "GH200": (96, 144),
            "H200": (141,),
            "H100": (80, 94),
            "H800": (80,),
            "A100": (40, 80),
            "A800": (80, 40),
            "A40": (48,),
            "A30": (24,),
            "A16": (16,),
            "A10G": (24,),
            "A10": (24,),
            "A2": (16,),
            "L40S": (48,),
            "L40": (48,),
            "L4": (24,),
            "T4": (16,),
            "V100S": (32,),
            "V100": (32, 16),
            "P100": (16, 12),
            "RTX-8000": (48,),
            "RTX-6000": (24,),
            "RTX-6000-ADA": (48,),
            "RTX-A6000": (48,),
            "RTX-3090": (24,),
            "RTX-3080": (10, 12),
        },
    ),
    **_models(
        "amd",
        {
            "MI325X": (256,),
            "MI300X": (192,),
            "MI300A": (128,),
            "MI300": (192,),
            "MI250X": (64, 128),
            "MI250": (64, 128),
            "MI210": (64,),
            "MI100": (32,),
        },
    ),
    **_models("intel", {"MAX-1550": (128,), "MAX-1100": (48,), "FLEX-170": (16,)}),
}
_BOUNDARY: Final = r"(?<![A-Z0-9])"
_END: Final = r"(?![A-Z0-9])"
_NVIDIA_MODEL: Final = re.compile(
    _BOUNDARY + r"(B200|GH200|H200|H100|H800|A100|A800|A40|A30|A16|A10G|A10|A2|L40S|L40|L4|T4"
    r"|V100S|V100|P100)" + _END
)
_RTX_MODEL: Final = re.compile(_BOUNDARY + r"RTX-?(A?\d{4})(-ADA)?" + _END)
_AMD_MODEL: Final = re.compile(_BOUNDARY + r"(MI\d{3}[A-Z]?)" + _END)
_INTEL_MODEL: Final = re.compile(_BOUNDARY + r"(MAX|FLEX)-?(\d{3,4})" + _END)
_SIZE_WORD: Final = re.compile(_BOUNDARY + r"(\d{1,4})GB" + _END)
_VENDOR_WORDS: Final = {
    "NVIDIA": "nvidia",
    "TESLA": "nvidia",
    "QUADRO": "nvidia",
    "GEFORCE": "nvidia",
    "AMD": "amd",
    "INSTINCT": "amd",
    "RADEON": "amd",
    "INTEL": "intel",
}
# A known model's memory is named by its nearest marketed size when within this ratio.
_SIZE_TOLERANCE: Final = 0.15

# NFD PCI device ids → (product, GiB). The original's table, checked against pci.ids (Debian's
# pci.ids 0.0~2023.04.11, newer ids against public lspci output): where the original was wrong
# the entry is corrected and says so. Memory is per PCI device (an MI250X shows two, 64 GiB each).
_PCI_GPUS: Final[Mapping[tuple[str, str], tuple[str, int]]] = {
    ("10de", "2330"): ("H100-SXM5-80GB", 80),
    ("10de", "2331"): ("H100-PCIe", 80),
    ("10de", "2335"): ("H200-SXM-141GB", 141),  # the original put H200 on 2322
    ("10de", "2322"): ("H800-PCIe", 80),  # the original said H200, 141 GiB
    ("10de", "20b0"): ("A100-SXM4-40GB", 40),
    ("10de", "20b1"): ("A100-PCIe-40GB", 40),
    ("10de", "20f1"): ("A100-PCIe-40GB", 40),
    ("10de", "20b2"): ("A100-SXM4-80GB", 80),
    ("10de", "20b5"): ("A100-PCIe-80GB", 80),
    ("10de", "26b9"): ("L40S", 48),
    ("10de", "26b5"): ("L40", 48),  # the original's comment said L40S
    ("10de", "26b1"): ("RTX-6000-Ada", 48),  # the original's comment said L40
    ("10de", "27b8"): ("L4", 24),
    ("10de", "2235"): ("A40", 48),
    ("10de", "2236"): ("A10", 24),
    ("10de", "2237"): ("A10G", 24),
    ("10de", "20b7"): ("A30-PCIe", 24),
    ("10de", "1eb8"): ("Tesla-T4", 16),
    ("10de", "1db1"): ("Tesla-V100-SXM2-16GB", 16),
    ("10de", "1db4"): ("Tesla-V100-PCIe-16GB", 16),
    ("10de", "1db5"): ("Tesla-V100-SXM2-32GB", 32),
    ("10de", "1db6"): ("Tesla-V100-PCIe-32GB", 32),
    ("10de", "1df6"): ("Tesla-V100S-PCIe-32GB", 32),
    ("10de", "2230"): ("RTX-A6000", 48),
    ("10de", "2204"): ("GeForce-RTX-3090", 24),  # the original said RTX 6000 Ada, 48 GiB
    ("10de", "2206"): ("GeForce-RTX-3080", 10),  # the original said RTX 5000 Ada, 48 GiB
    ("1002", "74a1"): ("Instinct-MI300X", 192),
    ("1002", "740f"): ("Instinct-MI210", 64),  # the original said 32 GiB
    ("1002", "740c"): ("Instinct-MI250X", 64),  # MI250X/MI250: two devices of 64 GiB each
    ("1002", "7408"): ("Instinct-MI250X", 64),  # the original said 32 GiB
    ("1002", "738c"): ("Instinct-MI100", 32),
    ("8086", "0bd5"): ("Data-Center-GPU-Max-1550", 128),  # the original said 48 GiB
    ("8086", "0bd6"): ("Data-Center-GPU-Max-1550", 128),
    ("8086", "0bda"): ("Data-Center-GPU-Max-1100", 48),
    ("8086", "56c0"): ("Data-Center-GPU-Flex-170", 16),
}
_PCI_VENDORS: Final = {"10de": "nvidia", "1002": "amd", "8086": "intel"}
_NFD_PCI: Final = re.compile(
    r"^feature\.node\.kubernetes\.io/pci-([0-9a-fA-F]{4})\.device\.([0-9a-fA-F]{4})"
    r"\.(present|count)$"
)
_NFD_NUMA_NODE: Final = re.compile(r"^feature\.node\.kubernetes\.io/memory-numa\.node(\d+)$")
_GPU_NUMA: Final = re.compile(r"^gpu\.kubenexus\.io/gpu(\d+)-numa$")
_PRODUCT_ENTRY: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._ -]*$")


def pci_gpu(vendor: str, device: str) -> tuple[str, str, int] | None:
    """(product, vendor, memory in bytes) of a PCI vendor/device id (``10de``, ``2330``) in the
    device-id table; None for an id it does not hold. Node discovery reads sysfs with it."""
    ident = (vendor.lower().removeprefix("0x"), device.lower().removeprefix("0x"))
    if ident not in _PCI_GPUS:
        return None
    product, gib = _PCI_GPUS[ident]
    return product, _PCI_VENDORS[ident[0]], gib * GIB


def pci_vendor(vendor: str) -> str:
    """ "nvidia", "amd" or "intel" for a GPU vendor's PCI id (``10de``); "" for any other."""
    return _PCI_VENDORS.get(vendor.lower().removeprefix("0x"), "")


def _text(product: str) -> str:
    """Upper-case words joined by dashes: "NVIDIA H100 80GB HBM3" → "NVIDIA-H100-80GB-HBM3"."""
    return "-".join(_words(product))


def _words(text: str) -> list[str]:
    return [word for word in re.split(r"[^A-Z0-9.]+", text.upper()) if word]


def _contains(words: list[str], run: list[str]) -> bool:
    return any(words[i : i + len(run)] == run for i in range(len(words) - len(run) + 1))


def normalize_product(product: str) -> str:
    """A product name as GPU Feature Discovery writes it: trimmed, whitespace runs → "-"."""
    return re.sub(r"\s+", "-", product.strip())


def _model(text: str) -> _Model | None:
    """The known model a product names (``text`` as ``_text`` gives it), if any."""
    for pattern in (_NVIDIA_MODEL, _AMD_MODEL):
        match = pattern.search(text)
        if match:
            return _MODELS.get(match[1])
    match = _RTX_MODEL.search(text)
    if match:
        name = f"RTX-{match[1]}{match[2] or ''}"
        return _MODELS.get(name) or _Model(name, "nvidia", ())
    match = _INTEL_MODEL.search(text)
    if match:
        name = f"{match[1]}-{match[2]}"
        return _MODELS.get(name) or _Model(name, "intel", ())
    return None


def _vendor(text: str, model: _Model | None) -> str:
    if model is not None:
        return model.vendor
    for word in text.split("-"):
        if word in _VENDOR_WORDS:
            return _VENDOR_WORDS[word]
    return ""


def _size_gib(model: _Model, text: str, memory: int) -> int | None:
    if memory > 0:
        gib = memory / GIB
        nearest = min(model.sizes, key=lambda size: abs(gib - size), default=None)
        if nearest is not None and abs(gib - nearest) <= _SIZE_TOLERANCE * nearest:
            return nearest
        return round(gib) or None
    match = _SIZE_WORD.search(text)
    return int(match[1]) if match else None


def gpu_family(product: str, memory: int = 0) -> str:
    """The canonical name products are matched on: model and marketed memory size.

    "NVIDIA-H100-80GB-HBM3" with 81559 MiB → "H100-80GB"; "Tesla-T4" with 15 GiB → "T4-16GB";
    "NVIDIA-A100-SXM4-40GB-MIG-1g.5gb" → "A100-MIG-1G.5GB". An unknown product keeps its own
    words without the vendor ("NVIDIA GeForce GTX 1080" → "GEFORCE-GTX-1080")."""
    text = _text(product)
    text = re.sub(r"-SHARED$", "", text)
    text, mig, profile = text.partition("-MIG-")
    model = _model(text)
    if model is None:
        words = text.split("-")
        while len(words) > 1 and words[0] in {"NVIDIA", "AMD", "INTEL"}:
            words = words[1:]
        base = "-".join(words)
        return f"{base}{mig}{profile}"
    if mig:
        return f"{model.name}{mig}{profile}"
    size = _size_gib(model, text, memory)
    return f"{model.name}-{size}GB" if size else model.name


def model_memory(product: str) -> int:
    """Memory in bytes the model table gives a product: its size word when it is one of the
    model's sizes ("A100-80GB" → 80 GiB), else the model's default ("A100" → 40 GiB); 0 when the
    model is unknown."""
    text = _text(product)
    model = _model(text)
    if model is None or not model.sizes:
        return 0
    match = _SIZE_WORD.search(text)
    if match and int(match[1]) in model.sizes:
        return int(match[1]) * GIB
    return model.sizes[0] * GIB


def _device(name: str, product: str, memory: int, vendor: str = "", **topology: Any) -> GpuDevice:
    product = normalize_product(product)
    text = _text(product)
    return GpuDevice(
        name=name,
        product=product,
        family=gpu_family(product, memory) if product else "",
        memory=memory,
        vendor=vendor or _vendor(text, _model(text)),
        **topology,
    )


def _model_name(device: GpuDevice) -> str:
    """The model part of a device's family ("H100"), "" when the product is unknown."""
    model = _model(_text(device.product))
    return model.name if model else (device.family or "")


# --------------------------------------------------------------------------- sources


@dataclass(frozen=True, slots=True)
class _Reading:
    """What one source says, with the phrases that name its keys in a disagreement."""

    source: str
    devices: tuple[GpuDevice, ...]
    warnings: tuple[str, ...]
    count_says: str
    memory_says: str
    product_says: str


# --------------------------------------------------------------------------- ResourceSlices


def _is_gpu_driver(driver: str) -> bool:
    """gpu.nvidia.com, gpu.amd.com, gpu.intel.com, gpu.example.com, *accelerator*; not
    compute-domain.nvidia.com's channels (their devices are typed, and not GPUs)."""
    for label in driver.lower().split("."):
        if "gpu" in label or "accelerator" in label or label in {"nvidia", "amd"}:
            return True
    return False


_GPU_TYPES: Final = frozenset({"gpu", "amdgpu"})
_UNION: Final = ("int", "bool", "string", "version", "ints", "bools", "strings", "versions")


class _Device:
    """One device of a slice while it is read: its attributes and capacity, with paths."""

    def __init__(self, slice_name: str, driver: str, index: int, data: Mapping[str, Any]) -> None:
        self.path = f"ResourceSlice {slice_name}.spec.devices[{index}]"
        self.driver = driver
        basic = data.get("basic")  # resource.k8s.io/v1beta1 wraps them in "basic"
        body = _mapping(basic, f"{self.path}.basic") if basic is not None else data
        self.attributes = _mapping(body.get("attributes"), f"{self.path}.attributes")
        self.capacity = _mapping(body.get("capacity"), f"{self.path}.capacity")

    def _find(self, table: Mapping[str, Any], names: Iterable[str]) -> tuple[str, Any] | None:
        for name in names:
            for key in (name, f"{self.driver}/{name}") if "/" not in name else (name,):
                if key in table:
                    return key, table[key]
        return None

    def attribute(self, names: Iterable[str]) -> tuple[str, object] | None:
        """(path, value) of the first attribute present, the typed union unwrapped."""
        found = self._find(self.attributes, names)
        if found is None:
            return None
        key, raw = found
        path = f"{self.path}.attributes[{key}]"
        if isinstance(raw, Mapping):
            members = [m for m in _UNION if m in raw]
            if len(members) != 1 or len(raw) != 1:
                raise InvalidInputError(
                    path, dict(raw), "expected exactly one of int, bool, string, version"
                )
            value = raw[members[0]]
            # the list types of DRAListTypeAttributes (alpha in 1.36): {ints: [0, 1]}
            if members[0].endswith("s") and (not isinstance(value, list) or not value):
                raise InvalidInputError(path, dict(raw), "expected a non-empty list")
            return path, value
        return path, raw

    def capacity_value(self, names: Iterable[str]) -> tuple[str, object] | None:
        found = self._find(self.capacity, names)
        if found is None:
            return None
        key, raw = found
        path = f"{self.path}.capacity[{key}]"
        if isinstance(raw, Mapping):
            if "value" not in raw:
                raise InvalidInputError(path, dict(raw), "expected {value: <quantity>}")
            return f"{path}.value", raw["value"]
        return path, raw

    def string(self, names: Iterable[str]) -> str | None:
        found = self.attribute(names)
        if found is None:
            return None
        path, value = found
        if isinstance(value, list):
            if not value:
                raise InvalidInputError(path, value, "expected a string")
            value = value[0]
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise InvalidInputError(path, value, "expected a string")
        return str(value).strip() or None

    def numa(self) -> int | None:
        """The NUMA node; a list (DRAListTypeAttributes) starts with the device's own node;
        -1 (no affinity, as sysfs writes it) is none."""
        found = self.attribute(keys.DRA_NUMA)
        if found is None:
            return None
        path, value = found
        if isinstance(value, list):
            if not value:
                raise InvalidInputError(path, value, "expected a NUMA node number")
            value = value[0]
        if isinstance(value, bool) or not isinstance(value, int | str):
            raise InvalidInputError(path, value, "expected a NUMA node number")
        try:
            zone = int(value)
        except ValueError:
            raise InvalidInputError(path, value, "expected a NUMA node number") from None
        if zone < -1:
            raise InvalidInputError(path, value, "must not be negative")
        return zone if zone >= 0 else None

    def strings(self, names: Iterable[str]) -> tuple[str, ...]:
        found = self.attribute(names)
        if found is None:
            return ()
        path, value = found
        items = value if isinstance(value, list) else str(value).split(",")
        if isinstance(value, bool) or not all(isinstance(v, str | int) for v in items):
            raise InvalidInputError(path, value, "expected a comma-separated list of names")
        return tuple(s for s in (str(v).strip() for v in items) if s)

    def memory(self) -> int | None:
        found = self.capacity_value(keys.DRA_MEMORY_CAPACITY)
        if found is None:
            found = self.attribute(keys.DRA_MEMORY_ATTRIBUTE)
        if found is None:
            return None
        path, value = found
        amount = whole_value(value, path)
        if amount < 0:
            raise InvalidInputError(path, value, "must not be negative")
        if amount > MAX_GPU_MEMORY:
            raise InvalidInputError(path, value, "is more than any GPU has")
        return amount


@dataclass(frozen=True, slots=True)
class _Slice:
    name: str
    driver: str
    pool: str
    generation: int
    devices: tuple[tuple[int, Mapping[str, Any]], ...]  # (index in spec.devices, device)


def _node_slices(node_name: str, slices: Iterable[Mapping[str, Any]]) -> list[_Slice]:
    """The GPU driver slices with devices on the node, newest pool generation only."""
    found: list[_Slice] = []
    for i, obj in enumerate(slices):
        if not isinstance(obj, Mapping):
            raise InvalidInputError(f"ResourceSlice[{i}]", obj, "expected a mapping")
        meta = _mapping(obj.get("metadata"), f"ResourceSlice[{i}].metadata")
        raw_name = meta.get("name")
        name = raw_name if isinstance(raw_name, str) and raw_name else f"[{i}]"
        spec = _mapping(obj.get("spec"), f"ResourceSlice {name}.spec")
        per_device = spec.get("perDeviceNodeSelection") is True
        if spec.get("nodeName") != node_name and not per_device:
            continue
        driver = spec.get("driver")
        if not isinstance(driver, str) or not driver:
            raise InvalidInputError(f"ResourceSlice {name}.spec.driver", driver, "is required")
        if not _is_gpu_driver(driver):
            continue
        devices = []
        for j, device in enumerate(
            _list(spec.get("devices"), f"ResourceSlice {name}.spec.devices")
        ):
            data = _mapping(device, f"ResourceSlice {name}.spec.devices[{j}]")
            if per_device and data.get("nodeName") != node_name:
                continue
            devices.append((j, data))
        pool = _mapping(spec.get("pool"), f"ResourceSlice {name}.spec.pool")
        generation = pool.get("generation", 0)
        if isinstance(generation, bool) or not isinstance(generation, int):
            raise InvalidInputError(
                f"ResourceSlice {name}.spec.pool.generation", generation, "expected an integer"
            )
        raw_pool = pool.get("name")
        pool_name = raw_pool if isinstance(raw_pool, str) and raw_pool else name
        found.append(_Slice(name, driver, pool_name, generation, tuple(devices)))
    newest: dict[tuple[str, str], int] = {}
    for s in found:
        newest[(s.driver, s.pool)] = max(newest.get((s.driver, s.pool), s.generation), s.generation)
    kept = [s for s in found if s.generation == newest[(s.driver, s.pool)] and s.devices]
    return sorted(kept, key=lambda s: (s.driver, s.pool, s.name))


def _read_slices(node_name: str, slices: Iterable[Mapping[str, Any]]) -> _Reading | None:
    devices: list[GpuDevice] = []
    warnings: list[str] = []
    names: list[str] = []
    for s in _node_slices(node_name, slices):
        for index, data in s.devices:
            device = _Device(s.name, s.driver, index, data)
            name = data.get("name")
            if not isinstance(name, str) or not name:
                raise InvalidInputError(f"{device.path}.name", name, "is required")
            kind = device.string(keys.DRA_TYPE)
            if kind is not None and kind.lower() not in _GPU_TYPES:
                continue  # a MIG slice, a VFIO function, a partition, a channel: not a whole GPU
            product = device.string(keys.DRA_PRODUCT) or ""
            memory = device.memory()
            if kind is None and not product and memory is None:
                continue  # nothing says it is a GPU
            if not memory:
                said = "no memory capacity" if memory is None else "a memory capacity of 0"
                warnings.append(f"{device.path} ({name}) publishes {said}: its memory is unknown")
            driver_vendor = next(
                (v for v in s.driver.lower().split(".") if v in {"nvidia", "amd", "intel"}), ""
            )
            devices.append(
                _device(
                    name,
                    product,
                    memory or 0,
                    driver_vendor,
                    numa=device.numa(),
                    nvlink_domain=device.string(keys.DRA_NVLINK_DOMAIN),
                    nvlink_peers=device.strings(keys.DRA_NVLINK_PEERS),
                    pcie_switch=device.string(keys.DRA_PCIE_SWITCH),
                    pcie_root=device.string(keys.DRA_PCIE_ROOT),
                    pci_bus_id=device.string(keys.DRA_PCI_BUS_ID),
                    uuid=device.string(keys.DRA_UUID),
                    driver=s.driver,
                    pool=s.pool,
                )
            )
            if s.name not in names:
                names.append(s.name)
    if not devices:
        return None
    who = f"ResourceSlice {', '.join(names)}"
    return _Reading(
        SOURCE_SLICES,
        tuple(devices),
        tuple(warnings),
        count_says=f"{who} lists {len(devices)} devices",
        memory_says=f"{who} lists {_memories(devices)}",
        product_says=f"{who} lists {_products(devices)}",
    )


def gpus_from_slices(node_name: str, slices: Iterable[Mapping[str, Any]]) -> NodeGpus | None:
    """The node's GPUs as DRA ResourceSlices (``resource.k8s.io/v1`` dicts) describe them; None
    when no slice lists a GPU on the node.

    Attributes are read in seed 002's bare spelling (``model``, ``vram``, ``numa-node``,
    ``nvlink-domain``, ``nvlink-peers``, ``pcie-bus-id``, ``pcie-switch``) and as drivers publish
    them (see ``keys.DRA_*``, where the sources are named): NVIDIA's driver (``gpu.nvidia.com``)
    publishes ``type`` ("gpu", "mig", "vfio"), ``uuid``, ``productName``,
    ``brand``, ``architecture``, ``pciBusID`` and capacity ``memory``; AMD's (``gpu.amd.com``)
    ``type`` ("amdgpu", "amdgpu-partition"), ``productName``, ``pciAddr``, capacity ``memory``;
    Intel's (``gpu.intel.com``) ``type`` ("gpu", "vf"), ``model``, ``pciAddress``, capacity
    ``memory``; all of them the standard ``resource.kubernetes.io/pcieRoot``, ``…/pciBusID``,
    ``…/numaNode``. A name without a domain is the driver's own, so ``productName`` and
    ``gpu.nvidia.com/productName`` are the same attribute of a ``gpu.nvidia.com`` slice.
    An attribute is the typed union (``{int: 0}``, ``{string: "H100"}``, ``{ints: [0, 1]}``) or
    a plain value; a capacity ``{value: "80Gi"}`` or a plain quantity."""
    reading = _read_slices(node_name, slices)
    if reading is None:
        return None
    return NodeGpus(reading.devices, reading.source, (), reading.warnings)


def _memories(devices: Iterable[GpuDevice]) -> str:
    sizes = sorted({d.memory for d in devices if d.memory})
    return ", ".join(format_amount("memory", size) for size in sizes) or "no memory"


def _products(devices: Iterable[GpuDevice]) -> str:
    return ", ".join(sorted({d.product for d in devices if d.product})) or "no product"


# --------------------------------------------------------------------------- labels


def _count(labels: Mapping[str, str], key: str) -> int | None:
    if key not in labels:
        return None
    value = labels[key]
    try:
        count = int(value.strip())
    except ValueError:
        raise InvalidInputError(key, value, "must be a whole number of GPUs") from None
    if count < 0:
        raise InvalidInputError(key, value, "must not be negative")
    if count > 1024:
        raise InvalidInputError(key, value, "more GPUs than any node has (at most 1024)")
    return count


def _read_gfd(labels: Mapping[str, str]) -> _Reading | None:
    gfd_keys = (keys.GFD_COUNT, keys.GFD_PRODUCT, keys.GFD_MEMORY)
    if not any(key in labels for key in gfd_keys):
        return None
    count = _count(labels, keys.GFD_COUNT)
    if count is None:
        present = next(key for key in gfd_keys if key in labels)
        raise InvalidInputError(keys.GFD_COUNT, None, f"missing, but {present} is set")
    product = normalize_product(labels.get(keys.GFD_PRODUCT, ""))
    warnings: list[str] = []
    raw_memory = labels.get(keys.GFD_MEMORY)
    if raw_memory is not None:
        try:
            mib = int(raw_memory.strip())
        except ValueError:
            raise InvalidInputError(
                keys.GFD_MEMORY, raw_memory, "must be MiB, e.g. 81559"
            ) from None
        if mib <= 0:
            raise InvalidInputError(keys.GFD_MEMORY, raw_memory, "must be positive")
        if mib * MIB > MAX_GPU_MEMORY:
            raise InvalidInputError(keys.GFD_MEMORY, raw_memory, "is more than any GPU has")
        memory = mib * MIB
        memory_says = f"{keys.GFD_MEMORY} says {raw_memory} MiB"
    else:
        memory = model_memory(product)
        memory_says = f"{keys.GFD_PRODUCT} says {product or 'nothing'} (no {keys.GFD_MEMORY})"
        if count:
            warnings.append(
                f"{keys.GFD_MEMORY} is missing: memory "
                + (
                    f"taken from the model table ({format_amount('memory', memory)})"
                    if memory
                    else "unknown"
                )
            )
    clique = labels.get(keys.GFD_CLIQUE, "").strip() or None
    devices = tuple(
        _device(f"gpu-{i}", product, memory, "nvidia", nvlink_domain=clique) for i in range(count)
    )
    if not devices:
        return None
    return _Reading(
        SOURCE_GFD,
        devices,
        tuple(warnings),
        count_says=f"{keys.GFD_COUNT} says {count}",
        memory_says=memory_says,
        product_says=f"{keys.GFD_PRODUCT} says {product or 'nothing'}",
    )


def _nfd_numa_zones(labels: Mapping[str, str]) -> int:
    """NUMA zones as the original read them from NFD: ``memory-numa`` must exist, then
    ``memory-numa.node_count``, else the highest ``memory-numa.node<N>`` + 1; 0 when unknown."""
    if keys.NFD_MEMORY_NUMA not in labels:
        return 0
    count = _count(labels, keys.NFD_MEMORY_NUMA_COUNT)
    if count is not None:
        return count
    highest = -1
    for key in labels:
        match = _NFD_NUMA_NODE.match(key)
        if match:
            highest = max(highest, int(match[1]))
    return highest + 1


def _read_nfd(labels: Mapping[str, str]) -> _Reading | None:
    counts: dict[tuple[str, str], tuple[int, str]] = {}  # (vendor, id) → (count, key said it)
    present: dict[tuple[str, str], tuple[int, str]] = {}
    for key, value in labels.items():
        match = _NFD_PCI.match(key)
        if match is None:
            continue
        ident = (match[1].lower(), match[2].lower())
        if ident not in _PCI_GPUS:
            continue  # not a GPU we know (NVSwitch, audio, an unknown id): no memory to give
        if match[3] == "count":
            counts[ident] = (_count(labels, key) or 0, key)
        else:
            flag = value.strip().lower()
            if flag not in {"true", "false"}:
                raise InvalidInputError(key, value, "must be true or false")
            present[ident] = (1 if flag == "true" else 0, key)
    # One device id is counted once: .count when there is one, else 1 for .present=true (the
    # original enumerated a device twice when both labels were there).
    counts = {**present, **counts}
    devices: list[GpuDevice] = []
    said: list[str] = []
    for ident in sorted(counts):
        count, key = counts[ident]
        product, gib = _PCI_GPUS[ident]
        said.append(f"{key} says {labels[key]}")
        devices.extend(
            _device(f"gpu-{len(devices)}", product, gib * GIB, _PCI_VENDORS[ident[0]])
            for _ in range(count)
        )
    if not devices:
        return None
    zones = _nfd_numa_zones(labels)
    if 1 < zones <= len(devices):
        devices = [replace(d, numa=i * zones // len(devices)) for i, d in enumerate(devices)]
    who = " and ".join(said)
    return _Reading(
        SOURCE_NFD,
        tuple(devices),
        (),
        count_says=f"{who} ({len(devices)} devices)",
        memory_says=f"{who} (the device-id table gives {_memories(devices)})",
        product_says=f"{who} ({_products(devices)})",
    )


def _read_manual(labels: Mapping[str, str]) -> _Reading | None:
    manual = (keys.GPU_MODEL_LABEL, keys.GPU_VRAM_LABEL, keys.GPU_COUNT_LABEL)
    if not any(key in labels for key in manual):
        return None
    count = _count(labels, keys.GPU_COUNT_LABEL)
    count = 1 if count is None else count
    product = normalize_product(labels.get(keys.GPU_MODEL_LABEL, ""))
    warnings: list[str] = []
    raw_vram = labels.get(keys.GPU_VRAM_LABEL)
    if raw_vram is not None:
        memory = whole_value(raw_vram, keys.GPU_VRAM_LABEL)
        if memory <= 0:
            raise InvalidInputError(keys.GPU_VRAM_LABEL, raw_vram, "must be positive")
        if memory > MAX_GPU_MEMORY:
            raise InvalidInputError(keys.GPU_VRAM_LABEL, raw_vram, "is more than any GPU has")
        memory_says = f"{keys.GPU_VRAM_LABEL} says {raw_vram}"
    else:
        memory = model_memory(product)
        memory_says = (
            f"{keys.GPU_MODEL_LABEL} says {product} "
            f"(the model table gives {format_amount('memory', memory) if memory else 'nothing'})"
        )
        if not memory and count:
            warnings.append(
                f"{keys.GPU_MODEL_LABEL} {product or '(missing)'} is not in the model table and "
                f"{keys.GPU_VRAM_LABEL} is missing: memory unknown"
            )
    devices = tuple(_device(f"gpu-{i}", product, memory) for i in range(count))
    if not devices:
        return None
    return _Reading(
        SOURCE_LABELS,
        devices,
        tuple(warnings),
        count_says=f"{keys.GPU_COUNT_LABEL} says {count}"
        if keys.GPU_COUNT_LABEL in labels
        else f"{keys.GPU_COUNT_LABEL} is missing (1 GPU)",
        memory_says=memory_says,
        product_says=f"{keys.GPU_MODEL_LABEL} says {product or 'nothing'}",
    )


def _with_label_numa(reading: _Reading, labels: Mapping[str, str]) -> _Reading:
    """``gpu.kubenexus.io/gpuK-numa`` sets the zone of GPU K of a label source."""
    devices = list(reading.devices)
    for key, value in labels.items():
        match = _GPU_NUMA.match(key)
        if match is None:
            continue
        index = int(match[1])
        try:
            zone = int(value.strip())
        except ValueError:
            raise InvalidInputError(key, value, "must be a NUMA zone number") from None
        if zone < 0:
            raise InvalidInputError(key, value, "must not be negative")
        if index >= len(devices):
            raise InvalidInputError(
                key, value, f"names GPU {index} but the node has {len(devices)} GPUs"
            )
        devices[index] = replace(devices[index], numa=zone)
    return replace(reading, devices=tuple(devices))


def _label_readings(labels: Mapping[str, str]) -> list[_Reading]:
    readings = [r for r in (_read_gfd(labels), _read_nfd(labels), _read_manual(labels)) if r]
    return [_with_label_numa(r, labels) for r in readings]


def gpus_from_labels(labels: Mapping[str, str]) -> NodeGpus | None:
    """The node's GPUs as its labels describe them (GPU Feature Discovery, then NFD, then the
    manual labels); None when they describe none."""
    return _combine(_label_readings(labels))


# --------------------------------------------------------------------------- both


# Memory sizes that name the same card: reported (81559 MiB) and marketed (80 GiB) sizes differ
# by a few percent (a T4 reports 15 GiB of its 16).
_SAME_CARD: Final = 0.10


def _close(a: int, b: int) -> bool:
    return abs(a - b) <= _SAME_CARD * max(a, b)


def _disagreements(first: _Reading, other: _Reading) -> list[str]:
    said: list[str] = []
    a, b = first.devices, other.devices
    if len(a) != len(b):
        said.append(f"{other.count_says} but {first.count_says}")
    mem_a = sorted(d.memory for d in a if d.memory)
    mem_b = sorted(d.memory for d in b if d.memory)
    if mem_a and mem_b:
        if len(mem_a) == len(mem_b):
            differ = any(not _close(x, y) for x, y in zip(mem_a, mem_b, strict=True))
        else:  # counts differ already: compare the sizes present
            differ = any(not any(_close(x, y) for y in set(mem_a)) for x in set(mem_b))
        if differ:
            said.append(f"{other.memory_says} but {first.memory_says}")
    models_a = {_model_name(d) for d in a} - {""}
    models_b = {_model_name(d) for d in b} - {""}
    if models_a and models_b and models_a != models_b:
        said.append(f"{other.product_says} but {first.product_says}")
    return said


def _combine(readings: list[_Reading]) -> NodeGpus | None:
    if not readings:
        return None
    first, others = readings[0], readings[1:]
    disagreements = [text for other in others for text in _disagreements(first, other)]
    return NodeGpus(first.devices, first.source, tuple(disagreements), first.warnings)


def node_gpus(
    node_name: str, labels: Mapping[str, str], slices: Iterable[Mapping[str, Any]] = ()
) -> NodeGpus | None:
    """The node's GPUs from the first source that yields devices (ResourceSlices, GPU Feature
    Discovery, NFD, manual labels), with every other source that disagrees named; None when no
    source describes a GPU. Malformed input in any source raises ``InvalidInputError``."""
    readings = [_read_slices(node_name, slices), *_label_readings(labels)]
    return _combine([r for r in readings if r is not None])


def read_gpus(
    node_name: str, labels: Mapping[str, str], slices: Iterable[Mapping[str, Any]] = ()
) -> tuple[NodeGpus | None, str]:
    """``node_gpus``, never raising: (the GPUs, "") or (None, what is wrong). A node whose GPU
    data cannot be read keeps everything else; a reader bug costs it its GPU data only."""
    try:
        return node_gpus(node_name, labels, slices), ""
    except InvalidInputError as exc:
        return None, str(exc)
    except Exception as exc:
        return None, f"GPU data could not be read: {exc!r}"


# --------------------------------------------------------------------------- pod demand


def gpu_demand(requests: Mapping[str, int], annotations: Mapping[str, str]) -> GpuDemand:
    """What the pod asks of GPUs, from its parsed requests (``PodInfo.requests``) and
    annotations. A malformed annotation raises ``InvalidInputError`` naming its key and value."""
    count = requests.get(keys.GPU_NVIDIA, 0)
    vram = 0
    raw = annotations.get(keys.VRAM_REQUEST)
    if raw is not None:
        vram = whole_value(raw, keys.VRAM_REQUEST)
        if vram < 0:
            raise InvalidInputError(keys.VRAM_REQUEST, raw, "must not be negative")
    products: tuple[str, ...] = ()
    raw = annotations.get(keys.GPU_PRODUCTS)
    if raw is not None:
        entries = [entry.strip() for entry in raw.split(",")]
        if not any(entries):
            raise InvalidInputError(keys.GPU_PRODUCTS, raw, "names no product")
        for entry in entries:
            if not entry:
                raise InvalidInputError(keys.GPU_PRODUCTS, raw, "has an empty entry")
            if not _PRODUCT_ENTRY.match(entry):
                raise InvalidInputError(
                    keys.GPU_PRODUCTS, raw, f"{entry!r} is not a product name, e.g. H100"
                )
        products = tuple(normalize_product(entry) for entry in entries)
    model_size = annotations.get(keys.MODEL_SIZE, "").strip()
    return GpuDemand(count=count, vram=vram, products=products, model_size=model_size)
