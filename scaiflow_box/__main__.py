"""`python -m scaiflow_box` is the same as the `scaiflow-box` executable."""

import sys

from scaiflow_box.cli import main

sys.exit(main())
