"""Adapters for creative files: image and video inspection, malware scanners (the files are kept
by the object store, storage/)."""
