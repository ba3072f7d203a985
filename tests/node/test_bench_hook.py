"""`kubenexus node bench-hook` prints the hook's wall time per start for both cases (figures are
printed, never asserted)."""

from __future__ import annotations

import re

from click.testing import CliRunner

from kubenexus.cli import main


def test_bench_hook_prints_both_cases_and_the_goal() -> None:
    result = CliRunner().invoke(main, ["node", "bench-hook", "--runs", "2"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].endswith("-m kubenexus.node.hook")
    assert re.match(r"^no annotation\s+2\s+[\d.]+\s+[\d.]+\s+[\d.]+$", lines[2])
    assert re.match(r"^with annotation\s+2\s+[\d.]+\s+[\d.]+\s+[\d.]+$", lines[3])
    assert re.match(r"^python -I -S\s+2\s+[\d.]+\s+[\d.]+\s+[\d.]+$", lines[4])
    assert re.match(r"^goal: ≤ 50 ms with annotation \(median\): (meets|MISSES)$", lines[5])
