"""`kubenexus node discover --apply` with credentials it cannot use: one line naming the file,
exit 2 — never a traceback (the DaemonSet's log is what the operator reads)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from kubenexus.cli import main
from tests.node.test_discover import two_zone_host


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (None, "no such file"),
        ("clusters: [unclosed\n", "kubeconfig"),
        ("apiVersion: v1\nkind: Config\n", "kubeconfig"),
    ],
)
def test_a_kubeconfig_it_cannot_use_is_one_line_naming_it(
    tmp_path: Path, content: str | None, expected: str
) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    if content is not None:
        kubeconfig.write_text(content)
    args = [
        "node",
        "discover",
        "--sysfs-root",
        str(two_zone_host(tmp_path)),
        "--nvidia-smi",
        "",
        "--apply",
        "--node-name",
        "n1",
        "--kubeconfig",
        str(kubeconfig),
    ]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2, (result.exception, result.stderr)
    assert result.exception is None or isinstance(result.exception, SystemExit)
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("error: ")
    assert str(kubeconfig) in line
    assert expected in line
