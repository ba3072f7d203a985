"""A host's NUMA zones as the kernel shows them in sysfs; the standard library only, because the
cpuset hook reads it on every container start.

A zone is a NUMA node with online CPUs and memory. The kernel also has nodes with CPUs and no
memory (their CPUs allocate from the nearest node with memory): their CPUs join the zone of the
nearest such node (lowest distance, then lowest id). Nodes with memory and no online CPU (CXL or
HBM expanders) are no zone: the scheduler's zones hold CPUs and memory both. Offline CPUs are
left out. A kernel without NUMA (no ``devices/system/node``) is one zone. Zones are numbered
0..N-1 in the order of their node ids, so on ordinary hosts zone K is node K.

Discovery publishes these zones and the hook maps a zone number back to its memory node
(``cpuset.mems``) with this same code, so the two always agree. Plain classes, no ``re``,
``typing`` or ``dataclasses``: each costs the hook milliseconds at every container start.
"""

from __future__ import annotations

import os

TYPE_CHECKING = False  # typing is not imported at run time (start time)
if TYPE_CHECKING:
    from typing import Final

# More CPUs than any kernel supports (CONFIG_NR_CPUS ≤ 8192): a typo, not a host.
MAX_CPU: Final = 8191
# Bounds on a CPU list read before parsing it, so no value (an annotation may be ~256 KiB)
# costs the hook more than milliseconds: every list the kernel or the scheduler writes is far
# shorter (all 8192 CPUs one by one: 40 KiB) and names each CPU once.
MAX_LIST_CHARS: Final = 64 * 1024
MAX_LIST_CPUS: Final = 100_000  # the ranges' widths summed, overlaps counted twice
# The kernel's NUMA distances are one byte (the ACPI SLIT's); MemTotal in kB below 10^15
# (≈ 888 PiB) keeps bytes within int64, which the scheduler's tables hold.
MAX_DISTANCE: Final = 255
MAX_KB_DIGITS: Final = 15
# How much of a bad value an error line quotes.
QUOTE_CHARS: Final = 60


class SysfsError(Exception):
    """sysfs (or a CPU list) holds something this code cannot read; the message names the file."""


def quoted(text: str, limit: int = QUOTE_CHARS) -> str:
    """``repr(text)``, cut after ``limit`` characters (an error line stays one short line)."""
    if len(text) <= limit:
        return repr(text)
    return f"{text[:limit]!r}… ({len(text)} characters)"


def shortened(text: str, limit: int = QUOTE_CHARS) -> str:
    """``text`` cut after ``limit`` characters, saying so."""
    return text if len(text) <= limit else f"{text[:limit]}… ({len(text)} characters)"


def _digits(text: str) -> bool:
    return text.isascii() and text.isdigit()


def parse_cpus(text: str, where: str) -> frozenset[int]:
    """A kernel CPU list (``0-3,8,10-11``, empty for none) → the CPU ids; ``where`` names it."""
    if len(text) > MAX_LIST_CHARS:
        raise SysfsError(
            f"{where}: CPU list of {len(text)} characters (at most {MAX_LIST_CHARS}): "
            f"{quoted(text)}"
        )
    cpus: set[int] = set()
    text = text.strip()
    if not text:
        return frozenset()
    named = 0
    for part in text.split(","):
        first, dash, last = part.strip().partition("-")
        if not (_digits(first) and (_digits(last) if dash else not last)):
            raise SysfsError(f"{where}: invalid CPU list {quoted(text)} (expected e.g. 0-15,32-47)")
        # Ten digits are past any CPU id (and 4300 past what int() reads at all).
        bad = len(first) > 9 or len(last) > 9
        low = 0 if bad else int(first)
        high = int(last) if dash and not bad else low
        if bad or high < low or high > MAX_CPU:
            raise SysfsError(f"{where}: invalid CPU range {quoted(part.strip())} in {quoted(text)}")
        named += high - low + 1
        if named > MAX_LIST_CPUS:
            raise SysfsError(
                f"{where}: CPU list {quoted(text)} names more than {MAX_LIST_CPUS} CPUs"
            )
        cpus.update(range(low, high + 1))
    return frozenset(cpus)


def format_cpus(cpus: frozenset[int] | set[int]) -> str:
    """{0, 1, 2, 3, 8} → ``0-3,8``."""
    parts: list[str] = []
    ordered = sorted(cpus)
    i = 0
    while i < len(ordered):
        j = i
        while j + 1 < len(ordered) and ordered[j + 1] == ordered[j] + 1:
            j += 1
        parts.append(str(ordered[i]) if i == j else f"{ordered[i]}-{ordered[j]}")
        i = j + 1
    return ",".join(parts)


def _read(path: str) -> str:
    try:
        with open(path, encoding="ascii") as file:
            return file.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise SysfsError(f"{path}: cannot read ({exc.__class__.__name__}: {exc})") from None


def _mem_total(path: str) -> int:
    """Bytes of ``MemTotal`` in a (per-node or /proc) meminfo file."""
    for line in _read(path).splitlines():
        words = line.split()
        if "MemTotal:" in words:
            kb = words[words.index("MemTotal:") + 1 :][:1]
            # int() would take "-5", "1_000" or other scripts' digits: the kernel writes none.
            if not kb or not _digits(kb[0]) or len(kb[0]) > MAX_KB_DIGITS:
                raise SysfsError(f"{path}: MemTotal {quoted(' '.join(kb))} is no number of kB")
            return int(kb[0]) * 1024  # the kernel writes kB (KiB)
    raise SysfsError(f"{path}: no MemTotal line")


def _distances(path: str, count: int) -> list[int]:
    """A node's ``distance`` row: ``count`` whole numbers 0-255."""
    words = _read(path).split()
    for word in words:
        if not _digits(word) or len(word) > 3 or int(word) > MAX_DISTANCE:
            raise SysfsError(f"{path}: distance {quoted(word)} is no number 0-{MAX_DISTANCE}")
    if len(words) != count:
        raise SysfsError(f"{path}: {len(words)} distances for {count} nodes ({' '.join(words)})")
    return [int(word) for word in words]


class NumaNode:
    """One kernel NUMA node: its online CPUs, memory in bytes, distances by node id."""

    __slots__ = ("cpus", "distances", "id", "memory")

    def __init__(
        self, id: int, cpus: frozenset[int], memory: int, distances: dict[int, int]
    ) -> None:
        self.id, self.cpus, self.memory, self.distances = id, cpus, memory, distances


class HostZone:
    """A scheduler zone: ``nodes`` are its kernel nodes (the one with memory first, then the
    memory-less ones whose CPUs joined it); ``mems`` what ``cpuset.mems`` gets for it (the node
    with memory; all of them for the one zone of a host without usable NUMA data)."""

    __slots__ = ("cpus", "distances", "index", "memory", "mems", "nodes")

    def __init__(  # noqa: PLR0917 - a record's fields, in their order
        self,
        index: int,
        nodes: tuple[int, ...],
        mems: tuple[int, ...],
        cpus: frozenset[int],
        memory: int,
        distances: dict[int, int],  # zone index → distance
    ) -> None:
        self.index, self.nodes, self.mems = index, nodes, mems
        self.cpus, self.memory, self.distances = cpus, memory, distances


class HostTopology:
    """``nodes``: every kernel node as read; ``numa`` False: the kernel has no NUMA nodes."""

    __slots__ = ("nodes", "numa", "online", "zones")

    def __init__(
        self,
        zones: tuple[HostZone, ...],
        nodes: tuple[NumaNode, ...],
        online: frozenset[int],
        numa: bool,
    ) -> None:
        self.zones, self.nodes, self.online, self.numa = zones, nodes, online, numa

    @property
    def memory_only_nodes(self) -> tuple[int, ...]:
        """Nodes with memory and no online CPU: in no zone."""
        return tuple(n.id for n in self.nodes if n.memory and not n.cpus)

    @property
    def memoryless_nodes(self) -> tuple[int, ...]:
        return tuple(n.id for n in self.nodes if n.cpus and not n.memory)


def online_cpus(sysfs_root: str) -> frozenset[int]:
    path = os.path.join(sysfs_root, "devices/system/cpu/online")
    return parse_cpus(_read(path), path)


def _node_ids(node_dir: str) -> list[int]:
    try:
        names = os.listdir(node_dir)
    except OSError:
        return []
    return sorted(int(name[4:]) for name in names if name.startswith("node") and _digits(name[4:]))


def read_nodes(sysfs_root: str, online: frozenset[int]) -> list[NumaNode]:
    """The kernel's NUMA nodes (none when the kernel has no NUMA), online CPUs only."""
    node_dir = os.path.join(sysfs_root, "devices/system/node")
    ids = _node_ids(node_dir)
    nodes: list[NumaNode] = []
    earlier: list[tuple[str, frozenset[int]]] = []  # (cpulist file, its CPUs)
    for node_id in ids:
        base = os.path.join(node_dir, f"node{node_id}")
        cpulist = os.path.join(base, "cpulist")
        listed = parse_cpus(_read(cpulist), cpulist)
        for other, cpus in earlier:  # a CPU sits on one node; the scheduler refuses overlaps
            if listed & cpus:
                both = format_cpus(listed & cpus)
                raise SysfsError(f"{cpulist}: CPUs {shortened(both)} are also in {other}")
        earlier.append((cpulist, listed))
        memory = _mem_total(os.path.join(base, "meminfo"))
        values = _distances(os.path.join(base, "distance"), len(ids))
        nodes.append(
            NumaNode(node_id, listed & online, memory, dict(zip(ids, values, strict=True)))
        )
    return nodes


def zones_of(nodes: list[NumaNode]) -> tuple[HostZone, ...]:
    """Zones from kernel nodes, memory-less nodes folded into their nearest zone."""
    primaries = [n for n in nodes if n.cpus and n.memory]
    if not primaries:
        return ()
    members: dict[int, list[NumaNode]] = {n.id: [n] for n in primaries}
    for node in nodes:
        if node.cpus and not node.memory:
            nearest = min(primaries, key=lambda p: (node.distances.get(p.id, 255), p.id))
            members[nearest.id].append(node)
    index_of = {p.id: i for i, p in enumerate(primaries)}
    return tuple(
        HostZone(
            index=index_of[p.id],
            nodes=tuple(n.id for n in members[p.id]),
            mems=(p.id,),
            cpus=frozenset().union(*(n.cpus for n in members[p.id])),
            memory=p.memory,
            distances={index_of[q.id]: p.distances.get(q.id, 0) for q in primaries},
        )
        for p in primaries
    )


def read_host(sysfs_root: str = "/sys", proc_root: str = "/proc") -> HostTopology:
    """The host's zones from ``sysfs_root`` (and ``proc_root``/meminfo on a kernel without
    NUMA). Raises SysfsError naming the file when something cannot be read."""
    online = online_cpus(sysfs_root)
    nodes = read_nodes(sysfs_root, online)
    zones = zones_of(nodes)
    if zones:
        return HostTopology(zones, tuple(nodes), online, True)
    # No NUMA (or no node with both CPUs and memory): the whole host is one zone.
    memory = (
        sum(n.memory for n in nodes) if nodes else _mem_total(os.path.join(proc_root, "meminfo"))
    )
    mems = tuple(n.id for n in nodes if n.memory) or (0,)
    zone = HostZone(0, tuple(n.id for n in nodes) or (0,), mems, online, memory, {0: 10})
    return HostTopology((zone,), tuple(nodes), online, bool(nodes))
