"""Build the cpuset hook as a self-contained program (PyInstaller, one directory): nodes run it
with no Python installed. One-directory, not one-file: a one-file program unpacks itself into
/tmp at every start (about 300 ms here), far over the hook's 50 ms budget.

``python -m kubenexus.node.build DIST`` (the Dockerfile's build stage runs it) makes
``DIST/kubenexus-cpuset-hook/kubenexus-cpuset-hook``. The program links against the build
machine's glibc: build on a base no newer than the nodes' (see docs/node-setup.md)."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Final

from kubenexus.errors import KubeNexusError

NAME: Final = "kubenexus-cpuset-hook"
# Modules the hook never imports that PyInstaller would otherwise look for: less to bundle.
_EXCLUDED: Final = (
    # inspect: PyInstaller adds a start-up hook for it that costs the hook ~10 ms per run.
    "inspect",
    "tkinter",
    "unittest",
    "pydoc",
    "doctest",
    "email",
    "http",
    "xml",
    "sqlite3",
)


class BuildError(KubeNexusError):
    """The hook could not be built; says why (PyInstaller missing, or its last output)."""


def missing_builder() -> str | None:
    """Why the hook cannot be built here, or None when it can."""
    if importlib.util.find_spec("PyInstaller") is None:
        return "PyInstaller is not installed (pip install pyinstaller)"
    if sys.platform == "linux" and shutil.which("objdump") is None:
        return "PyInstaller needs objdump on Linux (the binutils package)"
    return None


def build_hook(dist: Path, work: Path | None = None) -> Path:
    """Build into ``dist``; the path of the program."""
    missing = missing_builder()
    if missing is not None:
        raise BuildError(missing)
    script = Path(__file__).with_name("hook.py")
    package_root = Path(__file__).resolve().parents[2]
    with tempfile.TemporaryDirectory(prefix="kubenexus-hook-build-") as tmp:
        build_dir = work or Path(tmp)
        command = [
            sys.executable,
            "-m",
            "PyInstaller",
            "--onedir",
            "--noconfirm",
            "--clean",
            "--log-level=WARN",
            f"--name={NAME}",
            f"--paths={package_root}",
            f"--distpath={dist}",
            f"--workpath={build_dir / 'work'}",
            f"--specpath={build_dir}",
            *(f"--exclude-module={module}" for module in _EXCLUDED),
            str(script),
        ]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-5:]
        raise BuildError(f"PyInstaller exited {done.returncode}: {' | '.join(tail)}")
    program = dist / NAME / NAME
    if not program.is_file():
        raise BuildError(f"PyInstaller made no {program}")
    return program


if __name__ == "__main__":
    try:
        print(build_hook(Path(sys.argv[1] if len(sys.argv) > 1 else "dist").resolve()))
    except BuildError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
