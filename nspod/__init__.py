"""nspod: a rootless pod sandbox built from Linux namespaces."""
