"""The TUI's screens, one per module: the four main screens and their dialogs."""
