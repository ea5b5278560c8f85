"""The workflows room (see DESIGN.md)."""
