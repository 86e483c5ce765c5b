"""numba kernels of the profile core: group rows by entity, build histograms, extract percentiles.

Two paths. Per partition (the stream): rows sorted by entity, one entity at a time on the calling
thread with the GIL released (``histogram_segments_serial``; its run records: ``run_kernels``);
partitions run on a thread pool. Bulk (one large unsorted batch of one or two metrics), three passes over the rows:

1. ``count_and_accumulate``: per row its entity is counted, and the
   exact-value statistics (weighted sum, max, min, idle seconds) go into a per-thread accumulator,
   one cache line per entity;
2. ``scatter_codes``: a stable counting sort moves each row, as one 64-bit word (key's low bits, bin
   codes, float32 weight), to its bucket's place; the bin codes of a block of rows are computed
   ahead, in vectorized loops (``or_bin_codes``);
3. ``histogram_codes`` walks bucket after bucket: the bucket's histogram rows stay in L1/L2 while its
   words stream by, then its entities' seconds are summed. Threads own disjoint bucket ranges balanced
   by row count (Zipf-skewed keys would starve a thread with equal key ranges): no per-thread copies of
   the histograms, no atomics.

(A full sort by 20 k keys was slower: every scatter write hit another page.)

Every kernel is serial, ``@njit(cache=True, nogil=True)``, and works on a row or bucket range it is
given; ``core`` runs one call per thread from a Python thread pool. numba ``parallel=True`` gave the
same speed on these few large chunks but took 4-5x longer to JIT compile (five parallel kernels: 21.6 s
of a 25 s cold first call on the shared 2-core machine; serial: 4.6 s). It also keeps
``numba.get_num_threads()`` (which silently disables the cache) out of the kernels. ``fastmath``
stays off: NaN marks a null sample and must survive ``v != v``.
"""

from __future__ import annotations

import numpy as np
from numba import njit

# Bin scheme kinds (see bins.py). The bin function lives in this file on purpose: numba's cache is
# invalidated by the modification time of the file that defines a kernel, not of the files it calls.
LINEAR = 0
LOGLINEAR = 1
# Fractions arrive as float32: 0.1 is stored as 0.10000000149. Without slack it would land in the bin
# above (reported as 0.105). A value within 1e-4 of a bin width above an edge (5e-7 at 0.5 % bins, about
# the float32 resolution) counts as on the edge.
FLOAT32_SLACK = 1e-4

@njit(cache=True, inline="always")
def bin_index(v, kind, a, b, c, nbins):
    """Bin of ``v`` (not NaN, >= 0) in the scheme (kind, a, b, c, nbins)."""
    if kind == LINEAR:
        return int(_linear_bin(v, a, nbins))
    return _loglinear_bin(v, a, b, _log2(c), nbins)


# The two bin functions are branch-free (selects), so that the loops of ``or_bin_codes`` vectorize and
# ``bin_index`` does not mispredict: a third of utilization samples are exact zeros in random order.
@njit(cache=True, inline="always")
def _linear_bin(v, a, nbins):
    """Linear bin of ``v`` as a float (an int32 conversion vectorizes, an int64 one does not on AVX2);
    ceil of v <= 0 is <= 0, hence bin 0."""
    return min(max(np.ceil(v * a - FLOAT32_SLACK), 0.0), np.float64(nbins - 1) if v > 1.0 else np.float64(nbins - 2))


@njit(cache=True, inline="always")
def _loglinear_bin(v, a, b, log2c, nbins):
    """Loglinear bin from the IEEE-754 bits of the float64 (no frexp call): the exponent field picks the
    octave, the top log2(c) mantissa bits the bin within it."""
    bits = np.float64(v).view(np.int64)
    octave = ((bits >> 52) & 0x7FF) - 1023 - int(a)
    code = 2 + (octave << log2c) + ((bits >> (52 - log2c)) & ((1 << log2c) - 1))
    code = 1 if octave < 0 else code
    code = nbins - 1 if octave >= int(b) - int(a) else code
    return 0 if v <= 0.0 else code


@njit(cache=True, inline="always")
def _log2(c):
    """log2 of ``c``, a power of two (bins per octave), from its exponent bits."""
    return ((np.float64(c).view(np.int64) >> 52) & 0x7FF) - 1023


@njit(cache=True)
def bin_indices(values, kind, a, b, c, nbins):
    out = np.empty(values.shape[0], np.int64)
    for i in range(values.shape[0]):
        out[i] = bin_index(values[i], kind, a, b, c, nbins)
    return out



# Columns of the per-entity sums array.
SUM_W, SUM_VW, MAX, COUNT, IDLE_W, MIN = 0, 1, 2, 3, 4, 5
N_SUMS = 6


# The bulk path groups rows into buckets of 2**BUCKET_BITS consecutive entity codes instead of sorting
# them fully: the scatter writes to one place per bucket, and a bucket's histogram rows stay in L2 while
# its rows stream by. Whole bulk call on 50 M rows, 20 k keys, 2 threads, best of three per run, two
# runs: 16 keys 0.73 s, 64 keys 0.45-0.65 s, 128 keys 0.70-0.74 s, 256 keys 0.76-0.77 s. With 64 keys the
# scatter's 313 open cache lines fit L1; an entity touches a few dozen of its 1,347 byte bins, so 64
# entities' working set still fits L2.
BUCKET_BITS = 6

# Columns of a thread's per-entity accumulator in the bulk path: two metrics of four each, one 64-byte
# cache line per entity.
A_VW, A_MAX, A_MIN, A_IDLE_W = 0, 1, 2, 3
ACC_WIDTH = 8


# Index arithmetic in the bulk kernels is unsigned and every loop runs from 0 over a slice: numba
# guards each signed index against negative values (Python wraparound), and those guards made the
# accumulate pass 1.5x slower. Mixed uint64/int64 arithmetic turns into float64 in numba, hence the
# uint64 constants. Values widen with ``np.float64``: numba's ``float()`` keeps a float32 a float32.
_U4 = np.uint64(BUCKET_BITS)
_U32 = np.uint64(32)
_MASK = np.uint64((1 << BUCKET_BITS) - 1)


@njit(cache=True, inline="always")
def _accumulate(acc, o, v, w, idle_threshold):
    # Selects only, no branch (``and`` would be one): a branch in this loop doubled its time.
    ok = v == v  # NaN is a null sample
    acc[o + A_VW] += v * w if ok else 0.0
    acc[o + A_MAX] = max(acc[o + A_MAX], v if ok else -np.inf)
    acc[o + A_MIN] = min(acc[o + A_MIN], v if ok else np.inf)
    acc[o + A_IDLE_W] += w if v < idle_threshold else 0.0  # False for NaN


@njit(cache=True, nogil=True)
def count_and_accumulate(i0, i1, keys, weights, v1, thr1, v2, thr2, counts, acc):
    """Rows ``i0:i1``: count each entity's rows, and add to its accumulator row the weighted
    sum, maximum, minimum and idle seconds of two metrics (a lone metric comes as its own pair: one
    loop instead of two halves the JIT compile time, and the bulk path rarely has an odd metric).

    These need the exact values, so they are taken here in row order; the histogram pass then only
    needs bin codes. (Taking them in the scatter pass instead doubled its time: the random writes of
    the scatter and of the accumulators evicted each other.)
    """
    kk, ww, x1, x2 = keys[i0:i1], weights[i0:i1], v1[i0:i1], v2[i0:i1]
    for i in range(kk.shape[0]):
        k = np.uint64(kk[i])
        counts[k] += 1
        w = np.float64(ww[i])
        a = acc[k]
        _accumulate(a, 0, np.float64(x1[i]), w, thr1)
        _accumulate(a, 4, np.float64(x2[i]), w, thr2)


# Rows per block of the scatter: the block's words (4 KB) stay in L1 between its loops.
SCATTER_BLOCK = 512


@njit(cache=True, nogil=True)
def or_bin_codes(words, x, kind, a, b, c, nbins, null, off):
    """``words[j] |= code << off`` for each value of the float64 block ``x``: its ``bin_index``, or
    ``null`` for a null (NaN) sample.

    One loop per scheme kind, chosen once per block, so that LLVM vectorizes it (four values per
    instruction with AVX2): computed row by row inside the scatter loop, the codes took 40 % of the
    scatter's time. Called once per block, not inlined: a call per 512 rows costs nothing, and the
    scatter loop stays small."""
    if kind == LINEAR:
        for j in range(x.shape[0]):
            v = np.float64(x[j])
            code = np.uint64(np.int32(_linear_bin(v, a, nbins))) if v == v else np.uint64(null)
            words[j] |= code << off
    else:
        log2c = _log2(c)
        for j in range(x.shape[0]):
            v = np.float64(x[j])
            code = null if v != v else _loglinear_bin(v, a, b, log2c, nbins)
            words[j] |= np.uint64(code) << off


@njit(cache=True, nogil=True)
def scatter_codes(i0, i1, keys, weights, cur, out, v1, kind1, a1, b1, c1, n1, v2, kind2, a2, b2, c2, n2,
                  bits1, bits2):
    """Move rows ``i0:i1`` to their bucket-contiguous positions as one 64-bit word each: the key's low
    bits (the bucket is known from the position), the bin codes of two metrics (all ones for a null
    sample; a lone metric comes as its own pair), and the float32 weight in the high half. ``cur`` is
    this chunk's write cursor per bucket.

    Block by block: the words are first put together in a small buffer (weights, then each metric's
    codes, in loops LLVM vectorizes), then moved to their buckets. Whole scatter, 25 M rows on one
    thread, best of five: 0.16-0.18 s blocked, 0.19 s with the codes computed in the moving loop.
    """
    null1 = (1 << bits1) - 1
    null2 = (1 << bits2) - 1
    off2 = np.uint64(BUCKET_BITS + bits1)
    buf = np.empty(SCATTER_BLOCK, np.uint64)
    vbuf = np.empty(SCATTER_BLOCK)
    for s0 in range(i0, i1, SCATTER_BLOCK):
        s1 = min(s0 + SCATTER_BLOCK, i1)
        kk, ww, x1, x2 = keys[s0:s1], weights[s0:s1], v1[s0:s1], v2[s0:s1]
        block = buf[:kk.shape[0]]
        vals = vbuf[:kk.shape[0]]
        for j in range(kk.shape[0]):
            block[j] = np.uint64(np.float32(ww[j]).view(np.uint32)) << _U32
        # Values go to or_bin_codes as float64 so that it compiles once, not once per input dtype.
        for j in range(kk.shape[0]):
            vals[j] = np.float64(x1[j])
        or_bin_codes(block, vals, kind1, a1, b1, c1, n1, null1, _U4)
        for j in range(kk.shape[0]):
            vals[j] = np.float64(x2[j])
        or_bin_codes(block, vals, kind2, a2, b2, c2, n2, null2, off2)
        for j in range(kk.shape[0]):
            k = np.uint64(kk[j])
            bkt = k >> _U4
            p = cur[bkt]
            cur[bkt] = p + 1
            out[np.uint64(p)] = block[j] | (k & _MASK)


@njit(cache=True, nogil=True)
def histogram_codes(b0, b1, offsets, words, bits1, hist1, lo1, hi1, seconds1, bits2, hist2, lo2, hi2, seconds2, nulls):
    """Add the words of buckets ``b0:b1`` into the histograms of two metrics (a lone metric's copy goes
    to a scratch histogram), and count null samples per entity and metric in ``nulls`` (int64). A
    thread owns a bucket range and so its entities: no races.

    Seconds per entity are taken once a bucket is done, while its histogram rows are still in cache:
    the sum of the row's bins ``lo..hi`` (the bins of its minimum and maximum, between which every
    sample lies), not of all 1,347 bins of a byte histogram. Not in the row loop: with float64
    per-entity sums updated there it ran at 30 ns a row instead of 6 (the null counts are int64 for the
    same reason: float64 stores next to the histogram's cost as much, even on a branch that never
    runs). Sample counts are row counts less nulls."""
    null1 = np.uint64((1 << bits1) - 1)
    null2 = np.uint64((1 << bits2) - 1)
    off2 = np.uint64(BUCKET_BITS + bits1)
    # Written out, not through a shared inline helper: numba's inlining of a function with a branch
    # made this loop 5x slower.
    for bkt in range(b0, b1):
        base = np.uint64(bkt) << _U4
        ws = words[offsets[bkt]:offsets[bkt + 1]]
        for i in range(ws.shape[0]):
            word = ws[i]
            k = base + (word & _MASK)
            w = np.float64(np.uint32(word >> _U32).view(np.float32))
            c = (word >> _U4) & null1
            if c != null1:
                hist1[k, c] += w
            else:
                nulls[k, 0] += 1
            c = (word >> off2) & null2
            if c != null2:
                hist2[k, c] += w
            else:
                nulls[k, 1] += 1
        for k in range(bkt << BUCKET_BITS, min((bkt + 1) << BUCKET_BITS, lo1.shape[0])):
            seconds1[k] = _range_sum(hist1[k], lo1[k], hi1[k])
            seconds2[k] = _range_sum(hist2[k], lo2[k], hi2[k])


@njit(cache=True, inline="always")
def _range_sum(row, lo, hi):
    total = 0.0
    for j in range(lo, hi + 1):
        total += row[j]
    return total


@njit(cache=True, nogil=True, inline="always")
def _histogram_entities(k0, k1, offsets, values, weights, hours, kind, a, b, c, nbins, idle_threshold,
                        hist, sums, hour_w, hour_vw):
    with_hours = hours.shape[0] > 0
    for k in range(k0, k1):
        h = hist[k]
        sw = 0.0
        svw = 0.0
        idle = 0.0
        mx = sums[k, MAX]
        mn = sums[k, MIN]
        cnt = 0
        for i in range(offsets[k], offsets[k + 1]):
            v = values[i]
            if v != v:
                continue
            w = weights[i]
            h[bin_index(v, kind, a, b, c, nbins)] += w
            sw += w
            svw += v * w
            idle += w if v < idle_threshold else 0.0
            mx = max(mx, v)
            mn = min(mn, v)
            cnt += 1
            if with_hours:
                hw = int(hours[i])
                hour_w[k, hw] += w
                hour_vw[k, hw] += v * w
        sums[k, SUM_W] += sw
        sums[k, SUM_VW] += svw
        sums[k, MAX] = mx
        sums[k, MIN] = mn
        sums[k, COUNT] += cnt
        sums[k, IDLE_W] += idle


@njit(cache=True, nogil=True)
def histogram_segments_serial(offsets, values, weights, hours, kind, a, b, c, nbins, idle_threshold,
                              hist, sums, hour_w, hour_vw):
    """``histogram_segments`` on the calling thread, without the GIL: the stream runs one partition per
    thread, and waking a thread pool for a partition of 100 k rows costs more than it saves."""
    _histogram_entities(0, offsets.shape[0] - 1, offsets, values, weights, hours, kind, a, b, c, nbins,
                        idle_threshold, hist, sums, hour_w, hour_vw)


@njit(cache=True, nogil=True)
def quantiles(hist, qs, edges, mins, maxes, kind, a, b, c, nbins, out):
    """Per row: for each q, the upper edge of the first bin whose cumulative weight reaches q * total,
    into ``out`` [rows, len(qs)].

    The overflow bin (last) reports the row's exact maximum; a percentile never exceeds the maximum.
    Only the bins between the row's min and max value are read (a few dozen for memory). Rows with
    zero total weight get NaN. Serial, on a row range: ``core.percentiles`` runs ranges on threads.
    """
    n = hist.shape[0]
    nq = qs.shape[0]
    out[:] = np.nan
    for k in range(n):
        if not maxes[k] >= mins[k]:
            continue  # no samples
        lo = bin_index(mins[k], kind, a, b, c, nbins)
        hi = bin_index(maxes[k], kind, a, b, c, nbins)
        row = hist[k]
        total = 0.0
        for j in range(lo, hi + 1):
            total += row[j]
        if total <= 0.0:
            continue
        cum = 0.0
        qi = 0
        for j in range(lo, hi + 1):
            cum += row[j]
            while qi < nq and cum >= qs[qi] * total:
                e = edges[j]
                out[k, qi] = e if e < maxes[k] else maxes[k]
                qi += 1
            if qi == nq:
                break
        while qi < nq:  # rounding left the last quantile short of the total: it is the maximum
            out[k, qi] = maxes[k]
            qi += 1
    return out
