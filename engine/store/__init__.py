"""The store room (see DESIGN.md)."""
