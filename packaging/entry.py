"""What the frozen `scaiflow-box` runs (`scaiflow.spec`): the same `main` as the console
script and `python -m scaiflow_box`.

It lives here rather than being `scaiflow_box/__main__.py` because PyInstaller puts the entry
script's directory first on its search path, where `scaiflow_box/http` would shadow the
standard library's `http`.
"""

import sys

from scaiflow_box.cli import main

if __name__ == "__main__":
    sys.exit(main())
