"""Seed surfaces: each module serves one seed document's API by translating its shapes to
and from the core; scheduling, policy and access rules live in the core, once."""
