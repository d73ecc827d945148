"""Property checks of a guideline: moved to :mod:`spinerules.testing.properties`.

This module keeps the old import path working.
"""

from spinerules.testing.properties import PROPERTIES, PropertyFailure, check_properties

__all__ = ["PROPERTIES", "PropertyFailure", "check_properties"]
