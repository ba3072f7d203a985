"""Installing the package installs `kubectl-kubenexus`, which kubectl runs as `kubectl kubenexus`."""

from __future__ import annotations

import json
import shutil
import subprocess
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
from click.testing import CliRunner

from kubenexus.kubectl_plugin import main

ROOT = Path(__file__).resolve().parents[2]


def test_the_project_declares_the_plugin_script() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["scripts"]["kubectl-kubenexus"] == "kubenexus.kubectl_plugin:main"


def _here() -> metadata.Distribution | None:
    """The installed metadata of this checkout (pip install -e . here), if that is it."""
    for dist in metadata.distributions(name="kubenexus"):
        direct = dist.read_text("direct_url.json")
        url = str(json.loads(direct).get("url", "")) if direct else ""
        if url.rstrip("/") == ROOT.as_uri() or Path(str(dist.locate_file(""))) == ROOT:
            return dist
    return None


def _installed_from_here() -> bool:
    return _here() is not None


def test_the_installed_package_has_the_entry_point() -> None:
    if not _installed_from_here():
        pytest.skip("kubenexus is installed from another checkout (pip install -e . here)")
    dist = _here()
    assert dist is not None
    scripts = {e.name: e.value for e in dist.entry_points if e.group == "console_scripts"}
    assert scripts["kubectl-kubenexus"] == "kubenexus.kubectl_plugin:main"


def test_kubectl_finds_and_runs_the_plugin() -> None:
    kubectl, script = shutil.which("kubectl"), shutil.which("kubectl-kubenexus")
    if kubectl is None:
        pytest.skip("kubectl is not installed")
    if script is None or not _installed_from_here():
        pytest.skip("kubectl-kubenexus of this checkout is not on PATH (pip install -e .)")
    done = subprocess.run(
        [kubectl, "kubenexus", "explain", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert "--context" in done.stdout
    assert "--kubeconfig" in done.stdout
    assert "-n, --namespace" in done.stdout


def test_commands_and_kubectl_flags() -> None:
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0
    assert "explain" in result.stdout
    assert "status" in result.stdout
    for command in ("explain", "status"):
        out = CliRunner().invoke(main, [command, "--help"]).stdout
        for flag in ("-n, --namespace", "--context", "--kubeconfig"):
            assert flag in out, (command, flag)


def test_an_unreachable_server_is_a_one_line_error() -> None:
    result = CliRunner().invoke(main, ["explain", "default/p", "--server", "http://127.0.0.1:9"])
    assert result.exit_code == 2
    assert result.stderr.startswith("error: 0 ClientConnectorError")
    assert len(result.stderr.strip().splitlines()) == 1


def test_kubenexus_has_the_plugins_commands_too() -> None:
    """`kubenexus explain` and `kubenexus status` are `kubectl kubenexus explain/status`."""
    from kubenexus.cli import main as kubenexus  # noqa: PLC0415

    for command in ("explain", "status"):
        result = CliRunner().invoke(kubenexus, [command, "--help"])
        assert result.exit_code == 0, (command, result.output)
        assert "--kubeconfig" in result.stdout


@pytest.mark.parametrize("flag", ["--metrics-url", "--daemon-url"])
def test_a_url_flag_that_is_no_http_url_says_so(flag: str) -> None:
    args = ["status"] if flag == "--metrics-url" else ["explain", "default/p"]
    result = CliRunner().invoke(main, [*args, "--server", "http://127.0.0.1:9", flag, "notaurl"])
    assert result.exit_code == 2
    assert result.stderr == f"error: {flag} notaurl: expected an http:// or https:// URL\n"
