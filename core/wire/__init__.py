"""Helpers for talking to Redis in bulk, below every layer that does: calls encoded once as
RESP bytes, and splitting work into chunks."""
