"""Without KUBEBUILDER_ASSETS the real-server variants are not generated, tests/real is not
collected, and one line says how to enable them (README's test command passes anywhere)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_suite_says_once_how_to_enable_the_real_server_and_runs_the_rest() -> None:
    env = {k: v for k, v in os.environ.items() if k != "KUBEBUILDER_ASSETS"}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "--collect-only",
            "tests/integration/test_daemon.py",
            "tests/real",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    assert "[emulator]" in out
    assert "[real]" not in out
    assert "tests/real/" not in out
    assert out.count("real API server tests skipped: set KUBEBUILDER_ASSETS") == 1
