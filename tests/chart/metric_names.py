# SPDX-License-Identifier: Apache-2.0
"""Which metric names TripDeal's programs really export, read from their
sources (the names are string literals in app/metrics.c, operator/metrics.c,
and chaos/ once it exists), and the metric names a PromQL expression uses."""
import os
import re

EXPORTERS = ["app", "operator", "chaos", "lib/common"]
HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")
PROMQL_WORDS = {
    "sum", "rate", "irate", "increase", "histogram_quantile", "by", "without", "on", "ignoring",
    "group_left", "group_right", "and", "or", "unless", "max", "min", "avg", "count", "topk",
    "bottomk", "time", "vector", "scalar", "clamp_min", "clamp_max", "abs", "delta", "deriv",
    "max_over_time", "min_over_time", "avg_over_time", "changes", "resets", "label_replace",
    "absent", "bool", "offset", "le", "humanize", "timestamp", "sort_desc", "sort", "round",
    "last_over_time", "quantile",
}


def exported_names(source_root):
    names = set()
    for d in EXPORTERS:
        top = os.path.join(source_root, d)
        if not os.path.isdir(top):
            continue
        for base, _, files in os.walk(top):
            for f in files:
                if f.endswith((".c", ".h")):
                    text = open(os.path.join(base, f), errors="replace").read()
                    names.update(re.findall(r'"(?:# (?:HELP|TYPE) )?((?:tripdeal|process)_[a-z0-9_]+)', text))
    # Histograms are exported as NAME_bucket/_sum/_count (written with their suffix
    # or as "NAME_bucket{..."): accept both spellings.
    for n in list(names):
        for s in HISTOGRAM_SUFFIXES:
            if n.endswith(s):
                names.add(n[: -len(s)])
    return names


def names_in(expr):
    """Metric names in a PromQL expression (identifiers outside strings and
    label matchers that look like TripDeal or process metrics)."""
    stripped = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    stripped = re.sub(r"\{[^}]*\}", "{}", stripped)
    stripped = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", stripped)
    return {w for w in re.findall(r"\b[a-zA-Z_:][a-zA-Z0-9_:]*\b", stripped)
            if w.startswith(("tripdeal_", "process_", "fakekube_")) and w not in PROMQL_WORDS}
