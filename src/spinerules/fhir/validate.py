"""Strict validation of inbound resources with ``fhir.resources`` (R4B), when asked.

Never on the extraction path: ``--validate`` only. Needs the ``fhir`` extra.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from spinerules.fhir.errors import FhirProblem

__all__ = ["validate_resources"]


def _model(resource_type: str) -> Any:
    try:
        from fhir.resources.R4B import get_fhir_model_class
    except ImportError:
        raise ImportError("--validate needs the fhir extra: pip install 'spinerules[fhir]'"
                          ) from None
    try:
        return get_fhir_model_class(resource_type)
    except (KeyError, ValueError):
        return None


def validate_resources(resources: Iterable[tuple[str, dict[str, Any]]], *,
                       file: str | None = None) -> list[FhirProblem]:
    """Every problem ``fhir.resources`` finds in (JSON path, resource) pairs, located."""
    from pydantic import ValidationError

    problems: list[FhirProblem] = []
    for path, resource in resources:
        rtype = resource.get("resourceType")
        model = _model(str(rtype))
        if model is None:
            problems.append(FhirProblem(f"{path}.resourceType",
                                        f"not an R4B resource type: {rtype!r}", file=file))
            continue
        try:
            model.model_validate(resource)
        except ValidationError as exc:
            for err in exc.errors():
                loc = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in err["loc"])
                problems.append(FhirProblem(f"{path}{loc}", str(err["msg"]), file=file))
    return problems
