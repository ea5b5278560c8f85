"""The web room (see DESIGN.md)."""
