"""The forms room (see DESIGN.md)."""
