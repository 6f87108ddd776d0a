#!/usr/bin/env python3
"""Turns a JMH JSON result file (-rf json) of benchmarks.jar into the Markdown tables of RESULTS.md.

Usage: python3 benchmarks/summarize.py result.json

Every benchmark is printed beside the baseline measured in the same run, with the ratio of their
medians. Throughput benchmarks: the median of all measurement iterations (every fork), the
lowest and highest iteration, and JMH's mean with its 99.9% error. Sample-time benchmarks: the
median of all samples (p0.50), the lowest and highest per-iteration median, and the mean with its
error. Needs nothing but Python 3.
"""
import json
import statistics
import sys

# benchmark -> its baseline in the same class (same parameters, if it has any)
BASELINES = {
    "ShareCloseBenchmark.shareAndClose": "ShareCloseBenchmark.baselineLegacyDmaApi",
    "BulkMapBenchmark.mapGibLpae4k": "BulkMapBenchmark.baselineLongArrayWrites",
    "BulkMapBenchmark.mapGibLpae16k": "BulkMapBenchmark.baselineLongArrayWrites",
    "BulkMapBenchmark.mapGibDart": "BulkMapBenchmark.baselineLongArrayWrites",
    "IovaAllocatorBenchmark.allocateAndFree": "IovaAllocatorBenchmark.baselineTreeMapPutRemove",
    "IovaAllocatorBenchmark.churn": "IovaAllocatorBenchmark.baselineTreeMapChurn",
    "DmaReadBenchmark.readIotlbHit": "DmaReadBenchmark.baselineCpuRead",
    "DmaReadBenchmark.readIotlbMiss": "DmaReadBenchmark.baselineCpuRead",
    "BulkMapBenchmark.mapGibArmV7s": "BulkMapBenchmark.baselineLongArrayWrites",
    "BulkMapBenchmark.mapGibAmdV1": "BulkMapBenchmark.baselineLongArrayWrites",
    "ShareCloseThreadsBenchmark.shareAndCloseOneThread": "ShareCloseThreadsBenchmark.baselineLegacyOneThread",
    "ShareCloseThreadsBenchmark.shareAndCloseTwoThreadsOwnDomains":
        "ShareCloseThreadsBenchmark.baselineLegacyTwoThreadsOwnDevices",
    "ShareCloseThreadsBenchmark.shareAndCloseTwoThreadsSharedDomains":
        "ShareCloseThreadsBenchmark.baselineLegacyTwoThreadsSharedDevices",
    "IovaThreadsBenchmark.cachedOneThread": "IovaThreadsBenchmark.plainOneThread",
    "IovaThreadsBenchmark.cachedTwoThreadsOwnAllocators": "IovaThreadsBenchmark.plainTwoThreadsOwnAllocators",
    "IovaThreadsBenchmark.cachedTwoThreadsSharedAllocator": "IovaThreadsBenchmark.plainTwoThreadsSharedAllocator",
}

# two-thread benchmark -> the one-thread benchmark of the same work, for the scaling table
SCALING = {
    "ShareCloseThreadsBenchmark.shareAndCloseTwoThreadsOwnDomains": "ShareCloseThreadsBenchmark.shareAndCloseOneThread",
    "ShareCloseThreadsBenchmark.shareAndCloseTwoThreadsOwnMachines": "ShareCloseThreadsBenchmark.shareAndCloseOneThread",
    "ShareCloseThreadsBenchmark.shareAndCloseTwoThreadsSharedDomains":
        "ShareCloseThreadsBenchmark.shareAndCloseOneThread",
    "ShareCloseThreadsBenchmark.baselineLegacyTwoThreadsOwnDevices":
        "ShareCloseThreadsBenchmark.baselineLegacyOneThread",
    "ShareCloseThreadsBenchmark.baselineLegacyTwoThreadsSharedDevices":
        "ShareCloseThreadsBenchmark.baselineLegacyOneThread",
    "IovaThreadsBenchmark.plainTwoThreadsOwnAllocators": "IovaThreadsBenchmark.plainOneThread",
    "IovaThreadsBenchmark.plainTwoThreadsSharedAllocator": "IovaThreadsBenchmark.plainOneThread",
    "IovaThreadsBenchmark.cachedTwoThreadsOwnAllocators": "IovaThreadsBenchmark.cachedOneThread",
    "IovaThreadsBenchmark.cachedTwoThreadsSharedAllocator": "IovaThreadsBenchmark.cachedOneThread",
    "MapUnmapBenchmark.mapUnmapTwoThreadsOwnDomains": "MapUnmapBenchmark.mapUnmapOneThread",
    "MapUnmapBenchmark.mapUnmapTwoThreadsSharedDomain": "MapUnmapBenchmark.mapUnmapOneThread",
}


def short(name):
    return name.replace("org.dmashare.benchmarks.", "")


def histogram_median(hist):
    """Median of one iteration's [[value, count], ...] histogram."""
    total = sum(c for _, c in hist)
    seen = 0
    for value, count in sorted(hist):
        seen += count
        if seen * 2 >= total:
            return value
    return float("nan")


def summary(run):
    pm = run["primaryMetric"]
    unit = pm["scoreUnit"]
    if "rawDataHistogram" in pm:
        per_iteration = [histogram_median(it) for fork in pm["rawDataHistogram"] for it in fork]
        median = pm["scorePercentiles"]["50.0"]
    else:
        per_iteration = [v for fork in pm["rawData"] for v in fork]
        median = statistics.median(per_iteration)
    return {
        "median": median,
        "low": min(per_iteration),
        "high": max(per_iteration),
        "iterations": len(per_iteration),
        "forks": run["forks"],
        "mean": pm["score"],
        "error": pm["scoreError"],
        "unit": unit,
        "secondary": {k: v["score"] for k, v in run.get("secondaryMetrics", {}).items()},
    }


def fmt(x):
    if x != x:  # NaN
        return "n/a"
    if abs(x) >= 1e6:
        return f"{x / 1e6:,.2f} M"
    if abs(x) >= 1e4:
        return f"{x / 1e3:,.1f} k"
    return f"{x:,.1f}"


def main(path):
    runs = json.load(open(path))
    by_key = {}
    for r in runs:
        by_key[(short(r["benchmark"]), tuple(sorted(r.get("params", {}).items())))] = r
    print("| benchmark | params | median | iterations (low–high) | mean ± error | unit | baseline median | ratio |")
    print("|---|---|---|---|---|---|---|---|")
    for (name, params), r in by_key.items():
        if name in BASELINES.values():
            continue
        s = summary(r)
        base = by_key.get((BASELINES.get(name), params)) or by_key.get((BASELINES.get(name), ()))
        if base is None and BASELINES.get(name):
            # the baseline may not take every parameter of its benchmark
            for (bn, bp), br in by_key.items():
                if bn == BASELINES[name] and set(bp) <= set(params):
                    base = br
        b = summary(base) if base else None
        p = ", ".join(f"{k}={v}" for k, v in params) or "—"
        ratio = f"{s['median'] / b['median']:.3f}" if b else "—"
        print(f"| {name} | {p} | {fmt(s['median'])} | {s['iterations']} ({fmt(s['low'])}–{fmt(s['high'])}) "
              f"| {fmt(s['mean'])} ± {fmt(s['error'])} | {s['unit']} | {fmt(b['median']) if b else '—'} | {ratio} |")
        if s["secondary"] and "rawDataHistogram" not in r["primaryMetric"]:
            extra = ", ".join(f"{k} = {v:,.1f}" for k, v in s["secondary"].items())
            print(f"| ↳ {name} counters | {p} | {extra} | | | | | |")
    scaling(by_key)


def scaling(by_key):
    """Two threads against one: work done per second with two threads over work done with one.

    Throughput scores are already the sum over threads; a sample-time score is the time of one
    operation of one thread, so two threads do 2 / t2 operations per unit of time against 1 / t1.
    """
    rows = []
    for (name, params), r in by_key.items():
        one_name = SCALING.get(name)
        one = by_key.get((one_name, params)) if one_name else None
        if one is None:
            continue
        s, o = summary(r), summary(one)
        if "rawDataHistogram" in r["primaryMetric"]:
            speedup = r["threads"] * o["median"] / s["median"]
        else:
            speedup = s["median"] / o["median"]
        p = ", ".join(f"{k}={v}" for k, v in params) or "—"
        rows.append(f"| {name} | {p} | {fmt(s['median'])} {s['unit']} | {one_name} | {fmt(o['median'])} "
                    f"{o['unit']} | {speedup:.2f} × |")
    if rows:
        print()
        print("| two threads | params | median | one thread | median | two threads' work / one thread's |")
        print("|---|---|---|---|---|---|")
        for row in rows:
            print(row)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: summarize.py result.json")
    main(sys.argv[1])
