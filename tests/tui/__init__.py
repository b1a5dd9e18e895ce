"""TUI tests: the real Textual app (`App.run_test()`) against the real appliance, and SVG
snapshots of every screen against a stub transport. Shared helpers are in `helpers.py`,
fixtures in `conftest.py`, the stub in `stub.py`."""
