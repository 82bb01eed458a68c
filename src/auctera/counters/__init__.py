"""Counters behind the ports in `auctera.services.ports`: rate limits now; budgets, pacing and
frequency caps later. In-process implementations here serve the embedded profile; the scale-out
profile adds Redis ones with the same contracts."""
