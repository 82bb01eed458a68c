"""Use cases. The only layer that opens and commits transactions."""
