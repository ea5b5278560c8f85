"""The types room (see DESIGN.md)."""
