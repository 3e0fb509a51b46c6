"""Runtime helper: netc's per-user cache folder, where downloads and compiled code live.

`$XDG_CACHE_HOME/netc` (else `~/.cache/netc`); each user of it keeps a subfolder: MNIST's
download (`data/mnist.py`) and the compiled backend's modules (`jit.py`).
"""

from __future__ import annotations

import os
from pathlib import Path


def user_cache(name: str) -> Path:
    """The subfolder `name` of netc's per-user cache (not created here)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "netc" / name
