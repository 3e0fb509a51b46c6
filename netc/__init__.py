"""netc: a declarative network-spec compiler. `.net` text -> validated spec -> generated NumPy net.

The public API re-exported here is the contract users and other tools rely on. Importing netc
loads neither numpy nor pydantic: each stage is imported when first used.
"""

from __future__ import annotations

from .errors import (
    DataError,
    Diagnostic,
    InternalError,
    NetcError,
    SpecError,
    SpecLimitError,
    SpecShapeError,
    SpecStructureError,
    SpecSyntaxError,
    SpecValidationError,
    TrainingError,
)

__version__ = "0.1.0"

__all__ = [
    "DataError",
    "Diagnostic",
    "InternalError",
    "NetcError",
    "SpecError",
    "SpecLimitError",
    "SpecShapeError",
    "SpecStructureError",
    "SpecSyntaxError",
    "SpecValidationError",
    "TrainingError",
    "__version__",
]
