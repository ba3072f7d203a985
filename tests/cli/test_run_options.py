"""`kubenexus run`: the configuration's clientConnection (as kube-scheduler reads it) sets the
daemon's credentials and API rate limit; the command-line flags win over it."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from kubenexus.cli import client_connection, main
from kubenexus.config import parse_config


def test_client_connection_comes_from_the_config_unless_a_flag_says_otherwise() -> None:
    config = parse_config(
        {"clientConnection": {"kubeconfig": "/etc/k/sched.conf", "qps": 50, "burst": 100}}
    )
    assert client_connection(config, None, None, None) == ("/etc/k/sched.conf", 50.0, 100)
    assert client_connection(config, Path("/tmp/k"), 0.0, 7) == ("/tmp/k", 0.0, 7)
    assert client_connection(parse_config({}), None, None, None) == (None, 1000.0, 2000)


def test_run_refuses_a_bad_client_connection_in_one_line(tmp_path: Path) -> None:
    config = tmp_path / "sched.yaml"
    config.write_text("clientConnection: {qps: -1}\n")
    result = CliRunner().invoke(main, ["run", "--config", str(config)])
    assert result.exit_code == 2
    assert (
        result.stderr
        == f"error: {config}: clientConnection.qps: Input should be greater than or equal to 0 (got -1)\n"
    )


def test_qps_must_be_a_finite_number() -> None:
    for value in ("nan", "inf"):
        result = CliRunner().invoke(main, ["run", "--qps", value])
        assert result.exit_code == 2, (value, result.output)
        assert f"Invalid value for '--qps': {value} is not a finite number" in result.output
