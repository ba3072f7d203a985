"""All I/O: the Kubernetes client, informers, binder, Events, kopf operator, the daemon."""
