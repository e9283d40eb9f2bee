"""Read ``benchmarks/results.json`` (written by ``benchmarks/run_benchmarks.py``) into tables for
the book's benchmarks appendix.

The file holds the conditions of the last run (``when``, ``machine``, ``note``), the metric
suite's throughput (``metrics.maps_per_second``), per-profile chapter measurements
(``chapters[profile][chapter] = {seconds, peak_rss_mib, status}``, optionally with its own
``when``) and named throughputs (``throughput[name] = {value, unit, what}``; older files hold a
plain text per name). Any part may be missing: a chapter or profile that was not measured shows
as "not measured", never as a number.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

import numpy as np

__all__ = ["NOT_MEASURED", "load_results", "conditions", "chapter_table", "metric_table",
           "throughput_table"]

NOT_MEASURED = "not measured"


def load_results(path: str | Path) -> dict | None:
    """The parsed results file, or ``None`` when it does not exist (nothing measured yet).

    Raises ValueError for a file that is not a JSON object or has malformed sections."""
    path = Path(path)
    if not path.is_file():
        return None
    try:
        res = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise ValueError(f"{path} is not valid JSON: {err}") from err
    if not isinstance(res, dict):
        raise ValueError(f"{path} must hold a JSON object, not {type(res).__name__}")
    ch = res.get("chapters", {})
    if not isinstance(ch, dict) or not all(isinstance(v, dict) for v in ch.values()):
        raise ValueError(f"{path}: 'chapters' must map profile -> chapter -> measurement")
    m = res.get("metrics")
    if m is not None and not isinstance(m.get("maps_per_second") if isinstance(m, dict) else None,
                                        dict):
        raise ValueError(f"{path}: 'metrics' must hold a 'maps_per_second' mapping")
    return res


def conditions(res: dict | None):
    """A one-column table (pandas) of the run's conditions: when, machine, note."""
    import pandas as pd

    res = res or {}
    mach = res.get("machine") or {}
    rows = {
        "measured (UTC)": res.get("when") or NOT_MEASURED,
        "CPU cores": mach.get("cpus", "unknown"),
        "CUDA GPU": {True: "yes", False: "no"}.get(mach.get("cuda"), "unknown"),
        "Python": mach.get("python", "unknown"),
        "torch": mach.get("torch", "unknown"),
        "platform": mach.get("platform", "unknown"),
        "note": res.get("note") or "none",
    }
    return pd.DataFrame({"value": [str(v) for v in rows.values()]}, index=list(rows))


#: Per-chapter wall-time targets in seconds, by profile (2 CPU cores, models cached).
CHAPTER_TARGETS_S = {"offline": 480}


def _against_target(profile: str, seconds) -> str:
    target = CHAPTER_TARGETS_S.get(profile)
    if target is None or seconds is None or not np.isfinite(seconds):
        return ""
    return "met" if seconds <= target else f"over by {seconds - target:.0f} s"


def chapter_table(res: dict | None, chapters: Sequence[str], profiles: Sequence[str]):
    """One row per (chapter, profile): wall time (s), peak RSS (MiB), status and, for profiles
    with a target (:data:`CHAPTER_TARGETS_S`: offline 480 s), whether the chapter met it.

    Rows follow ``chapters`` then ``profiles``; chapters measured but not listed come last.
    Unmeasured rows have NaN numbers and status "not measured"."""
    import pandas as pd

    if not profiles:
        raise ValueError("no profile to tabulate")
    measured = (res or {}).get("chapters", {})
    names = list(dict.fromkeys(list(chapters) + [c for rows in measured.values() for c in rows]))
    if not names:
        raise ValueError("no chapter to tabulate")
    order = list(dict.fromkeys(list(profiles) + list(measured)))
    dated = any("when" in r for rows_ in measured.values() for r in rows_.values())
    rows = []
    for name in names:
        for prof in order:
            r = measured.get(prof, {}).get(name)
            if r is None:
                if prof not in profiles:
                    continue
                rows.append((name, prof, np.nan, np.nan, NOT_MEASURED, "", ""))
                continue
            sec, peak = r.get("seconds"), r.get("peak_rss_mib")
            sec = np.nan if sec is None else float(sec)
            rows.append((name, prof, sec, np.nan if peak is None else float(peak),
                         str(r.get("status", "unknown")), _against_target(prof, sec),
                         str(r.get("when") or (res or {}).get("when") or "")))
    df = pd.DataFrame(rows, columns=["chapter", "profile", "wall time (s)", "peak RSS (MiB)",
                                     "status", "target", "measured"])
    if not any(p in CHAPTER_TARGETS_S for p in order):
        df = df.drop(columns="target")
    if not dated:  # one run measured everything: its date is in the conditions table
        df = df.drop(columns="measured")
    return df.set_index(["chapter", "profile"])


def metric_table(res: dict | None):
    """Each metric's throughput in maps per second (pandas, one row per metric), or an empty
    table when the metrics were not measured."""
    import pandas as pd

    m = (res or {}).get("metrics")
    if not m:
        return pd.DataFrame(columns=["maps/s"])
    mps = m["maps_per_second"]
    return pd.DataFrame({"maps/s": [float(v) for v in mps.values()]}, index=list(mps))


def throughput_table(res: dict | None):
    """Named throughputs (pandas, one row each: value, unit, what was timed), or an empty table.
    Entries written as plain text by older versions of the script go to ``what``."""
    import pandas as pd

    tp = (res or {}).get("throughput") or {}
    if not isinstance(tp, dict):
        raise ValueError("'throughput' must map a name to a measurement")
    rows = {}
    for name, v in tp.items():
        if isinstance(v, dict):
            if "value" not in v:
                raise ValueError(f"throughput {name!r} has no 'value'")
            rows[name] = (float(v["value"]), str(v.get("unit", "")), str(v.get("what", "")))
        else:
            rows[name] = (np.nan, "", str(v))
    return pd.DataFrame.from_dict(rows, orient="index", columns=["value", "unit", "what"])


#: Build-time targets (issue "the book rebuilds fast"), on 2 CPU cores with the environment installed.
BUILD_TARGETS = {"cold": "<= 45 min", "warm": "<= 25 min",
                 "incremental": "<= the edited chapter's time + the render"}


#: The fixed build targets in seconds (the incremental one depends on the edited chapter).
BUILD_TARGETS_S = {"cold": 45 * 60, "warm": 25 * 60}


def build_verdict(kind: str, build: dict) -> str:
    """Whether a measured build (``kind`` of one profile's ``build`` entry) met its target:
    ``"met"`` or ``"missed by N s (slowest step: ...)"``; the incremental target is the edited
    chapter's time in the cold build plus the render. ``""`` where it cannot be told."""
    r = build.get(kind)
    if not r or r.get("seconds") is None:
        return ""
    if kind == "incremental":
        ch = (build.get("cold") or {}).get("chapters", {}).get(build.get("edited chapter"), {})
        if ch.get("seconds") is None:
            return ""
        limit = ch["seconds"] + r.get("steps", {}).get("render", 0.0)
    else:
        limit = BUILD_TARGETS_S[kind]
    if r["seconds"] <= limit:
        return "met"
    steps = r.get("steps", {})
    slow = max(steps, key=steps.get) if steps else "?"
    return f"missed by {r['seconds'] - limit:.0f} s (longest step: {slow}, {steps.get(slow, 0):.0f} s)"


def build_table(res: dict | None, profiles: Sequence[str]):
    """Cold, warm and incremental build times per profile (``results.json``'s ``build``
    section): total and per step (models, chapters, render) in seconds, with the target; a build
    that was not measured is listed as :data:`NOT_MEASURED`."""
    import pandas as pd

    build = (res or {}).get("build", {})
    rows = []
    for prof in profiles:
        b = build.get(prof, {})
        for kind in ("cold", "warm", "incremental"):
            r = b.get(kind)
            st = (r or {}).get("steps", {})
            rows.append({"profile": prof, "build": kind,
                         "total (s)": (r or {}).get("seconds"), "models (s)": st.get("models"),
                         "chapters (s)": st.get("chapters"), "render (s)": st.get("render"),
                         "target": BUILD_TARGETS[kind], "met?": build_verdict(kind, b),
                         "status": f"measured {b.get('when', '?')}" if r else NOT_MEASURED,
                         "note": b.get("note", "") if r else ""})
    return pd.DataFrame(rows).set_index(["profile", "build"])
