"""Recommender stage: cost attribution, value classes, budgets, reports, suggestions and the CLI."""
