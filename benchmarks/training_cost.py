"""Cold training time of chapter 4's task-vs-domain experiment, read from its cached runs.

    python benchmarks/training_cost.py [--profile offline] [--json benchmarks/training_cost.json]

Every run of the experiment (:func:`saliency_utils.training.controlled.experiment_configs` of the
chapter's settings) records its wall time in its checkpoint's JSON sidecar when it is trained;
this script collects them (a run not in the cache is listed as missing), per run, per condition
and in total, with the machine they were trained on. Train them first with
``python -m saliency_utils models --profile offline`` (or ``make models``). Times depend on what
else ran on the machine meanwhile: the note says what the author saw.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path


def collect(profile: str) -> dict:
    from saliency_utils.book import models as book_models
    from saliency_utils.training import controlled as controlled_tuning
    from saliency_utils.book.profiles import settings

    cfg = settings("ch4_task_vs_domain", profile)
    preset = book_models.saliency_config(cfg)
    groups = controlled_tuning.experiment_configs(preset, cfg,
                                                  book_models.scene_labels_csv(cfg, preset.dataset))
    runs, missing = [], []
    for condition, configs in groups.items():
        for c in configs:
            side = controlled_tuning.control_checkpoint_path(c).with_suffix(".json")
            if not side.exists():
                missing.append(f"{condition}, seed {c.seed}")
                continue
            h = json.loads(side.read_text())["history"]
            runs.append({"condition": condition, "seed": c.seed, "seconds": h["seconds"],
                         "device": h["device"], "epochs": len(h["epochs"])})
    per = {}
    for r in runs:
        per[r["condition"]] = round(per.get(r["condition"], 0.0) + r["seconds"], 1)
    setup = next(iter(groups.values()))[0].setup
    return {"profile": profile, "runs": runs, "missing": missing, "seconds_per_condition": per,
            "total_seconds": round(sum(r["seconds"] for r in runs), 1),
            "setup": {"image_size": list(setup.image_size), "warmup_epochs": setup.readout_epochs,
                      "epochs": setup.epochs, "seeds": list(cfg["control_seeds"])},
            "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
            "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", default="offline")
    ap.add_argument("--json", default=None, help="write the result here")
    ap.add_argument("--note", default="", help="what else ran on the machine")
    a = ap.parse_args(argv)
    res = collect(a.profile)
    res["note"] = a.note
    text = json.dumps(res, indent=1)
    print(text)
    if a.json:
        Path(a.json).write_text(text + "\n")
    return 1 if res["missing"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
