"""One error family for everything edgeseg raises on purpose.

Callers catch `EdgeSegError`; the subclasses say which part of the flow refused. Messages state what was
expected and what arrived. Never branch on message text.
"""

from __future__ import annotations


class EdgeSegError(Exception):
    """Base of every error edgeseg raises deliberately."""


class SpecError(EdgeSegError):
    """A model spec is missing, malformed, of an unknown version, or does not match the model."""


class ModelLoadError(EdgeSegError):
    """A model file is missing, unreadable, corrupt, or of an unknown format."""


class BackendError(EdgeSegError):
    """A runtime failed, or the device/provider asked for is not available."""


class MissingExtraError(EdgeSegError, ImportError):
    """An optional dependency is not installed; the message names the extra to install."""

    def __init__(self, package: str, extra: str, *, detail: str = "") -> None:
        self.package = package
        self.extra = extra
        msg = f"{package} is not installed; run: pip install 'edgeseg[{extra}]'"
        if detail:
            msg += f" ({detail})"
        super().__init__(msg)


class InputError(EdgeSegError, ValueError):
    """A frame, array or argument handed to edgeseg is not what was expected."""


class DecodeError(EdgeSegError):
    """Raw model outputs do not have the shape or layout the spec promises."""
