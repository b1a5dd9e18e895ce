"""Widgets shared by the TUI's screens (one per module)."""
