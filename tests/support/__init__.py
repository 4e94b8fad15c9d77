"""Test helpers shared across the suite (live partner servers and the like)."""
