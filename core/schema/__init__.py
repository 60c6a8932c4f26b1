"""The CRS Redis schema: key names, encodings, models and the write plan.

This package is the only place that knows how CRS encodes booleans, JSON fields, timestamps,
bindings and index sets (see docs/architecture.md and the compatibility contract it cites).
"""
