"""General-invalid-traffic data the fraud filters look up: the crawler user-agent list and the
operator's data-centre / VPN IP range lists. Adapters: they implement the `CrawlerMatcher` and
`IpRangeLookup` ports of `services.fraud` and may read files; services never import them."""
