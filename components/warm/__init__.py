"""Warming a pull-through cache: the registry client, its limits and errors, and the engine."""
