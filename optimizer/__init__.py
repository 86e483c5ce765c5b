"""Optimizer stage: utilization profiles, instance catalog and prices, demand model, solver."""
