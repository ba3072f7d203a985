"""Explain's answers as text (one screen, kubectl-style tables) and as JSON (for machines)."""

from __future__ import annotations

import json
from typing import Any

from kubenexus.scheduler.explaining import Explanation, NodeScore


def _number(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.2f}"


def _columns(rows: list[list[str]], indent: str = "  ") -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [
        indent + "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]


def _score_lines(scores: list[NodeScore], chosen: str) -> list[str]:
    plugins = [p.plugin for p in scores[0].plugins] if scores else []
    weights = {p.plugin: p.weight for p in scores[0].plugins} if scores else {}
    header = ["RANK", "NODE", "TOTAL", *[f"{name} ×{weights[name]}" for name in plugins]]
    rows = [header]
    for node in scores:
        mark = " (chosen)" if node.node == chosen else " (runner-up)" if node.rank == 2 else ""
        rows.append(
            [
                str(node.rank),
                node.node + mark,
                _number(node.total),
                *[
                    (
                        _number(p.normalized)
                        if p.weight == 1
                        else f"{_number(p.normalized)} → {_number(p.weighted)}"
                    )
                    + (f" (raw {_number(p.raw)})" if p.raw is not None else "")
                    for p in node.plugins
                ],
            ]
        )
    lines = _columns(rows)
    lines.append(
        "  each plugin's score 0-100 (→ × its weight where not 1); TOTAL is their sum; raw: "
        "before the plugin's normalization, where it says"
    )
    return lines


def render_text(e: Explanation) -> str:
    lines = [
        f"Pod {e.pod}",
        f"  scheduler: {e.scheduler_name or '-'}   tier: {e.tier or '-'}   "
        f"workload: {e.workload or '-'}",
    ]
    verdict = e.verdict
    if e.node:
        where = "on" if verdict == "Placed" else "would go to"
        lines.append(f"  verdict: {verdict} ({where} {e.node})")
    else:
        lines.append(f"  verdict: {verdict}")
    if e.message:
        lines.append(f"  why: {e.message}")
    if e.attempts:
        lines.append(f"  attempts: {e.attempts}")
    if e.last_attempt and e.last_attempt != e.message:
        lines.append(f"  last attempt: {e.last_attempt}")
    if e.pre_filter is not None:
        plugin, message = e.pre_filter
        lines.append(f"  refused as a whole by {plugin}: {message}")
    if e.total_nodes:
        lines += ["", f"Nodes: {e.total_nodes}, {e.feasible} pass every filter"]
    if e.groups:
        rows = [["NODES", "FIRST REJECTED BY", "REASON", "EXAMPLES (closest first)"]]
        for group in e.groups:
            more = group.count - len(group.nodes)
            examples = ", ".join(group.nodes) + (f" (+{more} more)" if more > 0 else "")
            rows.append([str(group.count), group.plugin, "; ".join(group.reasons), examples])
        lines += _columns(rows)
    if e.closest:
        lines += ["", "Closest nodes:"]
        for miss in e.closest:
            failed = "; ".join(f"{plugin}: {', '.join(why)}" for plugin, why in miss.failed)
            lines.append(f"  {miss.node}: {failed}")
            lines += [f"      {line}" for line in miss.shortfalls]
    if e.scores:
        lines += ["", "Scores (best first):"]
        lines += _score_lines(e.scores, e.node)
    if e.gang is not None:
        gang = e.gang
        size = gang.min_member if gang.min_member is not None else "?"
        lines += [
            "",
            f"Gang {gang.name}: minMember {size}, {gang.placed} placed, {gang.pending} pending",
        ]
        if gang.problem:
            lines.append(f"  problem: {gang.problem}")
        if gang.blocking:
            lines.append(f"  blocked by: {', '.join(gang.blocking)} (fit nowhere when tried)")
        rows = [["MEMBER", "STATE", "NODE", "WHY"]]
        rows += [[m.pod, m.state, m.node or "-", m.message] for m in gang.members]
        lines += _columns(rows)
    for note in e.notes:
        lines.append(f"note: {note}")
    return "\n".join(lines)


def to_dict(e: Explanation) -> dict[str, Any]:
    gang = e.gang
    return {
        "pod": e.pod,
        "verdict": e.verdict,
        "schedulerName": e.scheduler_name or None,
        "profile": {"tier": e.tier or None, "workloadType": e.workload or None},
        "node": e.node or None,
        "message": e.message or None,
        "attempts": e.attempts,
        "lastAttempt": e.last_attempt or None,
        "preFilter": (
            {"plugin": e.pre_filter[0], "message": e.pre_filter[1]} if e.pre_filter else None
        ),
        "nodes": {"total": e.total_nodes, "feasible": e.feasible},
        "groups": [
            {
                "plugin": g.plugin,
                "reasons": list(g.reasons),
                "count": g.count,
                "nodes": list(g.nodes),
            }
            for g in e.groups
        ],
        "closest": [
            {
                "node": m.node,
                "failed": [{"plugin": p, "reasons": list(r)} for p, r in m.failed],
                "shortfalls": list(m.shortfalls),
            }
            for m in e.closest
        ],
        "scores": [
            {
                "node": s.node,
                "rank": s.rank,
                "total": s.total,
                "plugins": [
                    {
                        "plugin": p.plugin,
                        "weight": p.weight,
                        "raw": p.raw,
                        "normalized": p.normalized,
                        "weighted": p.weighted,
                    }
                    for p in s.plugins
                ],
            }
            for s in e.scores
        ],
        "gang": None
        if gang is None
        else {
            "name": gang.name,
            "minMember": gang.min_member,
            "placed": gang.placed,
            "pending": gang.pending,
            "problem": gang.problem or None,
            "blocking": list(gang.blocking),
            "members": [
                {
                    "pod": m.pod,
                    "state": m.state,
                    "node": m.node or None,
                    "message": m.message or None,
                }
                for m in gang.members
            ],
        },
        "notes": list(e.notes),
    }


def render_json(e: Explanation) -> str:
    return json.dumps(to_dict(e), indent=2)
