"""Benchmarks: per-chapter wall time and peak memory per profile, and the metric suite's
throughput. Measured here, never asserted in tests.

    python benchmarks/run_benchmarks.py                      # metrics + chapters in smoke
    python benchmarks/run_benchmarks.py --profiles smoke offline
    python benchmarks/run_benchmarks.py --skip-chapters      # metrics only

Writes ``benchmarks/results.json`` (machine-readable, merged with earlier runs so a profile not
re-run keeps its last numbers) and ``benchmarks/RESULTS.md`` (the table the book's appendix shows).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))


def machine() -> dict:
    import torch

    return {"python": platform.python_version(), "torch": torch.__version__,
            "cpus": os.cpu_count(), "cuda": torch.cuda.is_available(),
            "platform": platform.platform()}


def bench_metrics(n: int | None = None) -> dict:
    """Each metric's throughput (maps/s) over the MIT1003 stimuli, scoring a centre-bias map."""
    from saliency_utils import anchors, data, metrics

    names = data.mit1003_ids()[:n]
    fixsets = [data.load_mit1003_fixations(k) for k in names]
    sigma = data.MIT1003_SIGMA_PX
    dens = [f.density(sigma) for f in fixsets]
    fixmaps = [f.fixation_map() for f in fixsets]
    sals = [anchors.center_bias(f.shape, (0.25, 0.25)) for f in fixsets]
    others = [anchors.other_fixation_map(fixsets, i, f.shape) for i, f in enumerate(fixsets)]
    out = {}
    for name, call in anchors._METRIC_CALLS.items():
        t0 = time.perf_counter()
        for s, fm, d, o in zip(sals, fixmaps, dens, others):
            call(s, fm, d, o, s, 0)
        dt = time.perf_counter() - t0
        out[name] = round(len(sals) / dt, 2)
    t0 = time.perf_counter()
    for s, fm, d, o in zip(sals, fixmaps, dens, others):
        anchors._score(s, fm, d, o, s, metrics.METRIC_NAMES, 0)
    out["all metrics"] = round(len(sals) / (time.perf_counter() - t0), 2)
    return {"maps": len(sals), "image size": "MIT1003 stimuli (about 1024 x 768)",
            "maps_per_second": out}


_RUN_ONE = """
import resource, sys
from pathlib import Path
from saliency_utils.book import execute
failed = execute(sys.argv[1], Path(sys.argv[2]), only=[sys.argv[3]])
print("PEAK_KIB", resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
sys.exit(1 if failed else 0)
"""


def bench_chapter(profile: str, chapter: str) -> dict:
    """Run one chapter in a fresh process: wall time and the peak RSS of its kernel."""
    out = ROOT / "_build" / "benchmarks" / profile
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", _RUN_ONE, profile, str(out), chapter],
                          cwd=ROOT, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    peak = [int(line.split()[1]) for line in proc.stdout.splitlines() if line.startswith("PEAK_KIB")]
    return {"seconds": round(wall, 1), "status": "ok" if proc.returncode == 0 else "FAILED",
            "peak_rss_mib": round(peak[0] / 1024, 1) if peak else None}


def write_markdown(res: dict) -> None:
    lines = ["# Benchmark results", "",
             f"Measured {res['when']} on {res['machine']['cpus']} CPU cores, "
             f"Python {res['machine']['python']}, torch {res['machine']['torch']}, "
             f"CUDA {'yes' if res['machine']['cuda'] else 'no'}."
             + (f" Note: {res['note']}" if res.get("note") else ""), ""]
    m = res.get("metrics")
    if m:
        lines += [f"## Metric throughput ({m['maps']} maps, {m['image size']})", "",
                  "| metric | maps/s |", "|---|---|"]
        lines += [f"| {k} | {v} |" for k, v in m["maps_per_second"].items()]
        lines.append("")
    ch = res.get("chapters", {})
    if ch:
        lines += ["## Chapters", "", "| profile | chapter | wall time (s) | peak RSS (MiB) | status |",
                  "|---|---|---|---|---|"]
        for prof, rows in ch.items():
            for name, r in rows.items():
                lines.append(f"| {prof} | {name} | {r['seconds']} | {r['peak_rss_mib']} | {r['status']} |")
        lines.append("")
    for k, v in res.get("throughput", {}).items():
        lines.append(f"- {k}: {v}")
    (HERE / "RESULTS.md").write_text("\n".join(lines) + "\n")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--profiles", nargs="*", default=["smoke"])
    p.add_argument("--skip-chapters", action="store_true")
    p.add_argument("--skip-metrics", action="store_true")
    p.add_argument("--note", default=None, help="conditions of this run (e.g. other load)")
    args = p.parse_args(argv)
    from saliency_utils.book import chapters

    path = HERE / "results.json"
    res = json.loads(path.read_text()) if path.exists() else {}
    res["when"] = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    res["machine"] = machine()
    res["note"] = args.note
    if not args.skip_metrics:
        res["metrics"] = bench_metrics()
        print("metrics:", res["metrics"]["maps_per_second"], flush=True)
    if not args.skip_chapters:
        res.setdefault("chapters", {})
        for prof in args.profiles:
            res["chapters"][prof] = {}
            for nb in chapters(ROOT):
                r = bench_chapter(prof, nb.stem)
                res["chapters"][prof][nb.stem] = r
                print(prof, nb.stem, r, flush=True)
    path.write_text(json.dumps(res, indent=2))
    write_markdown(res)
    print(f"wrote {path} and {HERE / 'RESULTS.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
