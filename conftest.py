"""Pytest runs in the quick profile unless DLUTILS_PROFILE says otherwise.

Set here, before any notebook kernel starts, so that nbval's kernels inherit it (CONVENTIONS §3).
"""

import os

os.environ.setdefault("DLUTILS_PROFILE", "quick")
