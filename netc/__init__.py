"""netc: a declarative network-spec compiler. `.net` text -> validated spec -> generated NumPy net.

The public API re-exported here is the contract users and other tools rely on. Importing netc
loads neither numpy nor pydantic: each stage is imported when first used.
"""

from __future__ import annotations

from . import datasets  # loaders import numpy only when called
from .api import compile, lint, load, parse, plan, plan_file, read, validate
from .errors import (
    DataError,
    Diagnostic,
    InternalError,
    NetcError,
    NetcWarning,
    SpecError,
    SpecLimitError,
    SpecShapeError,
    SpecStructureError,
    SpecSyntaxError,
    SpecValidationError,
    TrainingError,
)

__version__ = "0.1.0"


def gradcheck(net, x, t, **options):  # type: ignore[no-untyped-def]
    """Backprop vs central differences per parameter (float64); see netc.runtime.gradcheck."""
    from .runtime.gradcheck import gradcheck as run_gradcheck

    return run_gradcheck(net, x, t, **options)


def plot_history(history, path=None, *, title=""):  # type: ignore[no-untyped-def]
    """Loss and accuracy curves of a History: written to `path`, or returned for a notebook
    to show (needs the `plot` extra); see netc.runtime.plot."""
    from .runtime.plot import plot_history as draw

    return draw(history, path, title=title)


def __getattr__(name: str) -> object:
    """`netc.callbacks` (EarlyStopping, BestCheckpoint, ...), imported on first use."""
    if name == "callbacks":
        import importlib

        return importlib.import_module(".callbacks", __name__)
    raise AttributeError(f"module 'netc' has no attribute {name!r}")


def train(net, x, t, **options):  # type: ignore[no-untyped-def]
    """`net.fit(x, t, **options)`: mini-batch training; returns the History."""
    return net.fit(x, t, **options)

__all__ = [
    "callbacks",
    "compile",
    "datasets",
    "gradcheck",
    "lint",
    "load",
    "parse",
    "plan",
    "plan_file",
    "plot_history",
    "read",
    "train",
    "validate",
    "DataError",
    "Diagnostic",
    "InternalError",
    "NetcError",
    "NetcWarning",
    "SpecError",
    "SpecLimitError",
    "SpecShapeError",
    "SpecStructureError",
    "SpecSyntaxError",
    "SpecValidationError",
    "TrainingError",
    "__version__",
]
