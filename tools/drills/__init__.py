"""Fault drills and the load run for intelshare."""
