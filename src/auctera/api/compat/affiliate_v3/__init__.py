"""The affiliate v3 surface (seed 003): `/v3/partner/...` for publishers and `/v3/client/...`
for advertisers, with an `X-Token` header or `?token=`. See docs/api-v3.md."""
