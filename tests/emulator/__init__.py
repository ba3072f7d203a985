"""A Kubernetes API server emulator for the tests (a test double; the product never imports it)."""

from tests.emulator.server import ApiError, Fault, KubeEmulator, Received, running_emulator

__all__ = ["ApiError", "Fault", "KubeEmulator", "Received", "running_emulator"]
