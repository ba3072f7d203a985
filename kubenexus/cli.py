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
@click.option("--server", help="With --e2e: API server URL holding nodes and pending pods.")
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
) -> None:
    """Print scheduling throughput, latency and memory (the core, or --e2e the whole daemon)."""
    if e2e:
        if not server:
            raise click.UsageError("--e2e needs --server URL")
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
    default=200.0,
    show_default=True,
    type=click.FloatRange(min=0),
    help="Client-side API rate limit; 0 = none.",
)
@click.option("--burst", default=400, show_default=True, type=click.IntRange(min=1))
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


# ------------------------------------------------------------------ node side (issue 16)


@main.group()
def node() -> None:
    """The node side: topology discovery and the cpuset hook's benchmark."""


@node.command()
@click.option("--sysfs-root", default="/sys", show_default=True, type=click.Path(file_okay=False))
@click.option(
    "--proc-root",
    default="/proc",
    show_default=True,
    type=click.Path(file_okay=False),
    help="For MemTotal on a kernel without NUMA.",
)
@click.option(
    "--nvidia-smi",
    default="nvidia-smi",
    show_default=True,
    help="Tool asked for NVLink (topo -m) when it exists; '' to skip.",
)
@click.option(
    "--output", "-o", type=click.Choice(["table", "json"]), default="table", show_default=True
)
@click.option("--apply", is_flag=True, help="Publish it for --node-name (only what differs).")
@click.option("--node-name", envvar="NODE_NAME", help="Node to publish for [env NODE_NAME].")
@click.option(
    "--publish",
    type=click.Choice(["labels", "nrt", "both"]),
    default="labels",
    show_default=True,
    help="labels: the node's labels/annotations (with CPU ids); nrt: a NodeResourceTopology "
    "when its CRD is served (no CPU ids: the scheduler then pins no CPUs); both.",
)
@click.option("--kubeconfig", type=click.Path(path_type=Path), help="Default: in-cluster.")
@click.option(
    "--interval",
    default=0.0,
    show_default=True,
    type=click.FloatRange(min=0),
    help="With --apply: seconds between rounds; 0 = once.",
)
def discover(  # noqa: PLR0917 - click passes one argument per option
    sysfs_root: str,
    proc_root: str,
    nvidia_smi: str,
    output: str,
    apply: bool,
    node_name: str | None,
    publish: str,
    kubeconfig: Path | None,
    interval: float,
) -> None:
    """Print this host's NUMA zones, GPUs and NICs, and publish them with --apply."""
    from kubenexus.node import discover as found  # noqa: PLC0415 - keep start fast

    def read() -> found.Discovery:
        return found.discover(sysfs_root, proc_root, nvidia_smi or None)

    try:
        result = read()
    except KubeNexusError as exc:
        _fail(exc)
        return
    click.echo(found.render_json(result) if output == "json" else found.render_table(result))
    if not apply:
        return
    if not node_name:
        raise click.UsageError("--apply needs --node-name (or NODE_NAME)")
    import asyncio  # noqa: PLC0415

    from kubenexus.node.publish import publish_loop  # noqa: PLC0415
    from kubenexus.shell.client import KubeClient, load_configuration  # noqa: PLC0415

    async def go() -> int:
        client = KubeClient(await load_configuration(str(kubeconfig) if kubeconfig else None))
        try:
            return await publish_loop(
                client,
                node_name,
                read,
                what=publish,
                interval=interval,
                report=lambda line: click.echo(line, err=True),
            )
        finally:
            await client.close()

    sys.exit(asyncio.run(go()))


@node.command("bench-hook")
@click.option("--runs", default=30, show_default=True, type=click.IntRange(min=1))
@click.option(
    "--executable",
    type=click.Path(exists=True, dir_okay=False),
    help="A built hook (e.g. dist/kubenexus-cpuset-hook); default: this Python, the module.",
)
def bench_hook(runs: int, executable: str | None) -> None:
    """Print the cpuset hook's wall time per container start (no annotation / with one)."""
    from kubenexus.node.bench_hook import bench_hook as measure  # noqa: PLC0415
    from kubenexus.node.bench_hook import default_command, render  # noqa: PLC0415

    command = [executable] if executable else default_command()
    click.echo(render(command, measure(command, runs)))


@node.command("install-hook")
@click.option(
    "--source",
    default="/opt/kubenexus/cpuset-hook",
    show_default=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="The built hook's directory (python -m kubenexus.node.build).",
)
@click.option(
    "--host-root",
    default="/host",
    show_default=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Where the host's directories are mounted.",
)
@click.option(
    "--hook-arg",
    multiple=True,
    help="Option for the hook, e.g. --hook-arg=--cgroup-driver=systemd (repeatable).",
)
def install_hook(source: Path, host_root: Path, hook_arg: tuple[str, ...]) -> None:
    """Install the cpuset hook on this node and register it (CRI-O hooks.d; containerd
    snippets in /etc/kubenexus). Writes only what differs."""
    from kubenexus.node.install import install_hook as install  # noqa: PLC0415

    try:
        lines = install(source, host_root, list(hook_arg))
    except OSError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    for line in lines:
        click.echo(line)


@main.command(
    "cpuset-hook",
    context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
    add_help_option=False,
)
@click.pass_context
def cpuset_hook(ctx: click.Context) -> None:
    """The OCI createRuntime hook (state on stdin). On nodes install the faster standalone
    `kubenexus-cpuset-hook` (see docs/node-setup.md); options: --cgroup-root, --sysfs-root,
    --cgroup-driver, --cgroup-version."""
    from kubenexus.node.hook import run as run_hook  # noqa: PLC0415

    sys.exit(run_hook(ctx.args, sys.stdin))


if __name__ == "__main__":
    main()
