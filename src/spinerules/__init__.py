"""spinerules: clinical spine-care guidelines as executable, testable, traceable rules.

Example:
    >>> import datetime, spinerules
    >>> g = spinerules.load("vcf")
    >>> r = g.evaluate({"id": "p", "age": 70}, as_of=datetime.date(2026, 2, 18))
    >>> r.guideline["id"]
    'vcf'
"""


from .api import EvaluationFailedError, Guideline, check, load, loads
from .diagnostics import Diagnostic, GuidelineError, Severity
from .parser import Limits
from .records import RecordError, load_record, load_record_json
from .result import Citation, MissingData, Recommendation, Result

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
