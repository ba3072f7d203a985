"""Scheduling plugins, one module each; they import only the framework and the api."""

from kubenexus.plugins.registry import DEFAULT_PLUGINS, REGISTRY, PluginSpec

__all__ = ["DEFAULT_PLUGINS", "REGISTRY", "PluginSpec"]
