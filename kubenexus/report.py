"""``kubenexus simulate … --report report.html``: one self-contained HTML page of a simulation.

No network at all (inline CSS and script, no fonts or CDN): each node's resources as bars, its
NUMA zones as a grid of CPUs coloured by the pod holding each, its GPUs one square per device,
gangs and reservations highlighted, and every pending pod with its reasons (the explain core's
grouping of the nodes). A search box and a group-by choice keep 500 nodes readable; the page
is rendered on the server side, so it reads even with scripts off.
"""

from __future__ import annotations

import html
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Final

from kubenexus.api import keys
from kubenexus.api.objects import PodInfo
from kubenexus.api.quantity import format_amount
from kubenexus.api.topology import NodeTopology, parse_cpu_list
from kubenexus.errors import InputFileError, InvalidInputError
from kubenexus.plugins.numa_topology import NUMATopology
from kubenexus.scheduler import Scheduler
from kubenexus.scheduler.explaining import explain, pod_index
from kubenexus.simulator import NodeUsage, SimulationResult, render_table

# Pending pods explained node by node (each costs a scheduling cycle); the rest list their line.
EXPLAINED_PENDING: Final = 100
_PALETTE: Final = (
    "#4e79a7",
    "#f28e2b",
    "#59a14f",
    "#b07aa1",
    "#edc948",
    "#76b7b2",
    "#ff9da7",
    "#9c755f",
    "#e15759",
    "#bab0ac",
)
_POOL_SUFFIX: Final = re.compile(r"[-_]?\d+$")


@dataclass(slots=True)
class _PodOnNode:
    name: str
    status: str
    gang: str = ""
    cpus: frozenset[int] = frozenset()
    zones: str = ""
    requests: Mapping[str, int] = field(default_factory=dict)


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _pct(used: int, total: int) -> int:
    return min(100, used * 100 // total) if total > 0 else 0


def _cpus(annotations: Mapping[str, str]) -> frozenset[int]:
    text = annotations.get(keys.CPU_SET, "")
    if not text:
        return frozenset()
    try:
        return parse_cpu_list(text, keys.CPU_SET)
    except InvalidInputError:
        return frozenset()


def _pods_by_node(result: SimulationResult, scheduler: Scheduler) -> dict[str, list[_PodOnNode]]:
    """The pods on each node: those the run placed (with the CPUs and zones chosen) and those
    already running in the input."""
    rows = {p.pod: p for p in result.pods}
    found: dict[str, list[_PodOnNode]] = defaultdict(list)
    for node in scheduler.cache.nodes.names_in_order():
        for pod in scheduler.cache.pods_on(node):
            row = rows.get(pod.full_name)
            if row is None:
                continue  # a reservation's placeholder: shown as a slot
            annotations: Mapping[str, str] = row.annotations or pod.annotations
            found[node].append(
                _PodOnNode(
                    pod.full_name,
                    row.status,
                    pod.gang,
                    _cpus(annotations),
                    annotations.get(keys.NUMA_ZONES, ""),
                    dict(pod.requests),
                )
            )
    for pods in found.values():
        pods.sort(key=lambda p: p.name)
    return found


def _topologies(scheduler: Scheduler) -> dict[str, NodeTopology]:
    nodes = scheduler.cache.nodes
    for profile in scheduler.profiles.values():
        for plugin in profile.filters:
            if isinstance(plugin, NUMATopology):
                return {
                    nodes.names[slot]: topology
                    for slot, topology in plugin.zones.topologies.items()
                    if slot < nodes.size and nodes.valid[slot]
                }
    return {}


def _bar(label: str, resource: str, used: int, total: int) -> str:
    pct = _pct(used, total)
    level = "hot" if pct >= 90 else "warm" if pct >= 60 else "ok"
    amount = f"{format_amount(resource, used)}/{format_amount(resource, total)}"
    return (
        f'<div class="res"><span class="lbl">{_e(label)}</span>'
        f'<span class="bar"><span class="fill {level}" style="width:{pct}%"></span></span>'
        f'<span class="amt">{_e(amount)}</span></div>'
    )


def _numa_grid(topology: NodeTopology, pods: list[_PodOnNode], colours: dict[str, str]) -> str:
    owner: dict[int, _PodOnNode] = {}
    for pod in pods:
        for cpu in pod.cpus:
            owner[cpu] = pod
    rows = []
    for zone in topology.zones:
        cells = []
        for cpu in sorted(zone.cpus):
            holder = owner.get(cpu)
            if holder is None:
                cells.append(f'<i class="cpu" title="CPU {cpu}: free"></i>')
            else:
                colour = colours.get(holder.name, "#888")
                cells.append(
                    f'<i class="cpu held" style="background:{colour}" '
                    f'title="CPU {cpu}: {_e(holder.name)}"></i>'
                )
        if not zone.cpus:
            cells.append(
                f'<span class="muted">{format_amount(keys.CPU, zone.cpu_milli)} cpu</span>'
            )
        holders = sorted({p.name for p in pods if str(zone.id) in p.zones.split(",")})
        memory = format_amount(keys.MEMORY, zone.memory)
        gpus = f", {zone.gpus} GPU" if zone.gpus else ""
        rows.append(
            f'<div class="zone" data-zone="{zone.id}"><span class="zid">zone {zone.id}</span>'
            f'<span class="cpus">{"".join(cells)}</span>'
            f'<span class="muted">{memory}{gpus}'
            f"{' · ' + _e(', '.join(holders)) if holders else ''}</span></div>"
        )
    return f'<div class="numa" title="NUMA zones: one square per CPU">{"".join(rows)}</div>'


def _gpus(node: NodeUsage) -> str:
    if node.gpus is None:
        return ""
    used = node.gpus.used
    squares = []
    index = 0
    for kind in node.gpus.kinds:
        name = kind.family or kind.product or "GPU"
        memory = format_amount(keys.MEMORY, kind.memory) if kind.memory else "?"
        for _ in range(kind.count):
            state = "used" if index < used else "free"
            squares.append(
                f'<i class="gpu {state}" title="GPU {index}: {_e(name)} {memory}, {state}"></i>'
            )
            index += 1
    label = ", ".join(f"{k.count}× {k.family or k.product or 'GPU'}" for k in node.gpus.kinds)
    return (
        f'<div class="gpus"><span class="lbl">GPUs</span>{"".join(squares)}'
        f'<span class="amt">{used}/{node.gpus.count} · {_e(label)} ({_e(node.gpus.source)})'
        "</span></div>"
    )


def _used(node: NodeUsage, resource: str) -> int:
    return _pct(node.requested.get(resource, 0), node.allocatable.get(resource, 0))


def _shape(node: NodeUsage) -> str:
    cpu = format_amount(keys.CPU, node.allocatable.get(keys.CPU, 0))
    memory = format_amount(keys.MEMORY, node.allocatable.get(keys.MEMORY, 0))
    gpus = node.gpus.count if node.gpus is not None else node.allocatable.get(keys.GPU_NVIDIA, 0)
    return f"{cpu} cpu · {memory}" + (f" · {gpus} GPU" if gpus else "")


def _gpu_kind(node: NodeUsage) -> str:
    if node.gpus is None or not node.gpus.kinds:
        return "no GPUs"
    return ", ".join(sorted({k.family or k.product or "GPU" for k in node.gpus.kinds}))


def _load(node: NodeUsage) -> str:
    pct = max(
        _pct(node.requested.get(r, 0), node.allocatable.get(r, 0))
        for r in (keys.CPU, keys.MEMORY, keys.PODS)
    )
    low = min(pct // 25 * 25, 75)
    return f"{low}-{low + 25}% used"


def _node_card(
    node: NodeUsage,
    pods: list[_PodOnNode],
    topology: NodeTopology | None,
    slots: list[tuple[str, str, str]],
    colours: dict[str, str],
) -> str:
    extended = sorted(
        r
        for r, v in node.allocatable.items()
        if v and r not in {keys.CPU, keys.MEMORY, keys.PODS, keys.EPHEMERAL_STORAGE}
    )
    bars = [
        _bar("cpu", keys.CPU, node.requested.get(keys.CPU, 0), node.allocatable.get(keys.CPU, 0)),
        _bar(
            "memory",
            keys.MEMORY,
            node.requested.get(keys.MEMORY, 0),
            node.allocatable.get(keys.MEMORY, 0),
        ),
        _bar("pods", keys.PODS, node.pods, node.allocatable.get(keys.PODS, 0)),
        *[_bar(r, r, node.requested.get(r, 0), node.allocatable.get(r, 0)) for r in extended],
    ]
    chips = []
    for pod in pods:
        gang = f' data-gang="{_e(pod.gang)}"' if pod.gang else ""
        badge = f' <b class="gang">{_e(pod.gang.split("/")[-1])}</b>' if pod.gang else ""
        colour = colours.get(pod.name, "#888")
        chips.append(
            f'<span class="pod {pod.status.lower()}" style="border-color:{colour}"'
            f'{gang} title="{_e(pod.name)} ({_e(pod.status)})">{_e(pod.name)}{badge}</span>'
        )
    for reservation, slot, state in slots:
        chips.append(
            f'<span class="pod slot {state.lower()}" title="reservation {_e(reservation)} '
            f'slot {_e(slot)}: {_e(state)}">⛁ {_e(reservation.split("/")[-1])}/{_e(slot)} '
            f"({_e(state)})</span>"
        )
    search = " ".join([node.name, *(p.name for p in pods), *(s[0] for s in slots)]).lower()
    problem = f'<div class="warn">{_e(node.gpu_problem)}</div>' if node.gpu_problem else ""
    numa = _numa_grid(topology, pods, colours) if topology is not None else ""
    return (
        f'<div class="node" id="node-{_e(node.name)}" data-search="{_e(search)}" '
        f'data-pool="{_e(_POOL_SUFFIX.sub("", node.name) or node.name)}" '
        f'data-shape="{_e(_shape(node))}" data-gpu="{_e(_gpu_kind(node))}" '
        f'data-load="{_e(_load(node))}" '
        f'data-cpu="{_used(node, keys.CPU)}" data-memory="{_used(node, keys.MEMORY)}">'
        f"<h3>{_e(node.name)}</h3>{''.join(bars)}{_gpus(node)}{numa}{problem}"
        f'<div class="pods">{"".join(chips) or "<span class=muted>no pods</span>"}</div></div>'
    )


def _pending_rows(
    result: SimulationResult, scheduler: Scheduler, index: Mapping[str, PodInfo]
) -> list[str]:
    rows = []
    waiting = [p for p in result.pods if p.status not in {"Scheduled", "Running", "Finished"}]
    for number, row in enumerate(waiting):
        details = ""
        if row.status == "Unschedulable" and number < EXPLAINED_PENDING:
            details = _explained(scheduler, index.get(row.pod))
        rows.append(
            f'<tr class="pending" data-search="{_e(row.pod.lower())}"><td>{_e(row.pod)}</td>'
            f'<td><span class="status {row.status.lower()}">{_e(row.status)}</span></td>'
            f"<td>{_e(row.message)}{details}</td></tr>"
        )
    return rows


def _explained(scheduler: Scheduler, pod: PodInfo | None) -> str:
    if pod is None:
        return ""
    answer = explain(scheduler, pod, closest=3)
    items = [
        f"<li><b>{group.count}</b> × {_e(group.plugin)}: {_e('; '.join(group.reasons))} "
        f'<span class="muted">({_e(", ".join(group.nodes))})</span></li>'
        for group in answer.groups[:6]
    ]
    for miss in answer.closest[:2]:
        short = "; ".join(miss.shortfalls) or "; ".join(
            f"{plugin}: {', '.join(why)}" for plugin, why in miss.failed
        )
        items.append(f"<li>closest: <b>{_e(miss.node)}</b> — {_e(short)}</li>")
    if answer.gang is not None and answer.gang.blocking:
        items.append(f"<li>gang blocked by: {_e(', '.join(answer.gang.blocking))}</li>")
    return f'<ul class="why">{"".join(items)}</ul>' if items else ""


def _gang_rows(result: SimulationResult, index: Mapping[str, PodInfo]) -> list[str]:
    gangs: dict[str, list[tuple[str, str, str]]] = defaultdict(list)
    for row in result.pods:
        pod = index.get(row.pod)
        if pod is not None and pod.gang:
            gangs[pod.gang].append((row.pod, row.status, row.node))
    rows = []
    for gang, members in sorted(gangs.items()):
        placed = sum(1 for _, status, _ in members if status in {"Scheduled", "Running"})
        chips = "".join(
            f'<span class="pod {status.lower()}" title="{_e(status)}">{_e(pod)}'
            f"{' → ' + _e(node) if node else ''}</span>"
            for pod, status, node in members
        )
        rows.append(
            f'<tr data-search="{_e(gang.lower())} {_e(" ".join(m[0] for m in members).lower())}">'
            f"<td>{_e(gang)}</td><td>{placed}/{len(members)} placed</td><td>{chips}</td></tr>"
        )
    return rows


def _reservation_rows(result: SimulationResult) -> list[str]:
    rows = []
    for r in result.reservations:
        slots = ", ".join(
            f"{s.name} → {s.node or '-'} ({s.state}{', ' + s.pod if s.pod else ''})"
            for s in r.slots
        )
        rows.append(
            f'<tr data-search="{_e(r.name.lower())}"><td>{_e(r.name)}</td><td>{_e(r.phase)}</td>'
            f"<td>{r.claimed}/{r.total}</td><td>{_e(r.message)}</td><td>{_e(slots)}</td></tr>"
        )
    return rows


def _table(head: Iterable[str], rows: list[str], empty: str) -> str:
    if not rows:
        return f'<p class="muted">{_e(empty)}</p>'
    header = "".join(f"<th>{_e(h)}</th>" for h in head)
    return f"<table><thead><tr>{header}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def render_report(result: SimulationResult) -> str:
    scheduler = result.scheduler
    if scheduler is None:
        raise InputFileError("the simulation kept no scheduler to report on")
    pods_by_node = _pods_by_node(result, scheduler)
    topologies = _topologies(scheduler)
    names = sorted({p.name for pods in pods_by_node.values() for p in pods})
    colours = {name: _PALETTE[i % len(_PALETTE)] for i, name in enumerate(names)}
    slots: dict[str, list[tuple[str, str, str]]] = defaultdict(list)
    for reservation in result.reservations:
        for slot in reservation.slots:
            if slot.node:
                slots[slot.node].append((reservation.name, slot.name, slot.state))
    cards = "".join(
        _node_card(
            node,
            pods_by_node.get(node.name, []),
            topologies.get(node.name),
            slots.get(node.name, []),
            colours,
        )
        for node in result.nodes
    )
    summary = render_table(result).rsplit("\n\n", 1)[-1]
    index = pod_index(scheduler)  # each node's pods read once, not once per pod looked up
    pending = _pending_rows(result, scheduler, index)
    return _PAGE.format(
        summary=_e(summary),
        nodes=len(result.nodes),
        pending_count=len(pending),
        pending=_table(["POD", "STATUS", "WHY"], pending, "No pod waits."),
        gangs=_table(["GANG", "PLACED", "MEMBERS"], _gang_rows(result, index), "No gangs."),
        reservations=_table(
            ["RESERVATION", "PHASE", "CLAIMED", "MESSAGE", "SLOTS"],
            _reservation_rows(result),
            "No reservations.",
        ),
        cards=cards,
        style=_asset("report.css"),
        script=_asset("report.js"),
    )


def _asset(name: str) -> str:
    return (resources.files("kubenexus") / "report_assets" / name).read_text(encoding="utf-8")


def write_report(result: SimulationResult, path: Path) -> None:
    try:
        path.write_text(render_report(result), encoding="utf-8")
    except OSError as exc:
        raise InputFileError(f"--report {path}: cannot write: {exc.strerror}") from None


_PAGE: Final = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>KubeNexus simulation report</title><style>{style}</style></head>
<body><header><h1>KubeNexus simulation</h1><span class="sum">{summary}</span>
<label>search <input id="search" type="search" placeholder="node, pod, gang…"></label>
<label>group nodes by <select id="groupby">
<option value="pool">pool (name)</option><option value="shape">shape</option>
<option value="gpu">GPU kind</option><option value="load">load</option>
<option value="none">nothing</option></select></label></header>
<main>
<section id="pending"><h2>Waiting pods ({pending_count})</h2>{pending}</section>
<section id="gangs"><h2>Gangs</h2>{gangs}</section>
<section id="reservations"><h2>Reservations</h2>{reservations}</section>
<section id="nodes"><h2>Nodes ({nodes})</h2><div id="groups"><div class="grid">{cards}</div></div>
</section></main><script>{script}</script></body></html>
"""
