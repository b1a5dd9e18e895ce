"""Domain errors raised by the compiler library.

They carry no HTTP knowledge; the API layer maps them to responses:
``UnsupportedFormat`` -> 400 ``unsupported_format``, ``ImportFailed`` -> 400,
``FlowInvalid`` -> 400 ``compile_error`` (its ``errors`` go into the detail).
"""

from __future__ import annotations

from typing import Any

SUPPORTED_FORMATS: tuple[str, ...] = ("yaml", "json")
PROPRIETARY_FORMATS: tuple[str, ...] = ("ir", "scai")


class CompilerError(Exception):
    """Base class of every error this package raises on purpose."""


class UnsupportedFormat(CompilerError, ValueError):
    """A compile format this appliance cannot produce (``ir``, ``scai`` or unknown)."""

    error = "unsupported_format"

    def __init__(self, fmt: str) -> None:
        self.format = fmt
        supported = ", ".join(repr(f) for f in SUPPORTED_FORMATS)
        if fmt.strip().lower() in PROPRIETARY_FORMATS:
            self.message = (
                f"format {fmt!r} is a proprietary ScaiCore format without a public "
                f"definition; this appliance produces {supported}"
            )
            self.fix = (
                "Compile with format 'yaml' (the deploy artifact) or 'json' (the same "
                "manifest as JSON); ScaiGrid builds its own IR from the YAML manifest."
            )
        else:
            self.message = f"unknown format {fmt!r}; supported formats are {supported}"
            self.fix = "Use format 'yaml' or 'json'."
        super().__init__(self.message)

    def to_detail(self) -> dict[str, str]:
        """The structured ``detail`` of a 400 response."""
        return {"error": self.error, "message": self.message, "fix": self.fix}


class ImportFailed(CompilerError, ValueError):
    """The text given to the importer is not YAML, or not a ScaiCore manifest."""

    error = "import_failed"

    def __init__(self, message: str) -> None:
        self.message = message
        super().__init__(message)


class FlowInvalid(CompilerError):
    """The flow has error-severity diagnostics, so it cannot be run or deployed."""

    error = "compile_error"

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        self.errors = errors
        count = len(errors)
        first = errors[0]["message"] if errors else "unknown error"
        self.message = f"flow does not validate ({count} error{'s' if count != 1 else ''}): {first}"
        super().__init__(self.message)
