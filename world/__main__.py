"""`python -m world`: see `world/cli.py`."""

import sys

from .cli import main

sys.exit(main())
