"""Verification with an SMT solver (z3): invariants proved for every patient record (with
lists up to a stated length), dead and never-decidable rules, conflicts, lints, and a
semantic diff between two versions of a guideline, each finding with a witness patient
that the evaluator confirms. Needs the ``verify`` extra (``z3-solver``)."""
