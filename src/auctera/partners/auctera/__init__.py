"""The `auctera` partner: bids applied to our own campaigns and line items."""

from auctera.partners.auctera.adapter import AucteraBidPartner

__all__ = ["AucteraBidPartner"]
