"""The cpuset OCI hook against temporary cgroup trees: v1 and v2, cgroupfs and systemd drivers;
bad annotations, CPUs that do not exist and paths that leave the cgroup root write nothing."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from kubenexus.api.topology import format_cpu_list, parse_cpu_list
from kubenexus.cli import main
from kubenexus.node.hook import USAGE, loads, run
from kubenexus.node.sysfs import SysfsError, format_cpus, parse_cpus
from tests.node.hosts import FakeSysfs, cgroup_tree, oci_state

GIB = 2**30


@pytest.fixture
def sysfs(tmp_path: Path) -> Path:
    """Two zones: CPUs 0-7 (node 0) and 8-15 (node 1); CPUs 14-15 offline."""
    return (
        FakeSysfs(tmp_path).node(0, "0-7", 8 * GIB).node(1, "8-15", 8 * GIB).online("0-13").build()
    )


def hook(stdin: str, *options: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = run(list(options), io.StringIO(stdin))
    return code, capsys.readouterr().err.strip()


def tree_files(root: Path) -> dict[str, str]:
    """Every file under root and its content (to prove nothing was written)."""
    return {str(p.relative_to(root)): p.read_text() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("version", [1, 2])
@pytest.mark.parametrize("driver", ["cgroupfs", "systemd"])
def test_pins_cpus_and_memory_nodes(
    tmp_path: Path, sysfs: Path, version: int, driver: str, capsys: pytest.CaptureFixture[str]
) -> None:
    cgroup, path, leaf = cgroup_tree(tmp_path, version, driver)
    state = oci_state(tmp_path, {"cpu-set": "8-11", "numa.kubenexus.io/zones": "1"}, path)
    code, err = hook(state, "--cgroup-root", str(cgroup), "--sysfs-root", str(sysfs), capsys=capsys)
    assert (code, err) == (0, "")
    assert (leaf / "cpuset.cpus").read_text() == "8-11"
    assert (leaf / "cpuset.mems").read_text() == "1"


def test_explicit_driver_and_version_options(
    tmp_path: Path, sysfs: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cgroup, path, leaf = cgroup_tree(tmp_path, 1, "systemd")
    state = oci_state(tmp_path, {"cpu-set": "0,2,4"}, path)
    options = [
        "--cgroup-root",
        str(cgroup),
        "--sysfs-root",
        str(sysfs),
        "--cgroup-driver=systemd",
        "--cgroup-version",
        "1",
    ]
    assert hook(state, *options, capsys=capsys) == (0, "")
    assert (leaf / "cpuset.cpus").read_text() == "0,2,4"
    assert (leaf / "cpuset.mems").read_text() == ""  # no zones annotation: mems left alone


def test_spec_from_the_bundle_when_the_state_has_no_annotations(
    tmp_path: Path, sysfs: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cgroup, path, leaf = cgroup_tree(tmp_path, 2, "cgroupfs")
    state = oci_state(
        tmp_path, {"cpu-set": "0-1,4", "numa.kubenexus.io/zones": "0"}, path, in_state=False
    )
    assert hook(state, "--cgroup-root", str(cgroup), "--sysfs-root", str(sysfs), capsys=capsys) == (
        0,
        "",
    )
    assert (leaf / "cpuset.cpus").read_text() == "0-1,4"
    assert (leaf / "cpuset.mems").read_text() == "0"


def test_a_whole_spec_on_stdin_as_seed_004_reads_it(
    tmp_path: Path, sysfs: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cgroup, path, leaf = cgroup_tree(tmp_path, 2, "systemd")
    spec = json.dumps(
        {
            "annotations": {"cpu-set": "0-7,8-13", "numa.kubenexus.io/zones": "0,1"},
            "linux": {"cgroupsPath": path},
        }
    )
    assert hook(spec, "--cgroup-root", str(cgroup), "--sysfs-root", str(sysfs), capsys=capsys) == (
        0,
        "",
    )
    assert (leaf / "cpuset.cpus").read_text() == "0-13"
    assert (leaf / "cpuset.mems").read_text() == "0-1"


def test_no_annotation_leaves_the_container_alone_without_reading_anything(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Neither the bundle, sysfs nor the cgroup root exist: the hook must not look.
    state = json.dumps(
        {
            "ociVersion": "1.2.0",
            "id": "x",
            "bundle": str(tmp_path / "gone"),
            "annotations": {"other": "1"},
        }
    )
    assert hook(
        state,
        "--cgroup-root",
        str(tmp_path / "none"),
        "--sysfs-root",
        str(tmp_path / "none"),
        capsys=capsys,
    ) == (0, "")
    cgroup, path, _leaf = cgroup_tree(tmp_path, 2, "cgroupfs")
    state = oci_state(tmp_path, {}, path, in_state=False)
    assert hook(state, "--cgroup-root", str(cgroup), capsys=capsys) == (0, "")
    assert tree_files(cgroup)["kubepods/pod1234_abcd/c0ffee/cpuset.cpus"] == ""


BAD = [
    (
        {"cpu-set": "0-3,abc"},
        "annotation cpu-set: invalid CPU list '0-3,abc' (expected e.g. 0-15,32-47)",
    ),
    ({"cpu-set": ""}, "annotation cpu-set: empty CPU list"),
    ({"cpu-set": "7-3"}, "annotation cpu-set: invalid CPU range '7-3' in '7-3'"),
    ({"cpu-set": "0-3;rm -rf /"}, "annotation cpu-set: invalid CPU list"),
    (
        {"cpu-set": "12-15"},
        "annotation cpu-set '12-15': CPUs 14-15 are not online on this host (online: 0-13)",
    ),
    ({"cpu-set": "64"}, "annotation cpu-set '64': CPUs 64 are not online on this host"),
    (
        {"cpu-set": "0-3", "numa.kubenexus.io/zones": "zero"},
        "annotation numa.kubenexus.io/zones: expected zone numbers like 0,1, got 'zero'",
    ),
    (
        {"cpu-set": "0-3", "numa.kubenexus.io/zones": "-1"},
        "annotation numa.kubenexus.io/zones: expected zone numbers like 0,1, got '-1'",
    ),
    (
        {"cpu-set": "0-3", "numa.kubenexus.io/zones": "2"},
        "annotation numa.kubenexus.io/zones '2': zone 2 does not exist (this host has 2)",
    ),
    (
        {"cpu-set": "6-9", "numa.kubenexus.io/zones": "0"},
        "annotation cpu-set '6-9': CPUs 8-9 are outside zones 0 (CPUs 0-7)",
    ),
]


@pytest.mark.parametrize(("annotations", "message"), BAD, ids=[m[:40] for _, m in BAD])
@pytest.mark.parametrize("version", [1, 2])
def test_bad_annotations_write_nothing(  # noqa: PLR0917 - pytest passes fixtures by name
    tmp_path: Path,
    sysfs: Path,
    annotations: dict[str, str],
    message: str,
    version: int,
    capsys: pytest.CaptureFixture[str],
) -> None:
    cgroup, path, _ = cgroup_tree(tmp_path, version, "systemd")
    before = tree_files(tmp_path)
    code, err = hook(
        oci_state(tmp_path, annotations, path),
        "--cgroup-root",
        str(cgroup),
        "--sysfs-root",
        str(sysfs),
        capsys=capsys,
    )
    assert code == 1
    assert err.startswith(f"cpuset-hook: {message}")
    assert "\n" not in err
    after = tree_files(tmp_path)
    after.pop("bundle/config.json")
    before.pop("bundle/config.json", None)
    assert after == before


TRAVERSAL = [
    (
        "/kubepods/../../escape",
        "linux.cgroupsPath '/kubepods/../../escape': '..' is not a cgroup name",
    ),
    ("/../escape", "'..' is not a cgroup name"),
    (
        "kubepods-pod1.slice:cri-containerd:../../escape",
        "linux.cgroupsPath 'kubepods-pod1.slice:cri-containerd:../../escape': 'cri-containerd-../../escape.scope' is not a cgroup name",
    ),
    ("../escape.slice:cri-containerd:x", "'../escape.slice' is not a slice"),
    ("kubepods--x.slice:cri-containerd:x", "invalid slice name 'kubepods--x.slice'"),
    ("a:b", "expected slice:prefix:name (systemd driver)"),
    ("/kubepods/link-out", "leads outside"),
    ("/kubepods/missing", "no cgroup at"),
    ("", "the container's spec has no linux.cgroupsPath"),
]


@pytest.mark.parametrize(
    ("cgroups_path", "message"), TRAVERSAL, ids=[p or "empty" for p, _ in TRAVERSAL]
)
def test_paths_escaping_the_cgroup_root_are_refused(
    tmp_path: Path, sysfs: Path, cgroups_path: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    cgroup, _, _ = cgroup_tree(tmp_path, 2, "cgroupfs")
    escape = tmp_path / "escape"
    escape.mkdir()
    (escape / "cpuset.cpus").write_text("untouched")
    (cgroup / "kubepods/link-out").symlink_to(escape)
    code, err = hook(
        oci_state(tmp_path, {"cpu-set": "0-1"}, cgroups_path),
        "--cgroup-root",
        str(cgroup),
        "--sysfs-root",
        str(sysfs),
        capsys=capsys,
    )
    assert code == 1
    assert message in err
    assert (escape / "cpuset.cpus").read_text() == "untouched"


def test_a_symlinked_cpuset_file_is_not_followed(
    tmp_path: Path, sysfs: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cgroup, path, leaf = cgroup_tree(tmp_path, 2, "cgroupfs")
    outside = tmp_path / "outside"
    outside.write_text("untouched")
    (leaf / "cpuset.cpus").unlink()
    (leaf / "cpuset.cpus").symlink_to(outside)
    code, err = hook(
        oci_state(tmp_path, {"cpu-set": "0-1"}, path),
        "--cgroup-root",
        str(cgroup),
        "--sysfs-root",
        str(sysfs),
        capsys=capsys,
    )
    assert code == 1
    assert "cpuset.cpus: cannot open" in err
    assert outside.read_text() == "untouched"


def test_a_cgroup_without_the_cpuset_controller(
    tmp_path: Path, sysfs: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cgroup, path, leaf = cgroup_tree(tmp_path, 2, "cgroupfs")
    (leaf / "cpuset.cpus").unlink()
    code, err = hook(
        oci_state(tmp_path, {"cpu-set": "0"}, path),
        "--cgroup-root",
        str(cgroup),
        "--sysfs-root",
        str(sysfs),
        capsys=capsys,
    )
    assert code == 1
    assert "no cpuset.cpus (is the cpuset controller enabled there?)" in err


@pytest.mark.parametrize(
    ("stdin", "options", "message"),
    [
        ("not json", [], "stdin: not the OCI state as JSON"),
        ("[1]", [], "stdin: not the OCI state as JSON (not an object)"),
        (
            '{"annotations": {"cpu-set": "0"}}',
            [],
            "OCI state on stdin has no bundle (and is no spec)",
        ),
        (
            '{"bundle": "/nonexistent-bundle"}',
            [],
            "/nonexistent-bundle/config.json: cannot read the container's spec",
        ),
        (
            "{}",
            ["--cgroup-driver", "docker"],
            "--cgroup-driver: expected auto, cgroupfs or systemd, got 'docker'",
        ),
        (
            '{"linux": {}, "annotations": {"cpu-set": 3}}',
            [],
            "annotation cpu-set: expected a string, got 3",
        ),
        (
            '{"linux": {}, "annotations": {"cpu-set": "1", "numa.kubenexus.io/zones": [0]}}',
            [],
            "annotation numa.kubenexus.io/zones: expected a string, got [0]",
        ),
        (
            '{"linux": {}, "annotations": ["cpu-set"]}',
            [],
            "spec annotations: expected an object, got ['cpu-set']",
        ),
        (
            '{"linux": "x", "annotations": {"cpu-set": "1"}}',
            [],
            "spec linux: expected an object, got 'x'",
        ),
        ("{}", ["--cgroup-version", "3"], "--cgroup-version: expected auto, 1 or 2, got '3'"),
        ("{}", ["--bogus"], "unknown option '--bogus'"),
        ("{}", ["--cgroup-root"], "option --cgroup-root needs a value"),
    ],
)
def test_bad_input_is_one_line(
    stdin: str, options: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, err = hook(stdin, *options, capsys=capsys)
    assert code == 1
    assert err.startswith(f"cpuset-hook: {message}")
    assert "\n" not in err


def test_neither_cgroup_version_found(
    tmp_path: Path, sysfs: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "empty").mkdir()
    code, err = hook(
        oci_state(tmp_path, {"cpu-set": "0"}, "/kubepods/x"),
        "--cgroup-root",
        str(tmp_path / "empty"),
        "--sysfs-root",
        str(sysfs),
        capsys=capsys,
    )
    assert code == 1
    assert "neither a cgroup v2 mount nor a v1 root with cpuset/" in err


@pytest.mark.parametrize("text", ["0", "0-3,8,10-11", "1,3,5-7", "0-4095", " 2 , 4-5 "])
def test_the_hooks_cpu_lists_agree_with_the_schedulers(text: str) -> None:
    # The hook parses without importing kubenexus.api (start time): both must read alike.
    assert parse_cpus(text, "x") == parse_cpu_list(text, "x")
    assert format_cpus(parse_cpus(text, "x")) == format_cpu_list(parse_cpu_list(text, "x"))


@pytest.mark.parametrize("text", ["a", "1-", "-1", "3-1", "1--2", "٣"])
def test_the_hook_refuses_what_the_scheduler_refuses(text: str) -> None:
    with pytest.raises(SysfsError):
        parse_cpus(text, "x")


def test_cli_runs_the_hook(tmp_path: Path, sysfs: Path) -> None:
    cgroup, path, leaf = cgroup_tree(tmp_path, 2, "cgroupfs")
    result = CliRunner().invoke(
        main,
        ["cpuset-hook", "--cgroup-root", str(cgroup), "--sysfs-root", str(sysfs)],
        input=oci_state(tmp_path, {"cpu-set": "3"}, path),
    )
    assert result.exit_code == 0, result.output
    assert (leaf / "cpuset.cpus").read_text() == "3"
    bad = CliRunner().invoke(
        main,
        ["cpuset-hook", "--cgroup-root", str(cgroup), "--sysfs-root", str(sysfs)],
        input=oci_state(tmp_path, {"cpu-set": "99"}, path),
    )
    assert bad.exit_code == 1
    assert "CPUs 99 are not online" in bad.stderr
    assert os.path.exists(leaf)


def test_the_module_runs_as_the_runtime_runs_it(tmp_path: Path, sysfs: Path) -> None:
    # A new process, the state on stdin: what `kubenexus-cpuset-hook` (the console script) does.
    cgroup, path, leaf = cgroup_tree(tmp_path, 2, "systemd")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "kubenexus.node.hook",
            "--cgroup-root",
            str(cgroup),
            "--sysfs-root",
            str(sysfs),
        ],
        input=oci_state(tmp_path, {"cpu-set": "1-2", "numa.kubenexus.io/zones": "0"}, path),
        capture_output=True,
        text=True,
        check=False,
    )
    assert (done.returncode, done.stderr) == (0, "")
    assert (leaf / "cpuset.cpus").read_text() == "1-2"
    refused = subprocess.run(
        [sys.executable, "-m", "kubenexus.node.hook", "--nope"],
        input="{}",
        capture_output=True,
        text=True,
        check=False,
    )
    assert refused.returncode == 1
    assert refused.stderr.startswith("cpuset-hook: unknown option '--nope'")


def test_the_hook_imports_nothing_heavy() -> None:
    # It runs at every container start: the standard library and node.sysfs only.
    code = "import sys, kubenexus.node.hook; print(sorted(m for m in sys.modules if m.startswith(('kubenexus', 'click', 'numpy', 'pydantic', 'yaml', 'asyncio', 'typing', 'dataclasses'))))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "['kubenexus', 'kubenexus.node', 'kubenexus.node.hook']"


def test_pinning_a_container_never_imports_json(tmp_path: Path, sysfs: Path) -> None:
    cgroup, path, leaf = cgroup_tree(tmp_path, 2, "cgroupfs")
    state = oci_state(
        tmp_path, {"cpu-set": "1", "numa.kubenexus.io/zones": "0"}, path, in_state=False
    )
    code = (
        "import io, sys; from kubenexus.node.hook import run; "
        f"code = run(['--cgroup-root', {str(cgroup)!r}, '--sysfs-root', {str(sysfs)!r}], io.StringIO(sys.stdin.read())); "
        "print(code, 'json' in sys.modules)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], input=state, capture_output=True, text=True, check=True
    )
    assert done.stdout.split() == ["0", "False"]
    assert (leaf / "cpuset.cpus").read_text() == "1"


JSON_TEXTS = [
    '{"ociVersion": "1.2.0", "annotations": {"cpu-set": "0-3"}, "pid": 42}',
    '  \n{"a": [1, 2.5, -3e2, true, false, null, "x\\u00e9\\n"], "b": {}}\t',
    "[]",
    '"text"',
    '{"n": NaN, "i": Infinity}',
]


@pytest.mark.parametrize("text", JSON_TEXTS)
def test_the_hooks_json_reading_is_json_loads(text: str) -> None:
    assert json.dumps(loads(text)) == json.dumps(json.loads(text))


@pytest.mark.parametrize(
    "text", ["", "   ", "{", '{"a": 1} x', '{"a": 1}{}', "{'a': 1}", '{"a": 01}', "nul"]
)
def test_the_hooks_json_reading_refuses_what_json_refuses(text: str) -> None:
    with pytest.raises(ValueError, match=r"^(Expecting|Extra data)") as by_json:
        json.loads(text)
    with pytest.raises(ValueError, match=r"^(Expecting|Extra data)") as ours:
        loads(text)
    assert str(ours.value).split(":")[0].split(" (")[0] == str(by_json.value).split(":")[0]
    assert f"(char {by_json.value.pos})" in str(ours.value)


@pytest.mark.parametrize("flag", ["--help", "-h"])
def test_help_prints_the_usage_and_reads_nothing(flag: str) -> None:
    """An operator trying the hook by hand gets its usage, exit 0; stdin is not read."""
    out = io.StringIO()
    stdin = io.StringIO("not read")
    code = run([flag], stdin, stdout=out)
    assert code == 0
    assert out.getvalue() == USAGE + "\n"
    assert stdin.tell() == 0
