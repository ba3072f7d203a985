"""`kubenexus node install-hook`: the hook's directory and its registrations on the host,
written only when they differ, replaced whole by one atomic switch (never a moment without a
hook)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from kubenexus.cli import main
from kubenexus.node import install as install_module
from kubenexus.node.build import NAME


def built(tmp: Path, content: str) -> Path:
    source = tmp / "dist/kubenexus-cpuset-hook"
    (source / "_internal").mkdir(parents=True, exist_ok=True)
    program = source / "kubenexus-cpuset-hook"
    program.write_text(content)
    program.chmod(0o755)
    (source / "_internal/libpython.so").write_text("lib " + content)
    return source


def install(source: Path, host: Path, *args: str) -> tuple[int, list[str]]:
    result = CliRunner().invoke(
        main, ["node", "install-hook", "--source", str(source), "--host-root", str(host), *args]
    )
    return result.exit_code, (result.stdout + result.stderr).splitlines()


def test_installs_registers_and_then_changes_nothing(tmp_path: Path) -> None:
    source, host = built(tmp_path, "v1"), tmp_path / "host"
    code, lines = install(source, host, "--hook-arg=--cgroup-driver=systemd")
    assert code == 0
    assert lines == [
        "/opt/kubenexus/cpuset-hook: installed",
        "/etc/containers/oci/hooks.d/kubenexus-cpuset.json: written",
        "/etc/kubenexus/containerd-hooks.json: written",
        "/etc/kubenexus/containerd-config.toml: written",
    ]
    program = host / "opt/kubenexus/cpuset-hook/kubenexus-cpuset-hook"
    assert program.read_text() == "v1"
    assert program.stat().st_mode & 0o111
    crio = json.loads((host / "etc/containers/oci/hooks.d/kubenexus-cpuset.json").read_text())
    assert crio == {
        "version": "1.0.0",
        "hook": {
            "path": "/opt/kubenexus/cpuset-hook/kubenexus-cpuset-hook",
            "args": ["kubenexus-cpuset-hook", "--cgroup-driver=systemd"],
            "timeout": 5,
        },
        "when": {"annotations": {"^cpu-set$": ".+"}},
        "stages": ["createRuntime"],
    }
    hooks = json.loads((host / "etc/kubenexus/containerd-hooks.json").read_text())
    assert (
        hooks["hooks"]["createRuntime"][0]["path"]
        == "/opt/kubenexus/cpuset-hook/kubenexus-cpuset-hook"
    )
    toml = (host / "etc/kubenexus/containerd-config.toml").read_text()
    assert 'pod_annotations = ["cpu-set", "numa.kubenexus.io/zones"]' in toml
    assert '[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]' in toml

    mtime = program.stat().st_mtime_ns
    code, lines = install(source, host, "--hook-arg=--cgroup-driver=systemd")
    assert code == 0
    assert all(line.endswith("up to date") for line in lines), lines
    assert program.stat().st_mtime_ns == mtime


def test_a_new_build_replaces_the_whole_directory(tmp_path: Path) -> None:
    host = tmp_path / "host"
    installed = host / "opt/kubenexus/cpuset-hook"

    def listing() -> list[str]:
        return sorted(p.name for p in (host / "opt/kubenexus").iterdir())

    install(built(tmp_path / "a", "v1"), host)
    first = os.readlink(installed)
    (installed / "_internal/leftover.so").write_text("old")
    code, lines = install(built(tmp_path / "b", "v2"), host)
    assert code == 0
    assert lines[0] == "/opt/kubenexus/cpuset-hook: installed"
    assert (installed / "kubenexus-cpuset-hook").read_text() == "v2"
    assert not (installed / "_internal/leftover.so").exists()
    # The path is a relative symlink to each build's own directory; the previous build stays (a
    # hook started from it a moment ago still loads its libraries) until the next install.
    second = os.readlink(installed)
    assert second.startswith("cpuset-hook-")
    assert listing() == sorted(["cpuset-hook", first, second])
    install(built(tmp_path / "c", "v3"), host)
    third = os.readlink(installed)
    assert (installed / "kubenexus-cpuset-hook").read_text() == "v3"
    assert listing() == sorted(["cpuset-hook", second, third])


def test_the_directory_of_the_layout_before_becomes_the_symlink(tmp_path: Path) -> None:
    host = tmp_path / "host"
    installed = host / "opt/kubenexus/cpuset-hook"
    (installed / "_internal").mkdir(parents=True)
    (installed / "kubenexus-cpuset-hook").write_text("old layout")
    code, lines = install(built(tmp_path, "v2"), host)
    assert code == 0
    assert lines[0] == "/opt/kubenexus/cpuset-hook: installed"
    assert installed.is_symlink()
    assert (installed / "kubenexus-cpuset-hook").read_text() == "v2"
    assert sorted(p.name for p in (host / "opt/kubenexus").iterdir()) == sorted(
        ["cpuset-hook", os.readlink(installed)]
    )


def test_no_built_hook_is_a_clear_error(tmp_path: Path) -> None:
    code, lines = install(tmp_path / "empty", tmp_path / "host")
    assert code == 2
    assert lines == [
        f"error: {tmp_path}/empty/kubenexus-cpuset-hook: no built hook there (python -m kubenexus.node.build)"
    ]


@pytest.mark.parametrize("before", ["symlink", "directory"])
def test_the_hook_is_never_missing_while_a_new_build_is_installed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, before: str
) -> None:
    """containerd and CRI-O fail every container start while the hook's path does not exist:
    after each step of an install (from our symlink, or from the real directory of the layout
    before) the path runs the old build or the new one."""
    host = tmp_path / "host"
    program = host / install_module.HOOK_PATH.lstrip("/")
    for version in ("v1", "v2"):
        source = tmp_path / version
        source.mkdir()
        (source / NAME).write_text(version)
    if before == "symlink":
        install_module.install_hook(tmp_path / "v1", host, [])
    else:
        program.parent.mkdir(parents=True)
        program.write_text("v1")
    seen: list[str] = []

    def watched(step: Any) -> Any:
        def run(*args: Any, **kwargs: Any) -> Any:
            result = step(*args, **kwargs)
            seen.append(program.read_text() if program.exists() else "(missing)")
            return result

        return run

    monkeypatch.setattr(os, "replace", watched(os.replace))
    monkeypatch.setattr(install_module, "_exchange", watched(install_module._exchange))
    monkeypatch.setattr(shutil, "rmtree", watched(shutil.rmtree))
    install_module.install_hook(tmp_path / "v2", host, [])
    monkeypatch.undo()
    assert program.read_text() == "v2"
    assert "(missing)" not in seen
    assert seen[-1] == "v2"
    assert set(seen) == {"v1", "v2"}
