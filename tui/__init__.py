"""keyops console (Textual). Talks to Redis only through `core` services."""
