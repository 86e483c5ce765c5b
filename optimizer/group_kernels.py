"""Grouping a partition's rows by dense integer keys, as numba kernels.

Every consumer of a partition (the observed cluster, the allocation) groups its ~20 k rows by a few
dictionary codes. In numpy that is a presence table, a running count, a lookup and a ``minimum.at``: four
passes and as many calls whose fixed cost is a good part of their time at this size. Here it is one or
two passes over the rows, without the GIL (the other partition's thread runs meanwhile).

Conventions of the project's kernel files: ``@njit(cache=True, nogil=True)``, serial, calling only into
this file (numba's cache is keyed on the defining file's modification time).
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def groups_by_first_row(key, space):
    """Keys in [0, space): (group per row, first row of each group), groups numbered in the order their
    first row comes."""
    n = len(key)
    number = np.full(space, -1, np.int64)
    group = np.empty(n, np.int64)
    first = np.empty(n, np.int64)
    k = 0
    for r in range(n):
        g = number[key[r]]
        if g < 0:
            g = k
            number[key[r]] = g
            first[g] = r
            k += 1
        group[r] = g
    return group, first[:k]


@njit(cache=True, nogil=True)
def groups_by_key(key, space):
    """Keys in [0, space): (group per row, first row of each group), groups numbered in key order."""
    n = len(key)
    number = np.zeros(space, np.int64)
    for r in range(n):
        number[key[r]] = 1
    k = 0
    for j in range(space):
        if number[j]:
            number[j] = k
            k += 1
    group = np.empty(n, np.int64)
    first = np.full(k, n, np.int64)
    for r in range(n):
        g = number[key[r]]
        group[r] = g
        if r < first[g]:
            first[g] = r
    return group, first
