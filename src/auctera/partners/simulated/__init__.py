"""The simulated ad network: a real HTTP server with in-memory bids and injected faults."""

from auctera.partners.simulated.server import Fault, RunningNetwork, SimulatedNetwork, serve

__all__ = ["Fault", "RunningNetwork", "SimulatedNetwork", "serve"]
