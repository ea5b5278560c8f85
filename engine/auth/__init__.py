"""The auth room (see DESIGN.md)."""
