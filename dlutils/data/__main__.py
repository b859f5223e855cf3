"""``python -m dlutils.data list|verify|fetch``: see :mod:`dlutils.data.cli`."""

import sys

from .cli import main

sys.exit(main())
