"""The hook's build: the glibc the docs promise is the one the Dockerfile builds against, and
the docs say what a hook that cannot run does to a node."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_hook_build_stage_is_pinned_to_the_documented_debian() -> None:
    """docs/node-setup.md and the Dockerfile say the hook links against Debian 12's glibc 2.36:
    the build stage names bookworm, never the floating ``python:3.11-slim`` (Debian 13, glibc
    2.41, since August 2025, which Ubuntu 22.04 or RHEL 9 nodes cannot run)."""
    dockerfile = (ROOT / "Dockerfile").read_text()
    build_stage = re.search(r"^FROM\s+(\S+)\s+AS\s+build", dockerfile, re.MULTILINE | re.IGNORECASE)
    assert build_stage is not None
    assert "bookworm" in build_stage[1], f"build stage {build_stage[1]!r} floats with Debian"


def test_the_docs_say_which_glibc_the_hook_needs_and_what_a_broken_hook_does() -> None:
    docs = " ".join((ROOT / "docs/node-setup.md").read_text().split())
    assert "the node needs 2.36 or newer" in docs
    assert "`python:3.11-slim-bookworm`, glibc 2.36" in docs
    assert "A hook that cannot run blocks container starts" in docs
    assert "stops every new container on the node" in docs
