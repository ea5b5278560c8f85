"""The blueprint room (see DESIGN.md)."""
