"""The ``kubenexus`` command: simulate, bench (and, with the daemon, run)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from kubenexus.config import SchedulerConfiguration, load_config_file
from kubenexus.errors import KubeNexusError


def _config(path: Path | None) -> SchedulerConfiguration | None:
    return load_config_file(path) if path is not None else None


config_option = click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path),
    help="KubeSchedulerConfiguration file.",
)


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
def simulate(cluster: Path, workload: Path | None, config_path: Path | None, output: str) -> None:
    """Schedule the pods of CLUSTER (and WORKLOAD) YAML files; no cluster needed."""
    from kubenexus.simulator import render_json, render_table, simulate  # noqa: PLC0415 - keep start fast

    try:
        result = simulate(cluster, workload, _config(config_path))
    except KubeNexusError as exc:
        _fail(exc)
        return
    click.echo(render_json(result) if output == "json" else render_table(result))


@main.command()
@click.option("--nodes", default=5000, show_default=True, type=click.IntRange(min=1))
@click.option("--pods", default=10000, show_default=True, type=click.IntRange(min=1))
@click.option(
    "--workload",
    type=click.Choice(["plain", "mixed", "numa", "spark", "gpu", "affinity", "preemption"]),
    default="plain",
    show_default=True,
    help="plain: requests only; mixed: selectors, taints/tolerations, GPUs too; "
    "numa: nodes with 2-8 NUMA zones, pods asking single-numa-node or best-effort; "
    "spark: --apps Spark drivers holding room for 2-16 executors each (created once the driver "
    "is placed), among --pods plain pods; "
    "gpu: CPU-only, T4, L4, A100 and H100 nodes (GPUs from labels, GPU Feature Discovery, NFD "
    "or DRA ResourceSlices), CPU and GPU pods, half of the GPU pods asking VRAM per GPU.",
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
    type=click.IntRange(min=0),
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
    type=click.IntRange(min=0),
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
    if e2e and not server:
        from kubenexus.shell.bench_real import e2e_on_real_server  # noqa: PLC0415

        e2e_on_real_server(nodes, pods, running_pods, compare=compare, repeat=repeat)
        return
    if e2e and server:
        import asyncio  # noqa: PLC0415 - keep start fast

        from kubenexus.shell.bench_e2e import render as render_e2e  # noqa: PLC0415
        from kubenexus.shell.bench_e2e import run_e2e  # noqa: PLC0415

        click.echo(render_e2e(asyncio.run(run_e2e(server, max_in_flight=max_binds_in_flight))))
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
    help="Default: in-cluster, then ~/.kube/config.",
)
@config_option
@click.option("--max-binds-in-flight", default=256, show_default=True, type=click.IntRange(min=1))
@click.option(
    "--qps",
    default=1000.0,
    show_default=True,
    type=click.FloatRange(min=0),
    help="Client-side API rate limit; 0 = none.",
)
@click.option("--burst", default=2000, show_default=True, type=click.IntRange(min=1))
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
    "--lease-namespace", help="Namespace of the Lease (default: $POD_NAMESPACE, then kube-system)."
)
@click.option("--metrics-address", default="0.0.0.0", show_default=True)
@click.option(
    "--metrics-port",
    default=8080,
    show_default=True,
    type=click.IntRange(min=0, max=65535),
    help="/metrics, /healthz, /readyz.",
)
def run(  # noqa: PLR0917 - click passes one argument per option
    kubeconfig: Path | None,
    config_path: Path | None,
    max_binds_in_flight: int,
    qps: float,
    burst: int,
    log_format: str,
    log_level: str,
    leader_elect: bool | None,
    lease_namespace: str | None,
    metrics_address: str,
    metrics_port: int,
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
    )
    client_settings = ClientSettings(qps=qps, burst=burst, connection_pool=max_binds_in_flight + 32)
    try:
        asyncio.run(
            serve(
                settings,
                kubeconfig=str(kubeconfig) if kubeconfig else None,
                client_settings=client_settings,
            )
        )
    except (KubeNexusError, ApiError) as exc:
        _fail(exc)
    except RuntimeError as exc:  # an eternal task ended (e.g. leadership lost): exit non-zero
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
