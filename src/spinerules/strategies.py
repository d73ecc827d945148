"""Hypothesis strategies for records and patients: moved to :mod:`spinerules.testing.strategies`.

This module keeps the old import path working.
"""

from spinerules.testing.strategies import patients_for, records, thresholds_of

__all__ = ["patients_for", "records", "thresholds_of"]
