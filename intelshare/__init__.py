"""The intelshare hub: storage, sharing policy, ingest and the TAXII 2.1 server."""
