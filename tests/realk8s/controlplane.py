"""The real control plane the tests start: it lives in the package (``kubenexus bench --e2e``
starts the same one); the tests import it from here."""

from kubenexus.shell.controlplane import (
    ASSETS_VARIABLE,
    HOW_TO_ENABLE,
    ControlPlane,
    ControlPlaneError,
    assets_folder,
    free_port,
)

__all__ = [
    "ASSETS_VARIABLE",
    "HOW_TO_ENABLE",
    "ControlPlane",
    "ControlPlaneError",
    "assets_folder",
    "free_port",
]
