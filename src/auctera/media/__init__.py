"""Adapters for creative files: the asset store, image and video inspection, malware scanners."""
