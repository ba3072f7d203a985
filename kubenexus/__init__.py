"""KubeNexus: a Kubernetes scheduler for ML/AI, HPC and batch work."""

__version__ = "0.1.0"
