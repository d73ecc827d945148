"""spinerules: clinical spine-care guidelines as executable, testable, traceable rules.

Example:
    >>> import datetime, spinerules
    >>> g = spinerules.load("vcf")
    >>> r = g.evaluate({"id": "p", "age": 70}, as_of=datetime.date(2026, 2, 18))
    >>> r.guideline["id"]
    'vcf'
"""


from spinerules.api import EvaluationFailedError, Guideline, check, load, loads
from spinerules.engine.result import Citation, MissingData, Recommendation, Result
from spinerules.lang.diagnostics import Diagnostic, GuidelineError, Severity
from spinerules.lang.parser import Limits
from spinerules.records.loader import RecordError, load_record, load_record_json

__version__ = "0.1.0"

__all__ = [
    "Citation",
    "Diagnostic",
    "EvaluationFailedError",
    "Guideline",
    "GuidelineError",
    "Limits",
    "MissingData",
    "Recommendation",
    "RecordError",
    "Result",
    "Severity",
    "check",
    "load",
    "load_record",
    "load_record_json",
    "loads",
]
