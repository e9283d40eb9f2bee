"""Throughput of ``python -m saliency_utils predict`` on a synthetic folder of photos.

    python benchmarks/predict_speed.py [--folder /tmp/predict_photos] [--n 200] [--threads 2]
                                       [--old N] [--json out.json]

Wall time depends on what else runs on the machine: the result records the load average and the
CPU time of the run (``images_per_cpu_second``, torch using ``--threads`` threads).

The folder (made once, then reused) holds ``--n`` photo-like images (smooth colour fields with
edges and grain): sizes log-uniform from 256 x 256 to 12 megapixels, aspect ratios 4:3, 3:2,
16:9, 1:1 and their portrait forms, 90 % JPEG (quality 90) and 10 % PNG. The model is the
offline preset's trained checkpoint when it is in the cache, otherwise an untrained model of the
same architecture (random readout, ImageNet-free encoder; the speed does not depend on the
weights); the result says which. ``--old N`` also times the previous implementation (full-size
decoding and ``resize_map`` of the map, from git ``fac49dc:saliency_utils/predict.py`` or
``--old-file``) on the first N images.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]

ASPECTS = (4 / 3, 3 / 2, 16 / 9, 1.0, 3 / 4, 2 / 3, 9 / 16)


def make_folder(folder: Path, n: int, seed: int = 0) -> list[tuple[int, int]]:
    folder.mkdir(parents=True, exist_ok=True)
    sizes = []
    for i in range(n):
        rng = np.random.default_rng([seed, i])  # per image: a folder made in parts is the same
        mp = math.exp(rng.uniform(math.log(256 * 256), math.log(12e6)))
        aspect = ASPECTS[rng.integers(len(ASPECTS))]
        w = max(256, round(math.sqrt(mp * aspect)))
        h = max(256, round(w / aspect))
        sizes.append((h, w))
        ext = ".png" if rng.random() < 0.1 else ".jpg"
        path = folder / f"photo_{i:04d}{ext}"
        if path.exists():
            continue
        small = rng.random((24, 32, 3)) * 255
        small[rng.random((24, 32)) < 0.3] *= 0.3  # some dark patches: edges after zooming
        img = np.asarray(Image.fromarray(small.astype(np.uint8)).resize((w, h), Image.BILINEAR),
                         dtype=np.float32)
        img += 6 * rng.standard_normal((h, w, 1), dtype=np.float32)  # grain
        img = np.clip(img, 0, 255).astype(np.uint8)
        if ext == ".jpg":
            Image.fromarray(img).save(path, quality=90)
        else:
            Image.fromarray(img).save(path, compress_level=6)
    return sizes


def get_model():
    from saliency_utils.training import saliency as training

    cfg = training.PRESETS["offline"]
    ckpt = training.checkpoint_path(cfg)
    if ckpt.is_file():
        return training.load_checkpoint(ckpt, device="cpu"), f"trained offline checkpoint {ckpt.name}"
    import torch

    torch.manual_seed(0)
    model = training.build_model(cfg.replace(weights=None), weights=None, device="cpu")
    return model, "untrained model of the offline architecture (trained checkpoint not in cache)"


OLD_REV = "fac49dc"  # the last commit before predict was hardened and sped up


def load_old(path: Path | None):
    if path is None:
        src = subprocess.run(["git", "show", f"{OLD_REV}:saliency_utils/predict.py"], cwd=ROOT,
                             capture_output=True, text=True, check=True).stdout
        path = Path(tempfile.mkdtemp()) / "old_predict.py"
        # the old revision was a flat module: its relative import names today's training module
        path.write_text(src.replace("from . import training",
                                    "from saliency_utils.training import saliency as training")
                        .replace("from .training import", "from saliency_utils.training.saliency import"))
    spec = importlib.util.spec_from_file_location("old_predict", path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules["old_predict"] = mod  # dataclasses look their module up
    spec.loader.exec_module(mod)
    return mod


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--folder", type=Path, default=Path("/tmp/predict_photos"))
    p.add_argument("--n", type=int, default=200)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--old", type=int, default=0, help="also time the old implementation on N")
    p.add_argument("--old-file", type=Path, default=None)
    p.add_argument("--json", type=Path, default=None)
    p.add_argument("--note", default=None, help="conditions of this run (e.g. other load)")
    args = p.parse_args(argv)
    import torch

    from saliency_utils.models import predict

    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    sizes = make_folder(args.folder, args.n)
    print(f"folder ready in {time.perf_counter() - t0:.1f} s", flush=True)
    mp = np.array([h * w for h, w in sizes]) / 1e6
    model, which = get_model()
    res = {"images": args.n, "megapixels_min": round(float(mp.min()), 3),
           "megapixels_median": round(float(np.median(mp)), 2),
           "megapixels_max": round(float(mp.max()), 2),
           "megapixels_mean": round(float(mp.mean()), 2), "model": which,
           "torch_threads": args.threads, "python": platform.python_version(),
           "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "note": args.note}
    res["load_average_before"] = [round(v, 1) for v in os.getloadavg()]
    with tempfile.TemporaryDirectory() as out:
        t0, c0 = time.perf_counter(), time.process_time()
        report = predict.predict_folder(args.folder, out, model=model, progress=False,
                                        log=lambda m: None)
        dt, cpu = time.perf_counter() - t0, time.process_time() - c0
    assert report.ok and len(report.written) == args.n, report.failed[:3]
    res["load_average_after"] = [round(v, 1) for v in os.getloadavg()]
    res["seconds"] = round(dt, 1)
    res["images_per_second"] = round(args.n / dt, 2)
    res["cpu_seconds"] = round(cpu, 1)
    res["images_per_cpu_second"] = round(args.n / cpu, 2)
    print(f"new: {args.n} images in {dt:.1f} s = {args.n / dt:.2f} images/s "
          f"({cpu:.1f} CPU s, {args.n / cpu:.2f} images per CPU second)", flush=True)
    if args.old:
        old = load_old(args.old_file)
        files = sorted(args.folder.iterdir())[: args.old]
        sub = Path(tempfile.mkdtemp())
        for f in files:
            (sub / f.name).symlink_to(f)
        def run(mod):
            with tempfile.TemporaryDirectory() as out:
                t0, c0 = time.perf_counter(), time.process_time()
                mod.predict_folder(sub, out, model=model, progress=False, log=lambda m: None)
                return time.perf_counter() - t0, time.process_time() - c0

        (dt_old, cpu_old), (dt_new, cpu_new) = run(old), run(predict)
        k = len(files)
        res["old_subset"] = {"images": k,
                             "old_images_per_second": round(k / dt_old, 2),
                             "new_images_per_second": round(k / dt_new, 2),
                             "old_images_per_cpu_second": round(k / cpu_old, 2),
                             "new_images_per_cpu_second": round(k / cpu_new, 2)}
        print("subset:", res["old_subset"], flush=True)
    if args.json:
        args.json.write_text(json.dumps(res, indent=1) + "\n")
    return res


if __name__ == "__main__":
    main()
