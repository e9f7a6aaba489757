"""Stations learned from observations: the update rules and jobs."""
