"""Pure data: pod and node views, quantities, and every label/annotation key."""

from kubenexus.api.objects import (
    NodeInfo,
    OwnerRef,
    PodInfo,
    SelectorRequirement,
    SelectorTerm,
    Taint,
    Toleration,
    node_from_dict,
    pod_from_dict,
)
from kubenexus.api.quantity import milli_value, parse_quantity, resource_amount, whole_value

__all__ = [
    "NodeInfo",
    "OwnerRef",
    "PodInfo",
    "SelectorRequirement",
    "SelectorTerm",
    "Taint",
    "Toleration",
    "milli_value",
    "node_from_dict",
    "parse_quantity",
    "pod_from_dict",
    "resource_amount",
    "whole_value",
]
