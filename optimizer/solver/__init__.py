"""Cheapest node mix for a set of pods: two-stage OR-Tools CP-SAT with a lower bound and an FFD baseline."""

from optimizer.solver.bins import MIG_80GB, NodeBin, mig_layout_fits, type_allows
from optimizer.solver.model import MIB, ON_DEMAND, SPOT, MigSlice, NodePlan, NodeType, PodSpec, SolveResult
from optimizer.solver.solve import SolverOptions, solve

__all__ = ["MIB", "MIG_80GB", "ON_DEMAND", "SPOT", "MigSlice", "NodeBin", "NodePlan", "NodeType", "PodSpec",
           "SolveResult", "SolverOptions", "mig_layout_fits", "solve", "type_allows"]
