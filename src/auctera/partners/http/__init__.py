"""The configurable HTTP JSON partner: a network speaking the bid protocol of docs/api-bids.md."""

from auctera.partners.http.client import HttpBidPartner

__all__ = ["HttpBidPartner"]
