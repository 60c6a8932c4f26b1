"""keyops core: CRS Redis access, schema codec, key store and query language.

Nothing in this package imports Textual; the TUI and the headless CLI both drive it.
"""
