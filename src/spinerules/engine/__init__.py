"""The engine: a checked guideline run against a patient record.

``values`` (unknowns and Kleene logic), ``compile`` (expressions to closures), ``evaluate``
(planning and running into a result), ``codegen`` (the generated fast path and trace values),
``trace`` (rule outcomes and explanations) and ``result`` (the result and its JSON).
Builds on ``checker``, ``lang`` and ``records``; knows nothing of the API, the CLI or testing.
"""
