"""The batch engine: locked, journaled, verified, audited bulk edits of API keys."""
