"""The checker: names, sources, citations, types and units of a parsed guideline.

``check`` (the passes and their side tables) and ``typesys`` (the checker's types, read off
attrs record classes). Builds on ``lang`` and ``records``; knows nothing of the engine.
"""
