"""The only package that talks to the kernel: namespaces, mounts, id maps,
process control. Everything else calls these named steps."""
