"""Real servers that implement the upstream contracts of SPEC §18, for tests."""
