"""KubeNexus' own errors, so callers never depend on a library's exception types.

KubeNexusError
├── InvalidInputError      a user-supplied object or value is malformed (names field and value)
│   └── QuantityError      a Kubernetes quantity that does not parse
├── ConfigError            the scheduler configuration is invalid (names the path in the file)
└── InputFileError         a cluster/workload file is unreadable or holds a bad object
"""

from __future__ import annotations


class KubeNexusError(Exception):
    """Base of every error KubeNexus raises on purpose."""


class InvalidInputError(KubeNexusError, ValueError):
    """A field of a user-supplied object holds a value we cannot accept.

    ``field`` is a dotted path such as ``spec.containers[0].resources.requests.cpu``.
    """

    def __init__(self, field: str, value: object, reason: str) -> None:
        self.field = field
        self.value = value
        self.reason = reason
        super().__init__(f"{field}: {reason} (got {value!r})")


class QuantityError(InvalidInputError):
    """A Kubernetes resource quantity (``500m``, ``64Gi``, ``1e3``) that does not parse."""


class ConfigError(KubeNexusError):
    """The scheduler configuration file is invalid; the message names the path in the file."""


class InputFileError(KubeNexusError):
    """A cluster or workload file cannot be used; the message names the file, object and field."""
