"""``kubenexus explain``: why a pod is pending, or why it landed where it did.

The question is put to the scheduling core (``kubenexus.scheduler.explaining``) fed either by
the simulator's input files or by a read-only listing of a live cluster made with the daemon's
own informers and parsers (``kubenexus.shell.snapshot``): explain sees what the daemon sees.
"""

from __future__ import annotations

import time
from pathlib import Path

from kubenexus.api.names import check_namespace, check_pod_name
from kubenexus.config import SchedulerConfiguration
from kubenexus.errors import InvalidInputError, KubeNexusError
from kubenexus.scheduler.explain_render import render_json, render_text, to_dict
from kubenexus.scheduler.explaining import Explanation, explain, find_pod
from kubenexus.simulator import SimulationResult, simulate

__all__ = [
    "explain_live",
    "explain_simulated",
    "explain_simulation",
    "parse_target",
    "render_json",
    "render_text",
    "to_dict",
]


class TargetError(KubeNexusError):
    """The pod asked about is not named well, or not known."""


def parse_target(target: str, namespace: str | None = None) -> tuple[str, str]:
    """``NAMESPACE/POD`` (or ``POD`` with ``-n``, else in ``default``) → (namespace, name), each
    checked as Kubernetes names them (``..`` or an empty part is refused)."""
    if "/" in target:
        found, _, name = target.partition("/")
        if not found or not name or "/" in name:
            raise TargetError(f"pod {target!r}: expected NAMESPACE/POD")
        if namespace and namespace != found:
            raise TargetError(f"pod {target!r}: its namespace differs from -n {namespace}")
    else:
        if not target:
            raise TargetError("pod: expected NAMESPACE/POD")
        found, name = namespace or "default", target
    try:
        return check_namespace(found), check_pod_name(name)
    except InvalidInputError as exc:
        raise TargetError(f"pod {target!r}: {exc}") from None


def explain_simulation(result: SimulationResult, target: str) -> Explanation:
    """Explain a pod of a simulation that ran (its scheduler as the run left it)."""
    scheduler = result.scheduler
    if scheduler is None:
        raise TargetError("the simulation kept no scheduler to ask")
    namespace, name = parse_target(target)
    pod = find_pod(scheduler, namespace, name)
    if pod is None:
        row = next((p for p in result.pods if p.pod == f"{namespace}/{name}"), None)
        if row is None:
            raise TargetError(f"pod {namespace}/{name}: not in the simulation's input")
        explanation = Explanation(row.pod, "Pending", "", "", "")
        explanation.verdict = {  # type: ignore[assignment]
            "OtherScheduler": "NotOurs",
            # Placed on a node the input lacks (the scheduler never counted it): not pending.
            "Running": "Placed",
            "Scheduled": "Placed",
            "Finished": "Finished",
            "Gated": "Gated",
            "Terminating": "Terminating",
        }.get(row.status, "Pending")
        explanation.message = row.message or row.status
        explanation.node = row.node
        return explanation
    return explain(scheduler, pod)


def explain_simulated(
    cluster: Path, workload: Path | None, config: SchedulerConfiguration | None, target: str
) -> tuple[SimulationResult, Explanation]:
    result = simulate(cluster, workload, config)
    return result, explain_simulation(result, target)


async def explain_live(
    namespace: str,
    name: str,
    config: SchedulerConfiguration,
    *,
    kubeconfig: str | None = None,
    context: str | None = None,
    server: str | None = None,
    timings: dict[str, float] | None = None,
) -> Explanation:
    """Explain a pod of a live cluster: read-only (lists, one GET), then the core's answer.
    ``timings`` (when given) gets the seconds spent reading the cluster and answering."""
    from kubenexus.shell.client import KubeClient, load_configuration  # noqa: PLC0415
    from kubenexus.shell.pod_reader import read_pod  # noqa: PLC0415
    from kubenexus.shell.snapshot import SNAPSHOT_CLIENT, load_cluster  # noqa: PLC0415

    started = time.perf_counter()
    configuration = await load_configuration(kubeconfig, host=server, context=context)
    client = KubeClient(configuration, SNAPSHOT_CLIENT)
    try:
        pod, _ = await read_pod(client, namespace, name)
        scheduler = await load_cluster(client, config)
    finally:
        await client.close()
    read = time.perf_counter()
    queued = scheduler.queue.entry(pod.key)
    answer = explain(scheduler, queued.pod if queued is not None else pod)
    if timings is not None:
        timings["read"] = read - started
        timings["answer"] = time.perf_counter() - read
        timings["nodes"] = scheduler.nodes
        timings["pods"] = scheduler.cache.pod_count + len(scheduler.queue)
    return answer
