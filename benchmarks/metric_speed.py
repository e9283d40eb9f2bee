"""NSS, CC, SIM and KLD of :mod:`saliency_utils.evaluate.metrics` against pysaliency's ``NSS``, ``CC``,
``SIM`` and ``MIT_KLDiv`` on the same 768 x 1024 maps (median of repeated calls, ms per map).

    python benchmarks/metric_speed.py [--repeat 30] [--json out.json]

pysaliency is not a dependency of the project: install it into a separate virtual environment
and run this script with that environment's Python, the project's site-packages on
``PYTHONPATH`` (pysaliency 0.2.22 imports torch). Without pysaliency only our times are printed.
"""
from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from saliency_utils.evaluate import maps, metrics

SHAPE = (768, 1024)


def inputs(seed: int = 0):
    """A smooth prediction, a blurred fixation density and 60 fixations (each once)."""
    rng = np.random.default_rng(seed)
    h, w = SHAPE
    ys, xs = rng.normal(h / 2, h / 6, 60).clip(0, h - 1), rng.normal(w / 2, w / 6, 60).clip(0, w - 1)
    density = maps.gaussian_density(maps.fixation_counts(xs, ys, SHAPE), 30.0)
    sal = maps.gaussian_density(rng.random(SHAPE), 20.0) + 0.3 * maps.gaussian_centre_bias(SHAPE)
    fixmap = maps.fixation_map(xs, ys, SHAPE)
    r, c = np.nonzero(fixmap)
    return sal, density, fixmap, c, r


def timed(fn, repeat: int) -> float:
    fn()  # warm-up
    ts = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return statistics.median(ts) * 1e3


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeat", type=int, default=30)
    p.add_argument("--json", type=Path, default=None)
    p.add_argument("--note", default=None, help="conditions of this run (e.g. other load)")
    args = p.parse_args(argv)
    sal, dens, fixmap, xs, ys = inputs()
    ours = {"NSS": lambda: metrics.nss(sal, fixmap), "CC": lambda: metrics.cc(sal, dens),
            "SIM": lambda: metrics.sim(sal, dens), "KLD": lambda: metrics.kld(sal, dens)}
    try:
        import pysaliency.metrics as pm

        theirs = {"NSS": lambda: pm.NSS(sal, xs, ys).mean(), "CC": lambda: pm.CC(sal, dens),
                  "SIM": lambda: pm.SIM(sal, dens), "KLD": lambda: pm.MIT_KLDiv(sal, dens)}
        from importlib.metadata import version as dist_version

        version = dist_version("pysaliency")
    except ImportError:
        theirs, version = {}, None
    rows = {}
    for name, fn in ours.items():
        row = {"ours_ms": round(timed(fn, args.repeat), 3)}
        if name in theirs:
            row["pysaliency_ms"] = round(timed(theirs[name], args.repeat), 3)
            row["speedup"] = round(row["pysaliency_ms"] / row["ours_ms"], 2)
        rows[name] = row
        print(name, row, flush=True)
    res = {"shape": list(SHAPE), "repeat": args.repeat, "pysaliency": version,
           "python": platform.python_version(), "numpy": np.__version__,
           "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "metrics": rows,
           "note": args.note}
    if args.json:
        args.json.write_text(json.dumps(res, indent=1) + "\n")
    return res


if __name__ == "__main__":
    main()
