"""Base for plugin argument models: camelCase keys as in KubeSchedulerConfiguration, no extras."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel


class PluginArgs(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        frozen=True,
        allow_inf_nan=False,  # YAML's .inf and .nan are numbers; no argument means them
    )


class NoArgs(PluginArgs):
    """For plugins that take no arguments: any given is an error."""
