"""kubectl-ready suggestions: partial objects, a kustomize Component, a README (nothing is applied), from
the run's typed ``Recommendation``s and the observed cluster's container specs (writer.py)."""

from recommender.suggestions.writer import (
    build_object,
    build_suggestion,
    load_manifests,
    suggestion_filename,
    write_suggestions,
)

__all__ = ["build_object", "build_suggestion", "load_manifests", "suggestion_filename", "write_suggestions"]
