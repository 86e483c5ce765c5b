"""kubectl-ready suggestions: partial objects, a kustomize Component, a README (nothing is applied)."""

from recommender.suggestions.writer import (
    build_object,
    build_suggestion,
    load_manifests,
    suggestion_filename,
    write_suggestions,
)

__all__ = ["build_object", "build_suggestion", "load_manifests", "suggestion_filename", "write_suggestions"]
