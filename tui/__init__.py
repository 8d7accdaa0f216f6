"""The Textual app: panes, widgets, keymap and stylesheet.

It reads the catalogue through core.store queries and talks to the engine; it never touches
files or SQL itself.
"""
