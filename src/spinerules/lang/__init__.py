"""The language: source text to an AST, and back.

``source`` (text and spans), ``diagnostics`` (every message), ``resources`` (where the grammar
and the bundled guidelines live), ``parser`` and ``ptree`` (LALR parse into a light tree),
``builder`` (parse tree to AST), ``nodes`` (the AST), ``printer`` (AST to canonical text),
``resolve`` (a guideline's files and imports), ``units`` (quantities as literals).

The lowest wing: it imports nothing else of ``spinerules``.
"""
