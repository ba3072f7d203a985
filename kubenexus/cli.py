"""The ``kubenexus`` command: simulate, bench, run (the daemon), explain, status, node."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import click

from kubenexus.config import SchedulerConfiguration, load_config_file
from kubenexus.errors import KubeNexusError
from kubenexus.kubectl_plugin import explain_command, status_command
from kubenexus.node.commands import cpuset_hook, node


def _config(path: Path | None) -> SchedulerConfiguration | None:
    return load_config_file(path) if path is not None else None


config_option = click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path),
    help="KubeSchedulerConfiguration file.",
)


# Largest synthetic clusters the benchmarks build: 20x the nodes Kubernetes supports, more pods
# than any documented run; above, a typo would fill the machine's memory.
MAX_BENCH_NODES = 100_000
MAX_BENCH_PODS = 2_000_000
NODES = click.IntRange(min=1, max=MAX_BENCH_NODES)
PODS = click.IntRange(min=0, max=MAX_BENCH_PODS)

# The daemon's API rate limit when neither a flag nor clientConnection sets it (docs/install.md).
DEFAULT_QPS = 1000.0
DEFAULT_BURST = 2000


def client_connection(
    config: SchedulerConfiguration, kubeconfig: Path | None, qps: float | None, burst: int | None
) -> tuple[str | None, float, int]:
    """(kubeconfig, qps, burst) of ``kubenexus run``: each flag given, else the configuration's
    ``clientConnection``, else the default (kubeconfig: in-cluster, then ~/.kube/config)."""
    given = config.client_connection
    path = str(kubeconfig) if kubeconfig is not None else (given.kubeconfig or None)
    return (
        path,
        qps if qps is not None else (given.qps if given.qps is not None else DEFAULT_QPS),
        burst if burst is not None else (given.burst or DEFAULT_BURST),
    )


def _finite(_: click.Context, param: click.Parameter, value: float | None) -> float | None:
    """FloatRange lets nan and inf through (no comparison refuses them)."""
    if value is not None and not math.isfinite(value):
        raise click.BadParameter(f"{value} is not a finite number", param=param)
    return value


def _fail(error: KubeNexusError) -> None:
    click.echo(f"error: {error}", err=True)
    sys.exit(2)


@click.group()
@click.version_option(package_name="kubenexus")
def main() -> None:
    """KubeNexus: a Kubernetes scheduler for ML/AI, HPC and batch workloads."""


@main.command()
@click.argument("cluster", type=click.Path(path_type=Path))
@click.argument("workload", required=False, type=click.Path(path_type=Path))
@config_option
@click.option(
    "--output", "-o", type=click.Choice(["table", "json"]), default="table", show_default=True
)
@click.option(
    "--explain",
    "explain_pod",
    metavar="NAMESPACE/POD",
    help="After the run, explain this pod (as `kubenexus explain`) instead of the tables.",
)
@click.option(
    "--report",
    "report_path",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Also write the run as one self-contained HTML file.",
)
def simulate(  # noqa: PLR0917 - click passes one argument per option
    cluster: Path,
    workload: Path | None,
    config_path: Path | None,
    output: str,
    explain_pod: str | None,
    report_path: Path | None,
) -> None:
    """Schedule the pods of CLUSTER (and WORKLOAD) YAML files; no cluster needed."""
    from kubenexus.simulator import render_json, render_table, simulate  # noqa: PLC0415 - keep start fast

    try:
        result = simulate(cluster, workload, _config(config_path))
        if report_path is not None:
            from kubenexus.report import write_report  # noqa: PLC0415

            write_report(result, report_path)
        if explain_pod is not None:
            from kubenexus import explain  # noqa: PLC0415

            answer = explain.explain_simulation(result, explain_pod)
            text = explain.render_json(answer) if output == "json" else explain.render_text(answer)
            click.echo(text)
            return
    except KubeNexusError as exc:
        _fail(exc)
        return
    click.echo(render_json(result) if output == "json" else render_table(result))


@main.command()
@click.option("--nodes", default=5000, show_default=True, type=NODES)
@click.option(
    "--pods", default=10000, show_default=True, type=click.IntRange(min=1, max=MAX_BENCH_PODS)
)
@click.option(
    "--workload",
    type=click.Choice(
        ["plain", "mixed", "numa", "spark", "gpu", "affinity", "preemption", "tenants"]
    ),
    default="plain",
    show_default=True,
    help="plain: requests only; mixed: selectors, taints/tolerations, GPUs too; "
    "numa: nodes with 2-8 NUMA zones, pods asking single-numa-node or best-effort; "
    "spark: --apps Spark drivers holding room for 2-16 executors each (created once the driver "
    "is placed), among --pods plain pods; "
    "gpu: CPU-only, T4, L4, A100 and H100 nodes (GPUs from labels, GPU Feature Discovery, NFD "
    "or DRA ResourceSlices), CPU and GPU pods, half of the GPU pods asking VRAM per GPU; "
    "tenants: gold/silver/bronze namespaces on H100/A100/L4 nodes with fabrics and cliques, "
    "every workload-profile plugin on.",
)
@click.option(
    "--repeat",
    default=3,
    show_default=True,
    type=click.IntRange(min=1),
    help="Runs; the median is reported.",
)
@click.option("--seed", default=1, show_default=True, type=int)
@config_option
@click.option("--numa", is_flag=True, help="Same as --workload numa.")
@click.option(
    "--gang-size",
    default=0,
    show_default=True,
    type=click.IntRange(min=0),
    help="Group the pods into gangs of this size (all-or-nothing); 0 = no gangs.",
)
@click.option(
    "--unschedulable",
    default=0,
    show_default=True,
    type=PODS,
    help="A backlog of pods that fit nowhere, waiting in the unschedulable pool during the run "
    "(with one no-op node heartbeat per 100 decisions, as kubelets send).",
)
@click.option(
    "--apps",
    default=1000,
    show_default=True,
    type=click.IntRange(min=0),
    help="With --workload spark: Spark applications (a driver and its executors).",
)
@click.option(
    "--e2e", is_flag=True, help="Run the whole daemon against --server instead of the core alone."
)
@click.option(
    "--server",
    help="With --e2e: API server URL holding nodes and pending pods (default: start etcd and "
    "kube-apiserver from KUBEBUILDER_ASSETS and create --nodes and --pods there).",
)
@click.option(
    "--compare",
    is_flag=True,
    help="With --e2e: also run kube-scheduler and a bind-only client on the same server.",
)
@click.option(
    "--running-pods",
    default=0,
    show_default=True,
    type=PODS,
    help="With --e2e: pods already running on the nodes (counted, not scheduled).",
)
@click.option("--max-binds-in-flight", default=256, show_default=True, type=click.IntRange(min=1))
def bench(  # noqa: PLR0917 - click passes one argument per option
    nodes: int,
    pods: int,
    workload: str,
    repeat: int,
    seed: int,
    config_path: Path | None,
    numa: bool,
    gang_size: int,
    unschedulable: int,
    apps: int,
    e2e: bool,
    server: str | None,
    max_binds_in_flight: int,
    compare: bool,
    running_pods: int,
) -> None:
    """Print scheduling throughput, latency and memory (the core, or --e2e the whole daemon)."""
    e2e_only = {"--compare": compare, "--server": server, "--running-pods": running_pods}
    for flag, given in e2e_only.items():
        if given and not e2e:
            raise click.UsageError(f"{flag} needs --e2e (it measures the whole daemon)")
    if e2e and not server:
        from kubenexus.shell.bench_real import e2e_on_real_server  # noqa: PLC0415

        try:
            e2e_on_real_server(nodes, pods, running_pods, compare=compare, repeat=repeat)
        except KubeNexusError as exc:
            _fail(exc)
        return
    if e2e and server:
        import asyncio  # noqa: PLC0415 - keep start fast

        from kubenexus.shell.bench_e2e import render as render_e2e  # noqa: PLC0415
        from kubenexus.shell.bench_e2e import run_e2e  # noqa: PLC0415

        try:
            e2e_report = asyncio.run(run_e2e(server, max_in_flight=max_binds_in_flight))
        except KubeNexusError as exc:
            _fail(exc)
            return
        click.echo(render_e2e(e2e_report))
        return
    if workload == "spark" and (numa or gang_size or unschedulable):
        raise click.UsageError(
            "--workload spark takes neither --numa, --gang-size nor --unschedulable"
        )
    from kubenexus.bench import render, run_bench  # noqa: PLC0415 - keep start fast

    try:
        config = _config(config_path)
    except KubeNexusError as exc:
        _fail(exc)
        return
    report = run_bench(
        nodes=nodes,
        pods=pods,
        workload="numa" if numa else workload,
        repeat=repeat,
        seed=seed,
        config=config,
        gang_size=gang_size,
        unschedulable=unschedulable,
        apps=apps,
    )
    click.echo(render(report))


@main.command()
@click.option(
    "--kubeconfig",
    type=click.Path(path_type=Path),
    help="Default: the config's clientConnection.kubeconfig, in-cluster, then ~/.kube/config.",
)
@config_option
@click.option(
    "--max-binds-in-flight",
    default=256,
    show_default=True,
    type=click.IntRange(min=1),
    help="Concurrent Bindings (each holds one connection: see docs/install.md).",
)
@click.option(
    "--qps",
    type=click.FloatRange(min=0),
    callback=_finite,
    help="Client-side API rate limit; 0 = none (default: the config's clientConnection.qps, "
    "else 1000).",
)
@click.option(
    "--burst",
    type=click.IntRange(min=1),
    help="Default: the config's clientConnection.burst, else 2000.",
)
@click.option(
    "--log-format",
    type=click.Choice(["auto", "json", "console"]),
    default="auto",
    show_default=True,
)
@click.option(
    "--log-level",
    type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"]),
    default="INFO",
    show_default=True,
)
@click.option(
    "--leader-elect/--no-leader-elect",
    default=None,
    help="Lease-based leader election (default: the config's leaderElection.leaderElect, true).",
)
@click.option(
    "--lease-namespace",
    help="Namespace of the Lease (default: the config's leaderElection.resourceNamespace, "
    "$POD_NAMESPACE, then kube-system).",
)
@click.option("--metrics-address", default="0.0.0.0", show_default=True)
@click.option(
    "--metrics-port",
    default=8080,
    show_default=True,
    type=click.IntRange(min=0, max=65535),
    help="/metrics, /healthz, /readyz.",
)
@click.option(
    "--score-annotation",
    is_flag=True,
    help="Write each placed pod's score breakdown (chosen node, runner-up, per plugin) in the "
    "annotation scheduling.kubenexus.io/score-breakdown. Off: it costs a little per pod.",
)
@click.option(
    "--serve-explain",
    is_flag=True,
    help="Answer GET /explain?pod=NS/NAME on the metrics port from the daemon's own state "
    "(`kubectl kubenexus explain --daemon-url`). Off: it names pods and nodes to whoever "
    "reaches the port.",
)
def run(  # noqa: PLR0917 - click passes one argument per option
    kubeconfig: Path | None,
    config_path: Path | None,
    max_binds_in_flight: int,
    qps: float | None,
    burst: int | None,
    log_format: str,
    log_level: str,
    leader_elect: bool | None,
    lease_namespace: str | None,
    metrics_address: str,
    metrics_port: int,
    score_annotation: bool,
    serve_explain: bool,
) -> None:
    """Run the scheduler daemon against a cluster."""
    import asyncio  # noqa: PLC0415 - keep start fast
    import os  # noqa: PLC0415

    from kubenexus.config import SchedulerConfiguration  # noqa: PLC0415
    from kubenexus.logging import configure_logging  # noqa: PLC0415
    from kubenexus.shell.app import DaemonSettings, serve  # noqa: PLC0415
    from kubenexus.shell.binder import BinderSettings  # noqa: PLC0415
    from kubenexus.shell.client import ApiError, ClientSettings  # noqa: PLC0415
    from kubenexus.shell.leader import LeaderSettings  # noqa: PLC0415

    configure_logging(
        json_output=None if log_format == "auto" else log_format == "json", level=log_level
    )
    try:
        config = _config(config_path) or SchedulerConfiguration()
    except KubeNexusError as exc:
        _fail(exc)
        return
    election = config.leader_election
    leader = None
    if election.leader_elect if leader_elect is None else leader_elect:
        namespace = (
            lease_namespace
            or election.resource_namespace
            or os.environ.get("POD_NAMESPACE")
            or "kube-system"
        )
        leader = LeaderSettings(
            namespace=namespace,
            name=election.resource_name,
            lease_duration=election.lease_duration,
            renew_deadline=election.renew_deadline,
            retry_period=election.retry_period,
        )
    settings = DaemonSettings(
        scheduler=config,
        binder=BinderSettings(max_in_flight=max_binds_in_flight),
        leader=leader,
        metrics_address=metrics_address,
        metrics_port=metrics_port,
        score_annotation=score_annotation,
        serve_explain=serve_explain,
        tune_process=True,
    )
    kubeconfig_path, qps, burst = client_connection(config, kubeconfig, qps, burst)
    client_settings = ClientSettings(qps=qps, burst=burst, connection_pool=max_binds_in_flight + 32)
    try:
        asyncio.run(serve(settings, kubeconfig=kubeconfig_path, client_settings=client_settings))
    except (KubeNexusError, ApiError) as exc:
        _fail(exc)
    except RuntimeError as exc:  # an eternal task ended (e.g. leadership lost): exit non-zero
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)


# The node side (docs/node-setup.md): `kubenexus node …` and `kubenexus cpuset-hook`.
main.add_command(node)
main.add_command(cpuset_hook)


@main.command("bench-explain")
@click.option("--nodes", default=5000, show_default=True, type=NODES)
@click.option("--pods", default=10000, show_default=True, type=PODS)
@click.option("--repeat", default=5, show_default=True, type=click.IntRange(min=1))
@click.option("--seed", default=1, show_default=True, type=int)
@click.option(
    "--gang-size",
    default=1024,
    show_default=True,
    type=click.IntRange(min=0),
    help="Members of the large gang explained (0: none).",
)
@config_option
@click.option("--pod", metavar="NAMESPACE/POD", help="Time explaining this pod of a live cluster.")
@click.option("--kubeconfig", type=click.Path(path_type=Path), help="With --pod.")
@click.option("--context", help="With --pod.")
@click.option("--server", help="With --pod: an API server address used without credentials.")
def bench_explain(  # noqa: PLR0917 - click passes one argument per option
    nodes: int,
    pods: int,
    repeat: int,
    seed: int,
    gang_size: int,
    config_path: Path | None,
    pod: str | None,
    kubeconfig: Path | None,
    context: str | None,
    server: str | None,
) -> None:
    """Print how long `kubenexus explain` takes to answer: on a synthetic cluster (the core's
    share), or with --pod against a live one (reading it, then answering)."""
    from kubenexus import bench_explain as bench  # noqa: PLC0415 - keep start fast

    try:
        config = _config(config_path)
        if pod is not None:
            import asyncio  # noqa: PLC0415

            from kubenexus.explain import parse_target  # noqa: PLC0415

            live = bench.run_live_explain_bench(
                parse_target(pod),
                config or SchedulerConfiguration(),
                repeat=repeat,
                kubeconfig=str(kubeconfig) if kubeconfig else None,
                context=context,
                server=server,
            )
            click.echo(bench.render_live(asyncio.run(live)))
            return
    except KubeNexusError as exc:
        _fail(exc)
        return
    figures = bench.run_explain_bench(
        nodes=nodes, pods=pods, repeat=repeat, seed=seed, config=config, gang_size=gang_size
    )
    click.echo(bench.render(figures))


# `kubenexus explain` and `kubenexus status` are the kubectl plugin's commands
# (kubenexus/kubectl_plugin.py).
main.add_command(explain_command)
main.add_command(status_command)

if __name__ == "__main__":
    main()
