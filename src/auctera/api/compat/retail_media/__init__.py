"""The retail-media surface (seed 004): `/{version}/retail-media/...` for API versions 2023-04 to
2025-10, OAuth2 bearer tokens, JSON:API-style envelopes. See docs/api-retail-media.md."""
