"""`--hook-arg` is checked before anything is written: a hook registered with an option it
refuses fails every container start (under containerd: every container of the node, system
pods included, since the hook runs for all of them)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.node.test_install import built, install


@pytest.mark.parametrize(
    ("hook_arg", "reason"),
    [
        ("--cgroup-driver=nonsense", "--cgroup-driver: expected auto, cgroupfs or systemd"),
        ("--cgroup-version=3", "--cgroup-version: expected auto, 1 or 2"),
        ("--bogus", "unknown option '--bogus'"),
        ("--cgroup-root", "option --cgroup-root needs a value"),
    ],
)
def test_an_option_the_hook_refuses_is_refused_and_nothing_written(
    tmp_path: Path, hook_arg: str, reason: str
) -> None:
    host = tmp_path / "host"
    code, lines = install(built(tmp_path, "v1"), host, f"--hook-arg={hook_arg}")
    assert code == 2, lines
    [line] = lines
    assert line.startswith(f"error: --hook-arg {hook_arg!r}: {reason}"), line
    assert not host.exists() or not any(host.rglob("*"))


def test_good_options_are_registered(tmp_path: Path) -> None:
    host = tmp_path / "host"
    code, lines = install(
        built(tmp_path, "v1"),
        host,
        "--hook-arg=--cgroup-driver=systemd",
        "--hook-arg",
        "--cgroup-version",
        "--hook-arg",
        "2",
    )
    assert code == 0, lines
    hooks = (host / "etc/kubenexus/containerd-hooks.json").read_text()
    assert '"--cgroup-driver=systemd"' in hooks
    assert '"--cgroup-version",\n          "2"' in hooks
