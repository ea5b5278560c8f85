"""The expr room (see DESIGN.md)."""
