"""HTTP surfaces: the native /v2 API and one package per vendor-shaped surface under compat/."""
