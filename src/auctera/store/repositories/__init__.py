"""Repositories: translate between table rows and domain objects. One module per area."""
