"""The node side's commands (``kubenexus node …``, ``kubenexus cpuset-hook``), registered on the
main command by ``kubenexus.cli``. Heavy imports happen inside each command."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from kubenexus.errors import KubeNexusError


def _fail(error: KubeNexusError) -> None:
    click.echo(f"error: {error}", err=True)
    sys.exit(2)


@click.group()
def node() -> None:
    """The node side: topology discovery, installing the cpuset hook, its benchmark."""


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
@click.option(
    "--kubeconfig",
    type=click.Path(path_type=Path),
    help="Default: in-cluster, then ~/.kube/config.",
)
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
        configuration = await load_configuration(
            str(kubeconfig) if kubeconfig else None, in_cluster_first=True
        )
        client = KubeClient(configuration)
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

    try:
        code = asyncio.run(go())
    except KubeNexusError as exc:  # credentials it cannot use: before any round
        _fail(exc)
        return
    sys.exit(code)


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
    from kubenexus.node.install import HookArgumentError  # noqa: PLC0415
    from kubenexus.node.install import install_hook as install  # noqa: PLC0415

    try:
        lines = install(source, host_root, list(hook_arg))
    except (OSError, HookArgumentError) as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    for line in lines:
        click.echo(line)


@click.command(
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
