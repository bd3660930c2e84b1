"""Exit codes of the command lines (`cachefleet`) and the error that carries one."""
from __future__ import annotations

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_UNREACHABLE = 0, 1, 2, 3


class CodedError(Exception):
    """An error that ends a command with `code` (an EXIT_* value)."""

    def __init__(self, message: str, code: int = EXIT_USAGE):
        super().__init__(message)
        self.code = code


class LabError(RuntimeError):
    """The lab (or a resource it needs, e.g. free ports) could not be set up or reached."""


class DrillError(CodedError):
    """A drill that cannot run (or whose action was refused); code is the CLI exit code."""
