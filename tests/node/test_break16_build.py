"""Break test for the hook's build (issue 16): the glibc the docs promise is the one the
Dockerfile builds against."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_hook_build_stage_is_pinned_to_the_documented_debian() -> None:
    """docs/node-setup.md and the Dockerfile say the hook links against Debian 12's glibc 2.36.
    The build stage is ``python:3.11-slim``, whose Debian moved to 13 (trixie, glibc 2.41) in
    August 2025: the program then needs a newer glibc than Ubuntu 22.04 (2.35) or RHEL 9 (2.34)
    nodes have, and under containerd (the hook is in the base spec of every container) no
    container at all starts on such a node."""
    dockerfile = (ROOT / "Dockerfile").read_text()
    build_stage = re.search(r"^FROM\s+(\S+)\s+AS\s+build", dockerfile, re.MULTILINE | re.IGNORECASE)
    assert build_stage is not None
    assert "bookworm" in build_stage[1], f"build stage {build_stage[1]!r} floats with Debian"
