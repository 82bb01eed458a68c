"""`/management/v0/...`: bid management as justtrack's API shows it (seed 001)."""
