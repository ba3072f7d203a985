"""`kubenexus node install-hook`: the hook's directory and its registrations on the host,
written only when they differ, replaced whole."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from kubenexus.cli import main


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
    install(built(tmp_path / "a", "v1"), host)
    (host / "opt/kubenexus/cpuset-hook/_internal/leftover.so").write_text("old")
    code, lines = install(built(tmp_path / "b", "v2"), host)
    assert code == 0
    assert lines[0] == "/opt/kubenexus/cpuset-hook: installed"
    installed = host / "opt/kubenexus/cpuset-hook"
    assert (installed / "kubenexus-cpuset-hook").read_text() == "v2"
    assert not (installed / "_internal/leftover.so").exists()
    assert sorted(p.name for p in (host / "opt/kubenexus").iterdir()) == ["cpuset-hook"]


def test_no_built_hook_is_a_clear_error(tmp_path: Path) -> None:
    code, lines = install(tmp_path / "empty", tmp_path / "host")
    assert code == 2
    assert lines == [
        f"error: {tmp_path}/empty/kubenexus-cpuset-hook: no built hook there (python -m kubenexus.node.build)"
    ]
