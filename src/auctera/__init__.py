"""Auctera: a self-hosted performance-marketing engine."""

__version__ = "0.1.0"
