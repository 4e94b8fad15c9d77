"""The TAXII 2.1 server (OASIS Standard, 10 June 2021)."""
