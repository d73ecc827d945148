"""spinerules: clinical spine-care guidelines as executable, testable, traceable rules."""

from __future__ import annotations

__version__ = "0.1.0"
