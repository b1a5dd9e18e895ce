"""CLI-side commands that need files, stdin or stdout (SPEC §20).

`scaiflow_box.cli` imports a module from here only when its command runs, so the other
sub-commands do not pay for what it imports.
"""
