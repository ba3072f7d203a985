"""``kubectl kubenexus``: the kubectl plugin (installed as the ``kubectl-kubenexus`` script).

``kubectl kubenexus explain ns/pod`` and ``kubectl kubenexus status`` take kubectl's usual
flags: ``-n/--namespace``, ``--context``, ``--kubeconfig``. ``kubenexus explain`` is the same
command.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import click

from kubenexus.config import SchedulerConfiguration, load_config_file
from kubenexus.errors import KubeNexusError

kubeconfig_option = click.option(
    "--kubeconfig",
    type=click.Path(path_type=Path),
    help="Path to the kubeconfig file (default: $KUBECONFIG, ~/.kube/config, then in-cluster).",
)
context_option = click.option("--context", help="The kubeconfig context to use.")
server_option = click.option(
    "--server",
    "-s",
    help="The API server's address, used without credentials (e.g. through `kubectl proxy`).",
)


def _fail(error: Exception) -> None:
    click.echo(f"error: {error}", err=True)
    sys.exit(2)


def _check_http_url(flag: str, url: str | None) -> None:
    """Refuse a URL flag that names no HTTP server before anything is read."""
    if url is not None and not url.startswith(("http://", "https://")):
        raise KubeNexusError(f"{flag} {url}: expected an http:// or https:// URL")


def _kubeconfig(path: Path | None) -> str | None:
    """The explicit file, if any: without one, $KUBECONFIG (all its files, merged as kubectl
    merges them) or ~/.kube/config is read (``kubenexus.shell.kubeconfig``)."""
    return str(path) if path is not None else None


@click.command("explain")
@click.argument("pod")
@click.option("--namespace", "-n", help="The pod's namespace when POD has none.")
@kubeconfig_option
@context_option
@server_option
@click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path),
    help="The scheduler's KubeSchedulerConfiguration (default: the built-in defaults).",
)
@click.option("--output", "-o", type=click.Choice(["text", "json"]), default="text")
@click.option(
    "--daemon-url",
    help="Ask the running daemon instead (its metrics port, e.g. through `kubectl "
    "port-forward`; the daemon runs with --serve-explain): no listing, its own state.",
)
def explain_command(  # noqa: PLR0917 - click passes one argument per option
    pod: str,
    namespace: str | None,
    kubeconfig: Path | None,
    context: str | None,
    server: str | None,
    config_path: Path | None,
    output: str,
    daemon_url: str | None,
) -> None:
    """Why POD (NAMESPACE/POD) is pending, or why it landed where it is: every node's fate,
    the closest nodes, each plugin's scores. Read-only: nothing is bound or written."""
    from kubenexus.explain import explain_live, parse_target, render_json, render_text  # noqa: PLC0415
    from kubenexus.shell.client import ApiError  # noqa: PLC0415

    try:
        _check_http_url("--daemon-url", daemon_url)
        if "/" not in pod and not namespace and server is None:
            # A bare name is read in the context's namespace, as kubectl reads it.
            from kubenexus.shell.kubeconfig import default_namespace  # noqa: PLC0415

            namespace = default_namespace(_kubeconfig(kubeconfig), context)
        target = parse_target(pod, namespace)
        if daemon_url is not None:
            from kubenexus.shell.status import ask_daemon  # noqa: PLC0415

            click.echo(asyncio.run(ask_daemon(daemon_url, "/".join(target), output)))
            return
        config = load_config_file(config_path) if config_path else SchedulerConfiguration()
        explanation = asyncio.run(
            explain_live(
                *target,
                config,
                kubeconfig=_kubeconfig(kubeconfig),
                context=context,
                server=server,
            )
        )
    except (KubeNexusError, ApiError) as exc:
        _fail(exc)
        return
    click.echo(render_json(explanation) if output == "json" else render_text(explanation))


@click.command("status")
@kubeconfig_option
@context_option
@server_option
@click.option(
    "--namespace",
    "-n",
    default="kubenexus-system",
    show_default=True,
    help="Where the scheduler runs (its leader Lease).",
)
@click.option("--lease-name", default="kubenexus-scheduler", show_default=True)
@click.option(
    "--metrics-url",
    help="The daemon's /metrics URL (e.g. through `kubectl port-forward`): queue sizes by queue.",
)
def status_command(  # noqa: PLR0917 - click passes one argument per option
    kubeconfig: Path | None,
    context: str | None,
    server: str | None,
    namespace: str,
    lease_name: str,
    metrics_url: str | None,
) -> None:
    """The scheduler's leader, pending pods and queues, gangs and reservations."""
    from kubenexus.shell.client import ApiError  # noqa: PLC0415
    from kubenexus.shell.status import read_status_live, render_status  # noqa: PLC0415

    try:
        _check_http_url("--metrics-url", metrics_url)
        status = asyncio.run(
            read_status_live(
                kubeconfig=_kubeconfig(kubeconfig),
                context=context,
                server=server,
                lease_namespace=namespace,
                lease_name=lease_name,
                metrics_url=metrics_url,
            )
        )
    except (KubeNexusError, ApiError) as exc:
        _fail(exc)
        return
    click.echo(render_status(status))


@click.group()
@click.version_option(package_name="kubenexus")
def main() -> None:
    """kubectl kubenexus: ask the KubeNexus scheduler why."""


main.add_command(explain_command)
main.add_command(status_command)

if __name__ == "__main__":
    main()
