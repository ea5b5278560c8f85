"""The reports room (see DESIGN.md)."""
