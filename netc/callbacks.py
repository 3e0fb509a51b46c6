"""`netc.callbacks`: the public name of `netc.runtime.callbacks` (what `fit(callbacks=[...])`
takes), so user code does not reach into the runtime package. The same objects, re-exported.
"""

from __future__ import annotations

from .runtime.callbacks import (
    BestCheckpoint,
    EarlyStopping,
    ReduceOnPlateau,
    StepDecay,
    best_path,
    from_settings,
)

__all__ = ["BestCheckpoint", "EarlyStopping", "ReduceOnPlateau", "StepDecay", "best_path",
           "from_settings"]
