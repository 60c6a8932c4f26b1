"""The headless `keyops` commands: the same core services the TUI drives, for scripts."""
