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

# envtest's own binaries folders (setup-envtest) hold etcd, kube-apiserver and kubectl only.
NO_KUBE_SCHEDULER = (
    "no kube-scheduler in KUBEBUILDER_ASSETS: add kube-scheduler v1.36 (kubernetes-server "
    "release binaries) to the folder for the differential tests"
)

__all__ = [
    "ASSETS_VARIABLE",
    "HOW_TO_ENABLE",
    "NO_KUBE_SCHEDULER",
    "ControlPlane",
    "ControlPlaneError",
    "assets_folder",
    "free_port",
]
