"""Read ``benchmarks/results.json`` (written by ``benchmarks/run_benchmarks.py``) into tables for
the book's benchmarks appendix.

The file holds the conditions of the last run (``when``, ``machine``, ``note``), the metric
suite's throughput (``evaluate.metrics.maps_per_second``), per-profile chapter measurements
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
           "throughput_table", "build_table", "build_notes", "build_verdict",
           "PAPER_ESTIMATE_NOTE", "GPU_SCENARIOS", "term_seconds", "paper_estimate",
           "paper_estimate_table", "paper_estimate_markdown"]

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
                         "status": f"measured {b.get('when', '?')}" if r else NOT_MEASURED})
    return pd.DataFrame(rows).set_index(["profile", "build"])


def build_notes(res: dict | None, profiles: Sequence[str]) -> list[str]:
    """One line per measured profile of the build section: when, and the conditions of the run
    (its ``note``), shown once under the build table rather than in every row."""
    build = (res or {}).get("build", {})
    return [f"{prof} (measured {build[prof].get('when', '?')}): {build[prof].get('note') or 'no note'}"
            for prof in profiles if prof in build]


# ------------------------------------------------------------------------------ paper estimate
#: How a GPU is modelled in the `paper` profile's time estimate (benchmarks/paper_estimate.py;
#: no GPU was measured). ``tflops``: sustained rate of the networks' convolutions and matrix
#: products; ``call_ms``: fixed cost per batch (kernel launches, Python, transfers);
#: ``speedup``: over this machine's 2 CPU cores for other GPU work (FFT filter banks, the SR
#: distance search). *fast*: an H100/H200-class GPU with TF32 convolutions at about a fifth of
#: its dense peak (495 TFLOP/s); *slow*: an A100-class GPU in plain FP32 (19.5 TFLOP/s peak) or
#: a small GPU with TF32. Host work (image resizing, metric scoring, GrabCut, SR patch
#: extraction) keeps its measured CPU time in both.
GPU_SCENARIOS = {
    "fast": {"tflops": 100.0, "call_ms": 1.0, "speedup": 100.0},
    "slow": {"tflops": 15.0, "call_ms": 5.0, "speedup": 20.0},
}
_fast, _slow = GPU_SCENARIOS["fast"], GPU_SCENARIOS["slow"]

#: What the estimate is, in one paragraph (the benchmarks page and RESULTS.md show it; the
#: README says it in its own words, and a test checks it quotes the scenarios' numbers).
PAPER_ESTIMATE_NOTE = (
    "An estimate, not a measurement: no GPU was available to this book's builds. "
    "`benchmarks/paper_estimate.py` counts each chapter's dominant work in the `paper` profile "
    "(forward and backward passes of VGG-16 / AlexNet / the saliency model, training images, SR "
    "maps, filter banks, GrabCut calls, metric scorings), read from the notebooks' code and the "
    "`paper` settings; times each unit on this machine's CPU, with the FLOPs of each network unit "
    "counted by `torch.utils.flop_counter`; and models a GPU in two scenarios: network work at "
    f"{_fast['tflops']:g} (fast) or {_slow['tflops']:g} (slow) TFLOP/s sustained plus "
    f"{_fast['call_ms']:g} or {_slow['call_ms']:g} ms per batch, other GPU work (FFT filter "
    f"banks, the SR distance search) {_fast['speedup']:g} or {_slow['speedup']:g} times faster "
    "than these 2 CPU cores, host work (resizing, metric scoring, GrabCut, SR patch extraction) "
    "at its measured CPU time. Terms under about 1 % of a chapter are left out (named in the "
    "table), so the estimate leans low. Trained models: the `models` row, OSIE training images "
    "(full SALICON, when present, is about 17 times as many).")


def term_seconds(term: dict, unit: dict, scenario: dict | None) -> float:
    """Seconds of one workload ``term`` (``count`` units in batches of ``batch``, ``parallel``
    host threads) with ``unit``'s measured costs: on this CPU (``scenario`` None) or on the
    modelled GPU. Network units (``kind`` "net") take FLOPs / rate + ``call_ms`` per batch, other
    GPU work (``kind`` "gpu") its CPU time / ``speedup``; host work (``host_s``, and every ``kind``
    "cpu" unit) its CPU time, divided by ``parallel``."""
    count = float(term["count"])
    if count < 0:
        raise ValueError(f"negative count in {term}")
    host = float(unit.get("host_s") or 0.0)
    kind = unit["kind"]
    if kind not in ("net", "gpu", "cpu"):
        raise ValueError(f"unknown unit kind {kind!r}")
    if scenario is None or kind == "cpu":
        return count * (float(unit["cpu_s"]) + host) / max(1, int(term.get("parallel", 1)))
    if kind == "net":
        calls = np.ceil(count / max(1, int(term.get("batch", 1))))
        dev = (count * float(unit["gflop"]) * 1e9 / (scenario["tflops"] * 1e12)
               + calls * scenario["call_ms"] / 1e3)
    else:
        dev = count * float(unit["cpu_s"]) / scenario["speedup"]
    return float(dev + count * host)


def paper_estimate(terms: Sequence[dict], units: dict, scenarios: dict | None = None) -> dict:
    """Per chapter (in the order first seen): the estimated seconds on this CPU and in each GPU
    scenario, and the term that dominates the slow-GPU time. Raises ``KeyError`` naming a unit
    that was not measured."""
    scenarios = GPU_SCENARIOS if scenarios is None else scenarios
    last = list(scenarios)[-1]  # the slowest: it names the dominant term
    out: dict = {}
    for t in terms:
        if t["unit"] not in units:
            raise KeyError(f"unit {t['unit']!r} of {t['chapter']} / {t['what']} was not measured")
        u = units[t["unit"]]
        ch = out.setdefault(t["chapter"], {"cpu": 0.0, **{s: 0.0 for s in scenarios},
                                           "dominant": None, "_top": -1.0})
        ch["cpu"] += term_seconds(t, u, None)
        for s, sc in scenarios.items():
            sec = term_seconds(t, u, sc)
            ch[s] += sec
            if s == last and sec > ch["_top"]:
                ch["_top"], ch["dominant"] = sec, t["what"]
    for ch in out.values():
        ch.pop("_top")
    return out


def _duration(s: float) -> str:
    """Seconds as a rounded human duration (``"40 s"``, ``"12 min"``, ``"3.4 h"``, ``"2.1 days"``)."""
    if s < 90:
        return f"{s:.0f} s"
    if s < 90 * 60:
        return f"{s / 60:.0f} min"
    if s < 48 * 3600:
        return f"{s / 3600:.1f} h"
    return f"{s / 86400:.1f} days"


def paper_estimate_table(res: dict | None):
    """The `paper` profile's estimated time per chapter (``results.json``'s ``paper_estimate``):
    one GPU (fast .. slow scenario) and this CPU, with the dominant term; empty when not
    estimated."""
    import pandas as pd

    est = (res or {}).get("paper_estimate")
    if not est:
        return pd.DataFrame()
    rows = []
    for ch, e in est["chapters"].items():
        rows.append({"chapter": ch,
                     "one GPU (estimate)": f"{_duration(e['fast'])} – {_duration(e['slow'])}",
                     "this CPU (estimate)": _duration(e["cpu"]),
                     "dominant term (slow GPU)": e["dominant"],
                     "left out": est.get("omitted", {}).get(ch, "")})
    tot = {k: sum(e[k] for e in est["chapters"].values()) for k in ("fast", "slow", "cpu")}
    rows.append({"chapter": "all",
                 "one GPU (estimate)": f"{_duration(tot['fast'])} – {_duration(tot['slow'])}",
                 "this CPU (estimate)": _duration(tot["cpu"]), "dominant term (slow GPU)": "",
                 "left out": ""})
    return pd.DataFrame(rows).set_index("chapter")


def paper_estimate_markdown(est: dict) -> list[str]:
    """The estimate as a Markdown table (README, RESULTS.md)."""
    t = paper_estimate_table({"paper_estimate": est})
    lines = ["| chapter | one GPU (estimate) | this 2-core CPU (estimate) | dominant term (slow GPU) |",
             "|---|---|---|---|"]
    for ch, r in t.iterrows():
        lines.append(f"| {ch} | {r['one GPU (estimate)']} | {r['this CPU (estimate)']} | "
                     f"{r['dominant term (slow GPU)']} |")
    return lines
