"""The node side: topology discovery (``kubenexus node discover``) and the cpuset OCI hook
(``kubenexus cpuset-hook``). Nothing is imported here, so the hook starts with the stdlib only."""
