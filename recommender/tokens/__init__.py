"""LLM serving economics: $ per 1M tokens per model, workload and team (tokens.csv, SPEC.md), for the
report's token section and the token guard rails (recommender/alerts/tokens.py)."""

from recommender.tokens.costs import CSV_COLUMNS, TokenCosts, TokenRow, per_million, token_costs

__all__ = ["CSV_COLUMNS", "TokenCosts", "TokenRow", "per_million", "token_costs"]
