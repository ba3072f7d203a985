"""Object names as Kubernetes accepts them: a namespace is a DNS label (RFC 1123), a pod name
a DNS subdomain. Checked before a name goes into an API path, where ``..`` or ``/`` would
change which objects are read."""

from __future__ import annotations

import re
from typing import Final

from kubenexus.errors import InvalidInputError

_LABEL: Final = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_SUBDOMAIN: Final = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
LABEL_MAX: Final = 63
SUBDOMAIN_MAX: Final = 253


def check_namespace(value: str, field: str = "namespace") -> str:
    """``value`` if it is a DNS label (lower-case letters, digits, '-', at most 63)."""
    if not value or len(value) > LABEL_MAX or not _LABEL.fullmatch(value):
        raise InvalidInputError(
            field, value, "must be a DNS label (a-z, 0-9, '-', at most 63 characters)"
        )
    return value


def check_pod_name(value: str, field: str = "pod") -> str:
    """``value`` if it is a DNS subdomain (DNS labels joined by '.', at most 253)."""
    if not value or len(value) > SUBDOMAIN_MAX or not _SUBDOMAIN.fullmatch(value):
        raise InvalidInputError(
            field,
            value,
            "must be a DNS subdomain (a-z, 0-9, '-', '.', at most 253 characters)",
        )
    return value
