"""Benchmarks: per-chapter wall time and peak memory per profile, and the metric suite's
throughput. Measured here, never asserted in tests.

    python benchmarks/run_benchmarks.py                      # metrics + chapters in smoke
    python benchmarks/run_benchmarks.py --profiles smoke offline
    python benchmarks/run_benchmarks.py --skip-chapters      # metrics and throughputs only
    python benchmarks/run_benchmarks.py --profiles offline --chapters ch1_gradient_saliency
    python benchmarks/run_benchmarks.py --build --profiles offline   # cold/warm/incremental

Writes ``benchmarks/results.json`` (machine-readable, merged with earlier runs so a profile not
re-run keeps its last numbers) and ``benchmarks/RESULTS.md`` (the table the book's appendix shows).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from saliency_utils.book.benchreport import BUILD_TARGETS

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def machine() -> dict:
    import torch

    return {"python": platform.python_version(), "torch": torch.__version__,
            "cpus": os.cpu_count(), "cuda": torch.cuda.is_available(),
            "platform": platform.platform()}


def bench_metrics(n: int | None = None) -> dict:
    """Each metric's throughput (maps/s) over the MIT1003 stimuli, scoring a centre-bias map."""
    from saliency_utils import data
    from saliency_utils.evaluate import anchors, scoring as evaluation, metrics

    names = data.mit1003_ids()[:n]
    fixsets = [data.load_mit1003_fixations(k) for k in names]
    sigma = data.MIT1003_SIGMA_PX
    dens = [f.density(sigma) for f in fixsets]
    fixmaps = [f.fixation_map() for f in fixsets]
    sals = [anchors.centre_bias_map(f.shape, (0.25, 0.25)) for f in fixsets]
    others = [anchors.other_fixation_map(fixsets, i, f.shape) for i, f in enumerate(fixsets)]
    out = {}
    for name, call in evaluation.METRIC_CALLS.items():
        t0 = time.perf_counter()
        for s, fm, d, o in zip(sals, fixmaps, dens, others):
            call(s, fm, d, o, s, 0)
        dt = time.perf_counter() - t0
        out[name] = round(len(sals) / dt, 2)
    t0 = time.perf_counter()
    for s, fm, d, o in zip(sals, fixmaps, dens, others):
        evaluation.score_image(s, fm, d, o, s, metrics.METRIC_NAMES, 0)
    out["all metrics"] = round(len(sals) / (time.perf_counter() - t0), 2)
    return {"maps": len(sals), "image size": "MIT1003 stimuli (about 1024 x 768)",
            "maps_per_second": out}


def _timed(fn, n_items: int, repeats: int = 1) -> float:
    """Items per second of ``fn()`` (which processes ``n_items``), best of ``repeats``."""
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return n_items / best


def bench_gradient_maps(n: int = 64) -> dict:
    """Chapter 1: image-specific class saliency maps (captum, channel max), batches of 16 at
    224 x 224 with the offline backbone."""
    import torch

    from saliency_utils import data
    from saliency_utils.explain.api import explain
    from saliency_utils.models.backbones import load_backbone

    bb = load_backbone("efficientnet_lite0")
    recs = data.imagenet_val()[:n]
    x = bb.preprocess([data.load_imagenet_image(r) for r in recs])
    torch.manual_seed(0)

    def run():
        for s in range(0, n, 16):
            explain(bb.model, x[s:s + 16], "gradient")
    explain(bb.model, x[:2], "gradient")  # warm-up
    return {"value": round(_timed(run, n), 1), "unit": "maps/s",
            "what": f"gradient saliency, EfficientNet-Lite0, 224x224, batches of 16, {n} images"}


def bench_grabcut(n: int = 40) -> dict:
    """Chapter 1: GrabCut localisation (hard seeds) of one gradient map, 227 x 227."""
    import torch

    from saliency_utils import data
    from saliency_utils.explain.api import explain
    from saliency_utils.evaluate import localisation
    from saliency_utils.evaluate.maps import resize_map
    from saliency_utils.models.backbones import load_backbone

    bb = load_backbone("efficientnet_lite0")
    recs = data.imagenet_val()[:n]
    imgs = [data.load_imagenet_image(r) for r in recs]
    maps_ = explain(bb, imgs, "gradient")
    maps_ = [resize_map(m, im.shape[:2]) for m, im in zip(maps_, imgs)]
    torch.set_num_threads(1)
    try:
        rate = _timed(lambda: [localisation.saliency_box(im, m) for im, m in zip(imgs, maps_)], n)
    finally:
        torch.set_num_threads(os.cpu_count() or 1)
    return {"value": round(1 / rate, 4), "unit": "s/image",
            "what": f"GrabCut, hard seeds (paper recipe), 227x227, one thread, {n} images"}


def bench_training(n: int = 32) -> dict:
    """Chapter 3: end-to-end training speed of the offline saliency model (240x320, batch 8,
    encoder and readout trained), on a short run of ``n`` OSIE images (not cached)."""
    from saliency_utils.training import saliency as training

    cfg = training.PRESETS["offline"].replace(n_train=n, readout_epochs=0, epochs=1)
    _, hist = training.train(cfg, progress=False)
    e2e = [e for e in hist["epochs"] if e["phase"] == "end-to-end"]
    return {"value": e2e[-1]["images_per_s"], "unit": "training images/s",
            "what": f"offline preset, end to end, 240x320, batch 8, {n} images, "
                    f"{hist['torch_threads']} threads"}


def bench_receptive_fields(n_images: int = 4) -> dict:
    """Chapter 3: size tuning (offline settings: training resolution, grid of centres, radii,
    K) of the offline profile's units per layer, on a few pool images of the trained offline
    model (trained first if it is not cached). Every unit is measured by the same passes, so
    units/s grows with the number of units; the forward passes/s are the cost."""
    from saliency_utils import data
    from saliency_utils.training import saliency as training
    from saliency_utils.book.profiles import settings
    from saliency_utils.analysis.receptive_fields import Unit, layer_outputs
    from saliency_utils.analysis.surround import size_tuning

    cfg = settings("ch3_centre_surround", "offline")
    model = training.load_or_train("offline", progress=False)
    _, test = data.osie_split(n_test=100, seed=0)
    x = model.preprocess([data.load_osie_image(i) for i in test[:n_images]])
    layers = list(cfg["rf_layers"])
    mods = {n: model.module(n) for n in layers}
    channels = {n: a.shape[1] for n, a in layer_outputs(model, x[:1], mods).items()}
    units = [Unit(layer, c) for layer in layers for c in range(min(cfg["rf_units"], channels[layer]))]
    t0 = time.perf_counter()
    res = size_tuning(model, x, mods, units, cfg["rf_radii"],
                      k=cfg["rf_k"], grid=tuple(cfg["rf_grid"]), edge=cfg["rf_edge"])
    dt = time.perf_counter() - t0
    return {"value": round(len(units) / dt, 3), "unit": "size-tuned units/s",
            "what": f"{len(units)} units of {', '.join(layers)} on {n_images} images "
                    f"(the chapter uses {cfg['rf_pool']}), {tuple(x.shape[2:])} input, "
                    f"{res.n_forward} forward passes ({res.n_forward / dt:.1f}/s)"}


def _lrp_inputs(n: int):
    from saliency_utils import data
    from saliency_utils.explain import lrp
    from saliency_utils.models.backbones import load_backbone

    bb = load_backbone("efficientnet_lite0")
    can = lrp.canonise(bb.model)
    recs = data.imagenet_val()[:n]
    x = bb.preprocess([data.load_imagenet_image(r) for r in recs])
    return can, x, [r.label for r in recs]


def bench_lrp(n: int = 32) -> dict:
    """Chapter 2: LRP relevance maps, authors' rules, canonised offline backbone, batches of
    16 at 224x224."""
    from saliency_utils.explain.api import explain

    can, x, target = _lrp_inputs(n)
    explain(can, x[:2], "lrp", target[:2])  # warm-up

    def run():
        for s in range(0, n, 16):
            explain(can, x[s:s + 16], "lrp", target[s:s + 16], mode="abs")
    return {"value": round(_timed(run, n), 1), "unit": "relevance maps/s",
            "what": f"EfficientNet-Lite0 canonised, authors' rules, batches of 16, 224x224, {n} images"}


def bench_sr(n: int = 32) -> dict:
    """Chapter 2: Salient Relevance maps (context-aware saliency of the LRP heatmaps) with the
    chapter's offline settings."""
    from saliency_utils.explain.api import Explanations
    from saliency_utils.book.profiles import settings

    cfg = settings("ch2_lrp_salient_relevance", "offline")
    can, x, target = _lrp_inputs(n)
    batches = [Explanations(can, x[s:s + 16], target[s:s + 16]) for s in range(0, n, 16)]
    for ex in batches:
        ex.relevance()  # the LRP passes, outside the timing
    rate = _timed(lambda: [ex.map("sr", workers=cfg["workers"], **dict(cfg["ca"])) for ex in batches], n)
    return {"value": round(rate, 1), "unit": "SR maps/s",
            "what": f"the chapter's offline context-aware settings, {cfg['workers']} worker(s), "
                    f"{n} heatmaps of 224x224"}


def bench_sr_dense(n: int = 4) -> dict:
    """Chapter 2: SR maps with the paper's dense context-aware settings (every pixel a query,
    reference stride 3) at the chapter's 250 px, uncached (the chapter caches them on disk)."""
    from saliency_utils.explain import context_saliency
    from saliency_utils.explain.api import Explanations
    from saliency_utils.book.profiles import settings

    cfg = settings("ch2_lrp_salient_relevance", "offline")
    can, x, target = _lrp_inputs(n)
    ex = Explanations(can, x, target)
    ex.relevance()  # the LRP pass, outside the timing
    dense = {**context_saliency.PAPER_PARAMETERS, "max_side": cfg["ca"]["max_side"]}
    rate = _timed(lambda: ex.map("sr", workers=cfg["workers"], **dense), n)
    return {"value": round(rate, 3), "unit": "SR maps/s",
            "what": f"the paper's dense settings at {dense['max_side']} px, {cfg['workers']} worker(s), "
                    f"{n} heatmaps of 224x224, uncached"}


def bench_curves(n: int = 2) -> dict:
    """Chapter 2: deletion (mean colour and blurred) and insertion curves at the chapter's
    offline steps and batch size, 8 maps per image, uncached (forward passes per second)."""
    from saliency_utils.evaluate import faithfulness
    from saliency_utils.models.backbones import load_backbone
    from saliency_utils.book.profiles import settings

    cfg = settings("ch2_lrp_salient_relevance", "offline")
    bb = load_backbone("efficientnet_lite0")
    _, x, target = _lrp_inputs(n)
    g = np.random.default_rng(0)
    maps = {f"map {k}": g.random((n, *x.shape[2:])) for k in range(8)}
    steps = cfg["curve_steps"]
    passes = n * (4 + 3 * (steps - 1) * len(maps))
    rate = _timed(lambda: faithfulness.curves(bb.model, x, target, maps, steps=steps,
                                              deletions=("mean", "blur"),
                                              batch_size=cfg["curve_batch"]), passes)
    return {"value": round(rate, 1), "unit": "forward passes/s",
            "what": f"EfficientNet-Lite0, {n} images x 8 maps x 3 curves x {steps} steps, batches of "
                    f"{cfg['curve_batch']}, uncached"}


def bench_loggabor(n: int = 8) -> dict:
    """Chapter 5: log-Gabor energy maps (offline bank) of the three opponent channels of OSIE
    images at the saliency model's input size."""
    import torch

    from saliency_utils import data
    from saliency_utils.explain.loggabor import LogGaborBank, opponent_channels
    from saliency_utils.book.profiles import settings

    cfg = settings("ch5_loggabor_explanation", "offline")
    bank = LogGaborBank(**cfg["bank"])
    _, test = data.osie_split(n_test=100, seed=0)
    from PIL import Image
    imgs = [np.asarray(Image.fromarray(data.load_osie_image(i)).resize((320, 240), Image.BICUBIC))
            for i in test[:n]]
    x = opponent_channels(torch.from_numpy(np.stack(imgs)).permute(0, 3, 1, 2).float() / 255)
    bank.energy(x[:1])  # warm-up
    rate = _timed(lambda: bank.energy(x), n)
    maps_ = 3 * bank.n_scales * bank.n_orientations
    return {"value": round(rate, 2), "unit": "images/s",
            "what": f"log-Gabor energy, {bank.n_scales} scales x {bank.n_orientations} orientations x 3 "
                    f"opponent channels ({maps_} maps per image), 240x320, {n} images"}


def bench_reconstruction(n_fit: int = 16, n: int = 6) -> dict:
    """Chapter 5: the explainable model's prediction (the readout input replaced by its
    log-Gabor reconstruction, image and mirror image), with a reconstruction fitted on a few
    OSIE training images (the fit's quality does not change the speed)."""
    from saliency_utils import data
    from saliency_utils.explain import loggabor_explain as lx
    from saliency_utils.explain.api import explain
    from saliency_utils.training import saliency as training
    from saliency_utils.book.profiles import settings

    cfg = settings("ch5_loggabor_explanation", "offline")
    model = training.load_or_train("offline", progress=False)
    spec = lx.FeatureSpec.from_settings(cfg)
    main = cfg["main_layer"]
    train, test = data.osie_split()
    imgs = lambda ids: [lambda i=i: data.load_osie_image(i) for i in ids]
    t0 = time.perf_counter()
    st_fit = lx.collect_stats(model, imgs(train[:n_fit]), [main], spec)
    stats_rate = n_fit / (time.perf_counter() - t0)
    st_val = lx.collect_stats(model, imgs(train[n_fit:n_fit + 4]), [main], spec)
    explainable = lx.ExplainableModel(model, {main: lx.fit_layer(main, st_fit[main],
                                                                 st_val[main])}, spec)
    pics = [data.load_osie_image(i) for i in test[:n]]
    explain(explainable, pics[0], "loggabor")  # warm-up
    rate = _timed(lambda: [explain(explainable, p, "loggabor") for p in pics], n)
    return {"value": round(rate, 2), "unit": "images/s",
            "what": f"explainable-model predictions ({main} reconstructed, image + mirror image), "
                    f"{n} OSIE test images; regression statistics {stats_rate:.1f} images/s"}


def bench_crosspaper(n: int = 8) -> dict:
    """Chapter 6: all seven maps of one OSIE test image and their scores (classifier maps as
    computed and blurred), end to end, with the offline profile's settings; the log-Gabor
    reconstruction fitted on a few OSIE training images (its quality does not change the
    speed)."""
    from saliency_utils.book import crosspaper as cp
    from saliency_utils.training import saliency as training
    from saliency_utils.book.profiles import settings

    cfg = settings("ch6_cross_paper", "offline")
    explainer = cp.ClassifierExplainer.from_settings(cfg)
    model = training.load_or_train(cfg["preset"], progress=False)
    maps = cp.saliency_maps(model, settings("ch5_loggabor_explanation", "offline"), n_fit=8,
                            n_val=4)
    run = lambda: cp.fixation_scores("osie_test", explainer, maps, n=n, wanted=cfg["metrics"],
                                     batch_size=cfg["batch_size"])
    rate = _timed(run, n)
    return {"value": round(rate, 2), "unit": "images/s",
            "what": f"OSIE test images, 7 maps each (SmoothGrad {cfg['sg_samples']} copies) and "
                    f"{len(cfg['metrics'])} metrics on 11 map variants; {n} images"}


def bench_region_detectors(n: int = 8) -> dict:
    """Chapter 4: head and text detection (MTCNN, then PP-OCRv4 detection and recognition) of
    OSIE test images, not cached (the chapter caches them on disk after the first build)."""
    from saliency_utils import data
    from saliency_utils.analysis import region_detectors

    ids = data.osie_splits()["test"][:n]
    images = [data.load_osie_image(i) for i in ids]
    region_detectors.detect_image(images[0])  # load the detectors first
    rate = _timed(lambda: [region_detectors.detect_image(im) for im in images], n)
    return {"value": round(rate, 2), "unit": "images/s",
            "what": f"{n} OSIE test images (600x800), both detectors, uncached"}


def _heldout_layer(n_images: int = 300):
    """Random activations of chapter 4's largest layer (EfficientNet-Lite0's head, 1280 units at
    9x12) and head/text masks of realistic size on its held-out grid, for as many images as its
    held-out set."""
    import torch

    rng = np.random.default_rng(0)
    grid = (48, 64)
    masks = []
    for _ in range(n_images):
        m = {c: np.zeros(grid, bool) for c in ("head", "text/sign")}
        if rng.random() < 0.4:
            r, c = rng.integers(0, 40), rng.integers(0, 56)
            m["head"][r:r + 8, c:c + 8] = True
        if rng.random() < 0.4:
            r, c = rng.integers(0, 44), rng.integers(0, 40)
            m["text/sign"][r:r + 4, c:c + 24] = True
        masks.append(m)
    acts = [torch.from_numpy(rng.gamma(1.0, 1.0, (1280, 9, 12)).astype(np.float32))
            for _ in range(n_images)]
    return acts, masks, grid


def bench_permutation_dissection(n_images: int = 300, n_perm: int = 1000) -> dict:
    """Chapter 4: the permutation dissection of its largest layer on its held-out set, with its
    grid and number of shuffles (:func:`_heldout_layer`)."""
    from saliency_utils.analysis import dissection

    acts, masks, grid = _heldout_layer(n_images)
    t0 = time.perf_counter()
    dissection.permutation_dissect("head", acts, masks, ("head", "text/sign"), n_perm=n_perm)
    return {"value": round(time.perf_counter() - t0, 1), "unit": "s",
            "what": f"one layer of 1280 units at 9x12, {n_images} images, {grid[0]}x{grid[1]} "
                    f"grid, 2 categories, {n_perm} shuffles"}


def bench_image_evidence(n_images: int = 300, n_null: int = 200) -> dict:
    """Chapter 4: the per-image category evidence of its largest layer (cross-fitted unit
    choice, ``n_null`` re-pairings), from the overlaps the permutation dissection also uses
    (the one pass over the images is not counted: it is shared)."""
    from saliency_utils.analysis import dissection

    acts, masks, grid = _heldout_layer(n_images)
    ov = dissection.unit_overlaps(acts, masks, ("head", "text/sign"))
    t0 = time.perf_counter()
    ov.image_excess("head", n_null=n_null)
    return {"value": round(time.perf_counter() - t0, 1), "unit": "s",
            "what": f"one layer of 1280 units at 9x12, {n_images} images, {grid[0]}x{grid[1]} "
                    f"grid, 2 categories, {n_null} re-pairings"}


#: name -> benchmark; each returns ``dict(value, unit, what)``.
THROUGHPUT = {
    "ch1 saliency maps": bench_gradient_maps,
    "ch1 GrabCut": bench_grabcut,
    "ch2 relevance maps": bench_lrp,
    "ch2 SR maps": bench_sr,
    "ch2 dense SR maps": bench_sr_dense,
    "ch2 deletion/insertion curves": bench_curves,
    "ch3 training": bench_training,
    "ch3 receptive fields": bench_receptive_fields,
    "ch5 log-Gabor bank": bench_loggabor,
    "ch5 reconstruction": bench_reconstruction,
    "ch4 region detectors": bench_region_detectors,
    "ch4 permutation dissection": bench_permutation_dissection,
    "ch4 per-image evidence": bench_image_evidence,
    "ch6 all maps + scores": bench_crosspaper,
}


_RUN_ONE = """
import resource, sys
from pathlib import Path
from saliency_utils.book.pipeline import execute
failed = execute(sys.argv[1], Path(sys.argv[2]), only=[sys.argv[3]], force=True)
print("PEAK_KIB", resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
sys.exit(1 if failed else 0)
"""


def bench_chapter(profile: str, chapter: str) -> dict:
    """Run one chapter in a fresh process: wall time and the peak RSS of its kernel."""
    out = ROOT / "_build" / "benchmarks" / profile
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", _RUN_ONE, profile, str(out), chapter],
                          cwd=ROOT, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - t0
    peak = [int(line.split()[1]) for line in proc.stdout.splitlines() if line.startswith("PEAK_KIB")]
    return {"seconds": round(wall, 1), "status": "ok" if proc.returncode == 0 else "FAILED",
            "peak_rss_mib": round(peak[0] / 1024, 1) if peak else None}


#: The build-time targets of issue 20 (2 CPU cores), shown next to the measurements.
_BOOK_FILES = ("_toc.yml", "_config.yml", "book", "notebooks", "requirements-lock.txt",
               "references.bib")


def _step(name: str, cmd: list[str], env: dict) -> float:
    """Run one build step (a fresh process, output shown); its wall time in seconds."""
    print(f"== build step {name}: {' '.join(cmd[2:])}", flush=True)
    t0 = time.perf_counter()
    subprocess.run(cmd, cwd=ROOT, env=env, check=True)
    return round(time.perf_counter() - t0, 1)


def _book(profile: str, root: Path, out: Path, env: dict) -> dict:
    """`make book` as three steps (models, chapters, render); seconds per step and in all."""
    py = [sys.executable, "-m", "saliency_utils"]
    t = {"models": _step("models", py + ["models", "--profile", profile, "--report",
                                         str(out / "models.json")], env),
         "chapters": _step("chapters", py + ["execute", "--profile", profile, "--out",
                                             str(out / "executed"), "--no-models", "--root",
                                             str(root)], env),
         "render": _step("render", py + ["render", "--executed", str(out / "executed"),
                                         "--out", str(out), "--root", str(root)], env)}
    timings = json.loads((out / "executed" / "timings.json").read_text())["chapters"]
    return {"seconds": round(sum(t.values()), 1), "steps": t,
            "chapters": {k: {"seconds": v["seconds"], "status": v["status"]}
                         for k, v in timings.items()},
            "models": json.loads((out / "models.json").read_text())}


def bench_build(profile: str, edit: str) -> dict:
    """Cold, warm and incremental `make book` on this machine, each step in a fresh process.

    Cold: an empty model cache (``SALIENCY_CACHE`` in a new folder, so every shared model is
    trained; pretrained backbone weights and the data bundle are not re-downloaded) and an
    empty execution cache. Warm: the same build again. Incremental: a code cell appended to
    chapter ``edit``, so that it re-executes (in a copy of the book sources; the checkout is
    not touched)."""
    import shutil
    import tempfile

    import nbformat

    (ROOT / "_build").mkdir(exist_ok=True)  # a fresh clone has none yet
    work = Path(tempfile.mkdtemp(prefix=f"build-bench-{profile}-", dir=ROOT / "_build"))
    root, out = work / "src", work / "out"
    root.mkdir()
    for name in _BOOK_FILES:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, root / name)
        elif src.is_file():
            shutil.copy2(src, root / name)
    env = {**os.environ, "SALIENCY_CACHE": str(work / "cache"), "PYTHONPATH": str(ROOT)}
    res = {"profile": profile, "edited chapter": edit,
           "cold": _book(profile, root, out, env)}
    res["warm"] = _book(profile, root, out, env)
    nb_path = root / "notebooks" / f"{edit}.ipynb"
    nb = nbformat.read(nb_path, as_version=4)
    # a code edit (a text-only edit would reuse the stored outputs: render time only)
    nb.cells.append(nbformat.v4.new_code_cell("# an edit (build benchmark)"))
    nbformat.write(nb, nb_path)
    res["incremental"] = _book(profile, root, out, env)
    # per trained model: the model step of the cold build trained each one
    res["models"] = res["cold"]["models"]
    shutil.rmtree(work, ignore_errors=True)
    return res


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
    lines += _build_markdown(res.get("build", {}))
    tp = res.get("throughput", {})
    if tp:
        lines += ["## Throughput", "", "| what | value | unit | conditions |", "|---|---|---|---|"]
        lines += [f"| {k} | {v['value']} | {v['unit']} | {v['what']} |" for k, v in tp.items()]
        lines.append("")
    pe = res.get("paper_estimate")
    if pe:
        from saliency_utils.book import benchreport

        lines += ["## The `paper` profile on one GPU (estimate)", "",
                  f"{benchreport.PAPER_ESTIMATE_NOTE} Unit costs measured {pe['when']}.", ""]
        lines += benchreport.paper_estimate_markdown(pe) + [""]
    lines += _speed_sections()
    (HERE / "RESULTS.md").write_text("\n".join(lines) + "\n")


def _speed_sections() -> list[str]:
    """Sections for the separate measurements ``metric_speed.json`` (benchmarks/metric_speed.py,
    against pysaliency) and ``predict_speed.json`` (benchmarks/predict_speed.py), if present."""
    lines = []
    path = HERE / "metric_speed.json"
    if path.exists():
        m = json.loads(path.read_text())
        h, w = m["shape"]
        intro = (f"Measured {m['when']}: median of {m['repeat']} calls, ms per map, pysaliency "
                 f"{m['pysaliency']} in the same process (`benchmarks/metric_speed.py`).")
        if m.get("note"):
            intro += " " + m["note"]
        lines += [f"## Metrics against pysaliency ({h} x {w} maps)", "", intro, "",
                  "| metric | ours (ms) | pysaliency (ms) | pysaliency / ours |", "|---|---|---|---|"]
        names = {"KLD": "KLD (pysaliency MIT_KLDiv)"}
        lines += [f"| {names.get(k, k)} | {r['ours_ms']} | {r.get('pysaliency_ms', '-')} | "
                  f"{r.get('speedup', '-')} |" for k, r in m["metrics"].items()]
        lines.append("")
    path = HERE / "predict_speed.json"
    if path.exists():
        r = json.loads(path.read_text())
        intro = (f"Measured {r['when']} (`benchmarks/predict_speed.py`): {r['images']} synthetic "
                 f"photos, {r['megapixels_min']} to {r['megapixels_max']} megapixels (median "
                 f"{r['megapixels_median']}, mean {r['megapixels_mean']}), 90 % JPEG; model: "
                 f"{r['model']}; {r['torch_threads']} torch thread(s); load average "
                 f"{r['load_average_before']} before, {r['load_average_after']} after.")
        if r.get("note"):
            intro += " " + r["note"]
        lines += ["## predict on a folder of photos", "", intro, "",
                  "| run | images/s (wall) | images per CPU second |", "|---|---|---|",
                  (f"| all {r['images']} images | {r['images_per_second']} | "
                   f"{r['images_per_cpu_second']} |")]
        o = r.get("old_subset")
        if o:
            lines += [(f"| first {o['images']}, previous implementation | "
                       f"{o['old_images_per_second']} | {o['old_images_per_cpu_second']} |"),
                      (f"| first {o['images']}, this implementation | "
                       f"{o['new_images_per_second']} | {o['new_images_per_cpu_second']} |")]
        lines.append("")
    return lines


def _build_markdown(build: dict) -> list[str]:
    lines = ["## Build time (`make book`: models, chapters, render)", "",
             "Targets on 2 CPU cores: cold " + BUILD_TARGETS["cold"] + ", warm "
             + BUILD_TARGETS["warm"] + ", incremental (one chapter edited) "
             + BUILD_TARGETS["incremental"] + ".", ""]
    if "offline" not in build:
        lines += [("Offline profile (the book `make book` renders): not measured yet (pending); "
                   "run `benchmarks/run_benchmarks.py --build --profiles offline` on an otherwise "
                   "idle machine."), ""]
    for prof, b in build.items():
        lines += [f"### {prof} profile (measured {b.get('when', '?')}"
                  + (f"; {b['note']}" if b.get("note") else "") + ")", "",
                  "| build | total (s) | models (s) | chapters (s) | render (s) | target |",
                  "|---|---|---|---|---|---|"]
        for kind in ("cold", "warm", "incremental"):
            r = b.get(kind)
            if not r:
                lines.append(f"| {kind} | pending | | | | {BUILD_TARGETS[kind]} |")
                continue
            st = r["steps"]
            label = kind + (f" ({b['edited chapter']} edited)" if kind == "incremental" else "")
            lines.append(f"| {label} | {r['seconds']} | {st['models']} | {st['chapters']} | "
                         f"{st['render']} | {BUILD_TARGETS[kind]} |")
        lines += ["", "| chapter | cold (s) | warm (s) | incremental (s) |", "|---|---|---|---|"]
        for ch in b.get("cold", {}).get("chapters", {}):
            cells = [f"{b[k]['chapters'].get(ch, {}).get('seconds', '')} "
                     f"({b[k]['chapters'].get(ch, {}).get('status', '')})"
                     for k in ("cold", "warm", "incremental") if b.get(k)]
            lines.append(f"| {ch} | " + " | ".join(cells) + " |")
        if b.get("models"):
            lines += ["", "| trained model | chapters | seconds (cold build) |", "|---|---|---|"]
            lines += [f"| {m['label']} | {', '.join(m['chapters'])} | {m['seconds']} |"
                      for m in b["models"].values()]
        lines.append("")
    return lines


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--profiles", nargs="*", default=["smoke"])
    p.add_argument("--skip-chapters", action="store_true")
    p.add_argument("--skip-metrics", action="store_true")
    p.add_argument("--skip-throughput", action="store_true")
    p.add_argument("--throughput", nargs="*", default=None, help="only these throughput names")
    p.add_argument("--chapters", nargs="*", default=None, help="only these notebook stems")
    p.add_argument("--note", default=None, help="conditions of this run (e.g. other load)")
    p.add_argument("--build", action="store_true",
                   help="measure cold, warm and incremental `make book` per profile (long: "
                   "the cold build trains every model) and nothing else")
    p.add_argument("--edit", default="appendix_data",
                   help="the chapter edited for the incremental build")
    args = p.parse_args(argv)
    from saliency_utils.book.pipeline import chapters

    path = HERE / "results.json"
    res = json.loads(path.read_text()) if path.exists() else {}
    if args.build:  # the other results keep their own date, machine and note
        res.setdefault("build", {})
        for prof in args.profiles:
            b = bench_build(prof, args.edit)
            b["when"] = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
            b["note"] = args.note
            b["machine"] = machine()
            res["build"][prof] = b
            print(prof, {k: b[k]["seconds"] for k in ("cold", "warm", "incremental")},
                  flush=True)
        path.write_text(json.dumps(res, indent=2))
        write_markdown(res)
        print(f"wrote {path} and {HERE / 'RESULTS.md'}")
        return 0
    res["when"] = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    res["machine"] = machine()
    res["note"] = args.note
    if not args.skip_metrics:
        res["metrics"] = bench_metrics()
        print("metrics:", res["metrics"]["maps_per_second"], flush=True)
    if not args.skip_throughput:
        res.setdefault("throughput", {})
        res["throughput"].pop("ch2 LRP and SR maps", None)  # split into two entries
        for name, fn in THROUGHPUT.items():
            if args.throughput and name not in args.throughput:
                continue
            res["throughput"][name] = fn()
            print(name, res["throughput"][name], flush=True)
    if not args.skip_chapters:
        res.setdefault("chapters", {})
        for prof in args.profiles:
            res["chapters"].setdefault(prof, {})
            for nb in chapters(ROOT):
                if args.chapters and nb.stem not in args.chapters:
                    continue
                r = bench_chapter(prof, nb.stem)
                # each row keeps its own date and conditions (rows of other runs stay)
                r["when"] = (datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
                             + (f"; {args.note}" if args.note else ""))
                res["chapters"][prof][nb.stem] = r
                print(prof, nb.stem, r, flush=True)
    path.write_text(json.dumps(res, indent=2))
    write_markdown(res)
    print(f"wrote {path} and {HERE / 'RESULTS.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
