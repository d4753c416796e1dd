"""Observation: one record of what happens in a world, and its views (stream, timeline, logs)."""
