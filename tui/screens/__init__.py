"""The TUI's screens, one per module: the six main screens and their dialogs."""
