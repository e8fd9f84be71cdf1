"""Errors of the trosmart tools: printed as one line ``trosmart: …`` with exit status 2."""


class ToolError(Exception):
    """A user-facing failure with a clear message (no traceback is shown)."""
