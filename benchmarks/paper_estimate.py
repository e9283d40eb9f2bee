"""The `paper` profile's expected time per chapter on one GPU: an **estimate** (issue 20, item 3).

No GPU was lent to the sessions that built this book, so nothing here is a GPU measurement. The
estimate has three parts, each stated on the benchmarks page and in the README:

1. **Workload counts** (:data:`WORKLOAD`): per chapter, the dominant work of its `paper` branch
   (forward passes, gradients, LRP passes, training images, SR maps, GrabCut calls, metric
   scorings ...), counted from the `paper` settings in ``saliency_utils/book/profiles.py`` and the data
   bundle's sizes by reading each notebook's code. Terms under about 1 % of a chapter are left out
   (listed in ``omitted``), so the estimate leans low.
2. **Unit costs measured here** on this machine's CPU (:func:`measure_units`): seconds per unit,
   the FLOPs of each network unit (``torch.utils.flop_counter``), and for work that stays on the
   host even with a GPU (image resizing, SR patch extraction, metric scoring, GrabCut) its own
   seconds. The papers' networks run with random weights (a pass costs the same).
3. **A GPU model** (:data:`saliency_utils.book.benchreport.GPU_SCENARIOS`): network units take
   FLOPs / sustained rate + a fixed cost per call; other GPU work (FFT filter banks, the SR
   distance search) its CPU time / a speed-up; host work its measured CPU time. Two scenarios
   (fast, slow) bracket a data-centre GPU; the range is the answer, not either end.

    python benchmarks/paper_estimate.py            # measure the units (~3 min on 2 cores), write
                                                   # the estimate into benchmarks/results.json
    python benchmarks/paper_estimate.py --from-results   # the stored unit costs, the current
                                                         # settings' workload (nothing measured)

The chapter page ``appendix_benchmarks`` and ``benchmarks/RESULTS.md`` show the table; the README
quotes it.
"""

from __future__ import annotations

import json
import os
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def _best(fn, repeats: int = 2) -> float:
    """Best wall time (s) of ``fn()`` over ``repeats`` runs after one warm-up."""
    fn()
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def _flops(fn) -> float:
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as fc:
        fn()
    return float(fc.get_total_flops())


# ------------------------------------------------------------------------------ unit costs
def _net_units(units: dict) -> None:
    """Forward, input gradient and LRP (authors' rules) of VGG-16 and AlexNet, batches of 16
    at 224 x 224, random weights."""
    import torch

    from saliency_utils.explain import lrp
    from saliency_utils.explain.api import Explanations
    from saliency_utils.models.backbones import load_backbone

    torch.manual_seed(0)
    b = 16
    x = torch.randn(b, 3, 224, 224)
    target = list(range(b))
    for name in ("vgg16", "alexnet"):
        bb = load_backbone(name, weights="random", device="cpu")
        model = bb.model
        can = lrp.canonise(model)

        def fwd():
            with torch.no_grad():
                model(x)

        def grad():
            xi = x.clone().requires_grad_(True)
            model(xi)[torch.arange(b), target].sum().backward()

        def rel():
            Explanations(can, x, target).relevance("authors")

        for kind, fn in (("fwd", fwd), ("grad", grad)):
            units[f"{kind}:{name}@224"] = dict(
                kind="net",
                cpu_s=_best(fn, 1) / b,
                gflop=_flops(fn) / b / 1e9,
                host_s=0.0,
                what=f"{name}, {kind}, batch {b}, 224x224",
            )
        # torch's flop counter cannot follow LRP's nested autograd: its FLOPs are the forward
        # pass's scaled by the two passes' CPU times
        f = units[f"fwd:{name}@224"]
        t = _best(rel, 1) / b
        units[f"lrp:{name}@224"] = dict(
            kind="net",
            cpu_s=t,
            gflop=f["gflop"] * t / f["cpu_s"],
            host_s=0.0,
            what=f"{name}, LRP (authors' rules), batch {b}, 224x224; FLOPs = forward's x CPU-time ratio",
        )
        print(name, "done", flush=True)


def _saliency_units(units: dict) -> None:
    """The paper preset's saliency model (VGG-16 conv1_1..conv5_3 + 1x1 readout, random
    weights): one training image (forward, backward, Adam; batch 20 at 224 x 224), and one
    prediction of an OSIE image (192 x 256 input, image + mirror image as two passes, like the
    chapters) split into the network's forward passes and the host work around them."""
    import torch

    from saliency_utils import data
    from saliency_utils.explain.api import explain
    from saliency_utils.training import saliency as training

    cfg = training.PRESETS["paper"].replace(weights="random")
    model = training.build_model(cfg, device="cpu")
    model.train()
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-5)
    xb = torch.randn(cfg.batch_size, 3, *cfg.image_size)

    def step():
        opt.zero_grad()
        model(xb).mean().backward()
        opt.step()

    # host work per training image: the preprocessing of its cached uint8 image (OSIE's
    # 600 target densities fit in memory and are made once; full SALICON's are not, and would
    # add one density per image and epoch)
    rng = np.random.default_rng(0)
    imgs = list(rng.integers(0, 256, (cfg.batch_size, *cfg.image_size, 3), dtype=np.uint8))
    host = _best(lambda: model.preprocess(imgs), 2) / cfg.batch_size
    units["train:salvgg16@224"] = dict(
        kind="net",
        cpu_s=_best(step, 1) / cfg.batch_size,
        gflop=_flops(step) / cfg.batch_size / 1e9,
        host_s=host,
        what=f"saliency model (paper preset), one training image, batch {cfg.batch_size}, "
        "+ host: its preprocessing",
    )
    model.eval()
    img = data.load_osie_image(data.osie_split()[1][0])
    x1 = model.preprocess([img])

    def fwd():
        with torch.no_grad():
            model(x1)

    t_fwd = _best(fwd, 2)
    t_all = _best(lambda: explain(model, img, "saliency_model"), 2)
    units["fwd:salvgg16@192x256"] = dict(
        kind="net",
        cpu_s=t_fwd,
        gflop=_flops(fwd) / 1e9,
        host_s=max(t_all - 2 * t_fwd, 0.0) / 2,
        what=f"saliency model, one forward pass at {tuple(x1.shape[2:])} (batch 1) + its share of "
        "the host work of a prediction (resizes, mirror, map at image size)",
    )
    print("saliency model done", flush=True)


def _planted_units(units: dict) -> None:
    """Chapter 3's planted units at the paper settings: convolutions of 400 (or 72) channels
    with 85 x 85 or 201 x 201 kernels, stride 16, on one 224 x 224 image."""
    import torch

    for name, ch, ks in (("planted:85", 400, 85), ("planted:201", 400, 201), ("occlusion:201", 72, 201)):
        conv = torch.nn.Conv2d(3, ch, ks, stride=16, padding=ks // 2, bias=False)
        x = torch.randn(1, 3, 224, 224)

        def fwd():
            with torch.no_grad():
                conv(x)

        units[name] = dict(
            kind="net",
            cpu_s=_best(fwd, 1),
            gflop=_flops(fwd) / 1e9,
            host_s=0.0,
            what=f"planted units: {ch} channels, {ks}x{ks} kernels, stride 16, 224x224",
        )


def _sr_unit(units: dict) -> None:
    """One dense SR map (paper settings: max side 250, query stride 1, reference stride 3) of a
    224 x 224 heatmap: the distance search (what runs on the GPU) timed apart from the host
    work (Lab conversion, patches, resizes)."""
    from saliency_utils.explain import context_saliency as cs
    from saliency_utils.book.profiles import settings

    ca = dict(settings("ch2_lrp_salient_relevance", "paper")["ca"])
    rng = np.random.default_rng(0)
    hm = rng.random((224, 224, 3)).astype(np.float32)
    search = {"s": 0.0}
    inner = cs._nearest_distances

    def timed(*a, **k):
        t0 = time.perf_counter()
        try:
            return inner(*a, **k)
        finally:
            search["s"] += time.perf_counter() - t0

    cs._nearest_distances = timed
    try:
        t0 = time.perf_counter()
        cs.context_aware_saliency(hm, **ca)
        total = time.perf_counter() - t0
    finally:
        cs._nearest_distances = inner
    units[f"sr:{ca['max_side']}/{ca['query_stride']}/{ca['ref_stride']}"] = dict(
        kind="gpu",
        cpu_s=search["s"],
        host_s=total - search["s"],
        gflop=None,
        what="one dense SR map (context-aware saliency of a 224x224 heatmap), paper settings",
    )
    print(f"SR map: {total:.1f} s, search {search['s']:.1f} s", flush=True)


def _loggabor_unit(units: dict) -> None:
    """The paper bank (5 scales x 8 orientations, 3 opponent channels) on one 192 x 256 image."""
    import torch

    from saliency_utils.explain.loggabor import LogGaborBank, opponent_channels
    from saliency_utils.book.profiles import settings

    bank = LogGaborBank(**settings("ch5_loggabor_explanation", "paper")["bank"])
    x = opponent_channels(torch.rand(1, 3, 192, 256))
    units["loggabor:paper@192x256"] = dict(
        kind="gpu",
        cpu_s=_best(lambda: bank.energy(x), 2),
        host_s=0.0,
        gflop=None,
        what=f"log-Gabor energy, {bank.n_scales} scales x {bank.n_orientations} orientations x 3 "
        "channels, one 192x256 image (FFT)",
    )


def _cpu_units(units: dict) -> None:
    """Host work that stays on the CPU with a GPU: GrabCut (hard and soft seeds, one thread),
    scoring one map with all eight metrics / five, leave-one-observer-out of one image (eight
    metrics, one map), box scores and Spearman correlations of a 224 x 224 map, the pixel order
    of the deletion curves, classical saliency maps, and the float64 / float32 matrix products
    of CKA and the ridge statistics (s per GMAC)."""
    import torch
    from scipy import stats as sst

    from saliency_utils import data
    from saliency_utils.evaluate import anchors, scoring as evaluation, faithfulness, localisation, wsol
    from saliency_utils.explain.api import explain
    from saliency_utils.evaluate.maps import resize_map

    rng = np.random.default_rng(0)
    recs = data.imagenet_val()[:4]
    imgs = [data.load_imagenet_image(r) for r in recs]
    maps_ = [resize_map(np.abs(rng.normal(size=(224, 224))).astype(np.float32), im.shape[:2]) for im in imgs]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        t = _best(lambda: [localisation.saliency_box(im, m) for im, m in zip(imgs, maps_)], 1)
        units["grabcut:hard"] = dict(
            kind="cpu", cpu_s=t / len(imgs), what="GrabCut, hard seeds, 227x227, one thread"
        )
        t = _best(lambda: [wsol.saliency_box_soft_seeds(im, m) for im, m in zip(imgs, maps_)], 1)
        units["grabcut:soft"] = dict(
            kind="cpu", cpu_s=t / len(imgs), what="GrabCut, soft seeds, 227x227, one thread"
        )
    finally:
        torch.set_num_threads(threads)
    ds = evaluation.FixationDataset.named("osie_test", n=3)
    fixsets = ds.fixation_sets()
    f = fixsets[0]
    sal = anchors.centre_bias_map(f.shape, (0.25, 0.25))
    dens, fm = f.density(ds.sigma_px), f.fixation_map()
    other = anchors.other_fixation_map(fixsets, 0, f.shape)
    from saliency_utils.evaluate import metrics as M

    t = _best(lambda: evaluation.score_image(sal, fm, dens, other, sal, M.METRIC_NAMES, 0), 2)
    units["score:8"] = dict(kind="cpu", cpu_s=t, what="one OSIE-size map, all 8 metrics (density given)")
    t = _best(lambda: evaluation.score_image(sal, fm, dens, other, sal, anchors.FAST_METRICS, 0), 2)
    units["score:fast"] = dict(kind="cpu", cpu_s=t, what="one OSIE-size map, the 5 fast metrics")
    one = evaluation.FixationDataset.named("osie_test", n=2)  # sAUC needs another image
    t = _best(
        lambda: evaluation.score_leave_one_out(
            lambda i, o: sal, one, M.METRIC_NAMES, centre_bias=(0.25, 0.25)
        ),
        1,
    )
    units["loo:8"] = dict(
        kind="cpu", cpu_s=t / 2, what="leave-one-observer-out of one OSIE image, 8 metrics, one map"
    )
    t = _best(
        lambda: evaluation.score_leave_one_out(
            {"map": lambda i, o: sal, "centre": lambda i, o: sal,
             "others": lambda i, o: o.density(one.sigma_px)}, one, anchors.FAST_METRICS
        ),
        1,
    )
    units["loo:fast3"] = dict(
        kind="cpu", cpu_s=t / 2,
        what="leave-one-observer-out of one OSIE image, the 5 fast metrics, 3 predictors "
        "(two maps and the other observers' density)",
    )
    t = _best(lambda: evaluation.score_leave_one_out(lambda i, o: sal, one, ("NSS",)), 1)
    units["loo:nss"] = dict(
        kind="cpu", cpu_s=t / 2, what="leave-one-observer-out of one OSIE image, NSS, one map"
    )
    m224 = np.abs(rng.normal(size=(224, 224)))
    box = [np.array([40, 40, 180, 180])]
    t = (
        _best(
            lambda: [
                faithfulness.score_map(m224, box, tolerance=15, box_fracs=(0.2, 0.5)) for _ in range(20)
            ],
            1,
        )
        / 20
    )
    units["score_map:224"] = dict(kind="cpu", cpu_s=t, what="box scores of one 224x224 map")
    m2 = rng.normal(size=(224, 224))
    t = _best(lambda: [sst.spearmanr(m224.ravel(), m2.ravel()) for _ in range(10)], 1) / 10
    units["spearman:224"] = dict(kind="cpu", cpu_s=t, what="Spearman correlation of two 224x224 maps")
    t = _best(lambda: [faithfulness.pixel_order(m224, seed=s) for s in range(10)], 1) / 10
    units["pixel_order:224"] = dict(kind="cpu", cpu_s=t, what="deletion-curve pixel order of a 224x224 map")
    img = data.load_osie_image(data.osie_split()[1][0])
    t = _best(lambda: [explain(None, img, "itti_koch"), explain(None, img, "spectral_residual")], 1) / 2
    units["classical"] = dict(
        kind="cpu",
        cpu_s=t,
        what="one classical saliency map of an OSIE image (mean of Itti-Koch and spectral residual)",
    )
    a64, b64 = rng.normal(size=(4096, 512)), rng.normal(size=(4096, 512))
    t = _best(lambda: a64.T @ b64, 2)
    units["gmac:f64"] = dict(
        kind="cpu", cpu_s=t / (4096 * 512 * 512 / 1e9), what="float64 matrix product, per GMAC (CKA)"
    )
    a32, b32 = a64.astype(np.float32), b64.astype(np.float32)
    t = _best(lambda: a32.T @ b32, 2)
    units["gmac:f32"] = dict(
        kind="cpu",
        cpu_s=t / (4096 * 512 * 512 / 1e9),
        what="float32 matrix product, per GMAC (ridge statistics)",
    )
    print("CPU units done", flush=True)


def measure_units() -> dict:
    units: dict = {}
    for fn in (_cpu_units, _loggabor_unit, _planted_units, _net_units, _saliency_units, _sr_unit):
        t0 = time.perf_counter()
        fn(units)
        print(f"{fn.__name__}: {time.perf_counter() - t0:.0f} s", flush=True)
    # derived: a VGG-16 gradient at 128 x 128 (chapter 3's activation maximisation) costs the
    # 224 x 224 one scaled by the pixel count
    g = units["grad:vgg16@224"]
    r = (128 / 224) ** 2
    units["grad:vgg16@128"] = dict(
        kind="net",
        cpu_s=g["cpu_s"] * r,
        gflop=g["gflop"] * r,
        host_s=0.0,
        what="VGG-16 input gradient at 128x128 (224x224 scaled by pixels)",
    )
    return units


# ------------------------------------------------------------------------------ workload
def _sizes() -> dict:
    """The data bundle's sizes the `paper` profile uses (read from the bundle)."""
    from saliency_utils import data

    split = data.osie_splits()
    return dict(
        imagenet=len(data.imagenet_val()),
        osie_train=len(split["train"]),
        osie_val=len(split["val"]),
        osie_test=len(split["test"]),
        mit=len(data.mit1003_ids()),
        figrim=30,
    )


def workload() -> tuple[list[dict], dict]:
    """``(terms, omitted)``: the counted terms (chapter, what, unit, count, batch) of every
    chapter's `paper` profile, and per chapter what was left out. Counts follow each notebook's
    paper branch (read from the code, 2026-12-04); ``err1`` / ``err5`` are VGG-16's top-1 /
    top-5 error on ImageNet validation images (assumed 0.28 / 0.09, torchvision's figures)."""
    from saliency_utils.training import saliency as training
    from saliency_utils.book.profiles import settings

    n = _sizes()
    err1, err5 = 0.28, 0.09
    T: list[dict] = []

    def add(ch, what, unit, count, batch=1, parallel=1):
        T.append(
            dict(
                chapter=ch,
                what=what,
                unit=unit,
                count=int(round(count)),
                batch=int(batch),
                parallel=int(parallel),
            )
        )

    p = training.PRESETS["paper"]
    add(
        "models",
        "saliency model, end-to-end epochs",
        "train:salvgg16@224",
        p.epochs * n["osie_train"],
        p.batch_size,
    )
    add(
        "models",
        "rotation classifier (same encoder and schedule)",
        "train:salvgg16@224",
        p.epochs * n["osie_train"],
        p.batch_size,
    )
    add(
        "models",
        "validation loss after every epoch and the post-processing choice (image + mirror)",
        "fwd:salvgg16@192x256",
        (p.readout_epochs + p.epochs) * n["osie_val"] + 2 * n["osie_val"],
    )
    add(
        "models",
        "frozen-encoder feature caches (saliency model, fixed-encoder twin)",
        "fwd:vgg16@224",
        2 * n["osie_train"],
        40,
    )

    c = settings("ch1_gradient_saliency", "paper")
    ch = "ch1_gradient_saliency"
    n_loc = c["n_loc"] or n["imagenet"]
    # class-model sets: the paper's method, jitter + blur, the random-class-layer control, the lambda sweep
    n_sets = 3 + len(set(c["cm_lambdas"]) - {c["cm_weight_decay"]})
    n_cm = c["cm_classes"] * n_sets * c["cm_steps"]
    add(ch, f"class models ({n_sets} sets)", "grad:vgg16@224", n_cm, c["cm_classes"])
    add(ch, "true-class gradient maps", "grad:vgg16@224", n_loc, 16)
    add(ch, "top-5 guesses' maps", "grad:vgg16@224", c["n_check"] * (5 + err5), 16)
    add(ch, "gradient / DeconvNet / guided backprop, two classes", "grad:vgg16@224", c["n_compare"] * 6,
        c["attr_batch"])
    add(
        ch,
        "SmoothGrad and integrated gradients",
        "grad:vgg16@224",
        c["n_beyond"] * (c["sg_samples"] + c["ig_steps"]),
        32,
    )
    add(ch, "cascading randomisation (16 layers, 2 methods, seeds)", "grad:vgg16@224",
        2 * 17 * c["n_cascade"] * c["cascade_seeds"], 16)
    n_lg = 2 * c["n_logit"] * (1 + c["logit_seeds"])  # the claim's test: logit layer, several seeds
    add(ch, "logit-layer randomisation (2 methods, seeds)", "grad:vgg16@224", n_lg, 16)
    add(
        ch,
        "GrabCut, hard seeds (threads on 2 cores)",
        "grabcut:hard",
        n_loc + c["n_check"] * (5 + err5) + (c["n_gc_seeds"] or n_loc) * (c["gc_seeds"] - 1),
        parallel=2,
    )
    add(
        ch,
        "GrabCut, soft seeds (threads on 2 cores)",
        "grabcut:soft",
        n_loc + (c["n_gc_seeds"] or n_loc) * (c["gc_seeds"] - 1),
        parallel=2,
    )
    add(
        ch,
        "Spearman correlations",
        "spearman:224",
        c["n_compare"] * 6 + c["n_beyond"] * 2 + 2 * 16 * c["n_cascade"] * c["cascade_seeds"] + n_lg,
    )

    c = settings("ch2_lrp_salient_relevance", "paper")
    ch = "ch2_lrp_salient_relevance"
    N = c["n_score"] or n["imagenet"]
    nc = c["n_curves"] or N
    sr = f"sr:{c['ca']['max_side']}/{c['ca']['query_stride']}/{c['ca']['ref_stride']}"
    n_maps = 7 + (1 if c["n_dense"] else 0)  # 5 maps, 2 controls (+ dense SR where the profile's SR is fast)
    add(
        ch,
        f"deletion (mean colour, blurred) / insertion curves ({n_maps} maps)",
        "fwd:vgg16@224",
        nc * (4 + 3 * (c["curve_steps"] - 1) * n_maps),
        c["curve_batch"],
    )
    add(ch, "curve pixel orders", "pixel_order:224", nc * n_maps)
    add(ch, "SR maps: true class, misclassified, AlexNet", sr, N * (2 + err1))
    add(ch, "SR controls (image, gradient map)", sr, 2 * (c["n_controls"] or N))
    add(ch, "SR maps of the sanity checks", sr, c["n_cascade"] * 17 * c["cascade_seeds"] + c["n_class"] * 3)
    add(
        ch,
        "LRP, VGG-16 (scoring, sanity checks, conservation)",
        "lrp:vgg16@224",
        N * (1 + err1) + 4 * 17 * c["n_cascade"] * c["cascade_seeds"] + c["n_class"] * 12
        + 4 * c["n_conservation"],
        c["batch_size"],
    )
    add(ch, "LRP, AlexNet", "lrp:alexnet@224", N, c["batch_size"])
    add(ch, "gradient maps", "grad:vgg16@224", N, c["batch_size"])
    add(ch, "classification passes (VGG-16)", "fwd:vgg16@224", N + c["n_pool"], c["batch_size"])
    add(ch, "classification passes (AlexNet)", "fwd:alexnet@224", N, c["batch_size"])
    add(ch, "box scores of every map", "score_map:224", N * 9 + 2 * N * err1)
    add(
        ch,
        "Spearman correlations of the sanity checks",
        "spearman:224",
        4 * 16 * c["n_cascade"] * c["cascade_seeds"] + 12 * c["n_class"],
    )

    c = settings("ch3_centre_surround", "paper")
    ch = "ch3_centre_surround"
    n_eval = (2 * (n["osie_test"] if c["n_eval"] is None else c["n_eval"])
              + (n["figrim"] if c["n_eval_figrim"] is None else c["n_eval_figrim"]))
    stim = c["rf_pool"] * (int(np.prod(c["rf_grid"])) * len(c["rf_radii"]) + 1)
    add(ch, "evaluation maps (image + mirror, one pass per image)", "fwd:salvgg16@192x256", n_eval * 2)
    add(ch, "scoring (8 metrics, 3 predictors)", "score:8", n_eval * 3)
    n_loo = n_eval if c["n_loo"] is None else 3 * c["n_loo"]
    # the five fast metrics (model_quality.LOO_METRICS), the three predictors in one pass
    add(ch, "leave-one-observer-out (3 predictors, 5 metrics)", "loo:fast3", n_loo)
    add(ch, "CKA activations", "fwd:vgg16@224", c["n_cka"] * 4, 8)
    add(
        ch,
        "CKA products (float64, about 318 GMAC per comparison at 48 images)",
        "gmac:f64",
        2 * 318 * c["n_cka"] / 48,
    )
    add(ch, "size tuning, planted units (85 px kernels)", "planted:85", stim, 25)
    add(ch, "size tuning, planted units (201 px kernels)", "planted:201", stim, 25)
    add(ch, "occlusion of planted units (upper bound)", "occlusion:201", c["rf_pool"] * (1 + 196), 32)
    add(ch, "size tuning, pre-trained and fine-tuned", "fwd:vgg16@224", 2 * stim + 2 * c["rf_pool"], 25)
    add(ch, "gradient fields", "grad:vgg16@224", 2 * 2 * c["grad_units"], 8)
    add(ch, "activation maximisation", "grad:vgg16@128", c["am_steps"] * (3 * c["n_am"] * 2 + 1), c["n_am"])

    c = settings("ch4_task_vs_domain", "paper")
    ch = "ch4_task_vs_domain"
    items = (c["n_figrim"] or n["figrim"]) + 1
    nat = c["n_osie"] + c["n_mit"]
    # the task-vs-domain experiment (controlled_tuning): every condition at every seed, the paper
    # preset's schedule (control_warmup / control_epochs None) unless the settings reduce it
    # the book's scene labels add the "scene" condition when the experiment trains on OSIE (assumed
    # here: the estimate's training images are OSIE's)
    conditions = list(c["control_conditions"]) + (["scene"] if c["scene_labels_csv"] else [])
    runs = len(conditions) * len(c["control_seeds"])
    warm = p.readout_epochs if c["control_warmup"] is None else c["control_warmup"]
    e2e = p.epochs if c["control_epochs"] is None else c["control_epochs"]
    add(ch, f"task-vs-domain experiment, {runs} runs: end-to-end epochs", "train:salvgg16@224",
        runs * e2e * n["osie_train"], p.batch_size)
    add(ch, f"task-vs-domain experiment, {runs} runs: warm-up epochs (frozen encoder)", "fwd:vgg16@224",
        runs * warm * n["osie_train"], p.batch_size)
    if "distill" in conditions:
        add(ch, "task-vs-domain experiment: the distillation teacher's passes", "fwd:vgg16@224",
            len(c["control_seeds"]) * (warm + e2e) * n["osie_train"], p.batch_size)
    add(ch, "dissection and category activations", "fwd:salvgg16@192x256", 2 * items * 3)
    heldout = n["osie_test"] * 2 + n["mit"]  # OSIE validation and test, MIT1003 (heldout_sets)
    add(ch, "held-out dissection activations (2 networks)", "fwd:salvgg16@192x256", 2 * heldout)
    add(ch, "natural images, 3 deep predictors", "fwd:salvgg16@192x256", 3 * nat * 2)
    add(ch, "natural images, classical maps", "classical", 3 * nat)
    add(ch, "natural images, scoring (5 metrics, 7 predictors)", "score:fast", 7 * nat)
    add(ch, "search arrays, deep maps", "fwd:salvgg16@192x256", 3 * c["n_arrays"] * 4 * 2)
    add(ch, "search arrays, classical maps", "classical", 3 * c["n_arrays"] * 4)
    add(ch, "CKA activations (pre-trained and every run)", "fwd:salvgg16@192x256", (runs + 1) * c["n_cka"])
    add(ch, "CKA products (float64, about 293 GMAC per comparison; vs pre-trained and between seeds)",
        "gmac:f64", 2 * runs * 293 * c["n_cka"] / 100)

    c = settings("ch5_loggabor_explanation", "paper")
    ch = "ch5_loggabor_explanation"
    nf = c["n_fit"] + c["n_val"] + c["n_heldout"]
    ne = n["osie_test"] + n["mit"] + n["figrim"] if c["n_eval"] is None else 3 * c["n_eval"]
    fwd5 = (
        nf
        + 3 * sum(c["variants"])
        + sum(c["fixed_grid"])
        + 4 * ne
        + 2 * (len(c["layers"]) - 1) * c["layer_eval"]
        + nf
        + 2 * len(c["controls"]["kinds"]) * ne
    )
    add(
        ch, "saliency-model passes (statistics, variants, evaluation, controls)", "fwd:salvgg16@192x256", fwd5
    )
    add(
        ch,
        "log-Gabor and control filter banks",
        "loggabor:paper@192x256",
        nf
        + 3 * sum(c["variants"])
        + sum(c["fixed_grid"])
        + 2 * ne
        + 2 * (len(c["layers"]) - 1) * c["layer_eval"]
        + len(c["controls"]["kinds"]) * (nf + 2 * ne),
    )
    add(
        ch,
        "ridge statistics (about 1.1 GMAC per image, 6.2 for the signed variant)",
        "gmac:f32",
        1.1 * nf + 1.0 * 2 * sum(c["variants"]) + 6.2 * sum(c["variants"]),
    )
    add(ch, "scoring (8 metrics, 3 maps)", "score:8", 3 * ne)
    add(
        ch,
        "scoring (fast metrics, single layers; NSS of controls)",
        "score:fast",
        (len(c["layers"]) - 1) * c["layer_eval"] + len(c["controls"]["kinds"]) * ne,
    )

    c = settings("ch6_cross_paper", "paper")
    ch = "ch6_cross_paper"
    N6 = (c["n_osie"] or n["osie_test"]) + (c["n_mit"] or n["mit"]) + (c["n_imagenet"] or n["imagenet"])
    nfix = (c["n_osie"] or n["osie_test"]) + (c["n_mit"] or n["mit"])
    c5 = settings("ch5_loggabor_explanation", "paper")
    add(ch, "classifier top-5", "fwd:vgg16@224", N6, c["batch_size"])
    add(ch, "gradient maps", "grad:vgg16@224", N6, c["batch_size"])
    add(ch, "SmoothGrad", "grad:vgg16@224", c["sg_samples"] * N6, c["sg_samples"])
    add(ch, "LRP", "lrp:vgg16@224", N6, c["batch_size"])
    add(ch, "SR maps", sr, N6)
    add(
        ch,
        "saliency model and explainable model (image + mirror)",
        "fwd:salvgg16@192x256",
        4 * N6 + c5["n_fit"] + c5["n_val"],
    )
    add(ch, "log-Gabor filtering", "loggabor:paper@192x256", 2 * N6 + c5["n_fit"] + c5["n_val"])
    add(ch, "fixation scoring (5 metrics, 11 maps)", "score:fast", 11 * nfix)
    add(ch, "box scoring (11 maps)", "score_map:224", 11 * (c["n_imagenet"] or n["imagenet"]))

    c = settings("appendix_data", "paper")
    ch = "appendix_data"
    nd = (c["n_osie"] or n["osie_test"]) + (c["n_mit1003"] or n["mit"])
    add(ch, "ImageNet top-5", "fwd:vgg16@224", c["n_imagenet"] or n["imagenet"], 32)
    add(ch, "centre bias, all observers", "score:8", nd)
    add(ch, "leave-one-observer-out (centre bias, inter-observer)", "loo:8", 2 * nd)

    c = settings("appendix_shapes", "paper")
    ch = "appendix_shapes"
    ns = n["osie_test"] + n["mit"] if c["n"] is None else 2 * c["n"]
    add(ch, "model maps, 4 versions (image + mirror)", "fwd:salvgg16@192x256", 4 * ns * 2)
    add(ch, "leave-one-observer-out NSS, 3 maps, 4 versions", "loo:nss", 4 * ns * 3)

    omitted = {
        "models": "image loading and target densities (about 1 %)",
        "ch1_gradient_saliency": "DeconvNet identity check (float64 on the CPU, seconds), figures",
        "ch2_lrp_salient_relevance": "figures, dense-vs-fast check (16 maps), bootstrap intervals",
        "ch3_centre_surround": "planted gradient fields (200), readout unit probes, figures",
        "ch4_task_vs_domain": "dissection thresholds and IoU (651 layer-images), search scoring "
        "(600 maps), stimulus generation; the held-out detectors (CPU, about 0.8 s per image, "
        "once: cached) and the permutation dissection (CPU, about a minute per network)",
        "ch5_loggabor_explanation": "ridge fits (19, seconds each), power simulations (2000), "
        "UNISAL section (runs only with SALIENCY_UNISAL_WEIGHTS)",
        "ch6_cross_paper": "power simulations (10400), the log-Gabor fit's ridge",
        "appendix_data": "image loading",
        "appendix_shapes": "bootstrap intervals",
        "appendix_calibration": "scaled from its offline time (CPU only: n_sim 1000 against 400)",
    }
    return T, omitted


README_START, README_END = "<!-- paper-estimate:start -->", "<!-- paper-estimate:end -->"


def readme_with_estimate(text: str, est: dict) -> str:
    """``text`` (the README) with the estimate's table between its two markers."""
    from saliency_utils.book import benchreport

    if README_START not in text or README_END not in text:
        raise ValueError(f"README.md lacks the markers {README_START} / {README_END}")
    head, rest = text.split(README_START, 1)
    _, tail = rest.split(README_END, 1)
    table = "\n".join(benchreport.paper_estimate_markdown(est))
    return f"{head}{README_START}\n{table}\n{README_END}{tail}"


def main(argv=None) -> int:
    """Measure the units (or, with ``--from-results``, take those stored in results.json), count
    the workload at the current `paper` settings, and write the estimate into results.json,
    RESULTS.md and the README."""
    import platform

    import run_benchmarks  # this folder: the script's own directory is on sys.path

    from saliency_utils.book import benchreport
    from saliency_utils.fileio import atomic_write_text
    from saliency_utils.book.profiles import settings

    res_path = HERE / "results.json"
    res = json.loads(res_path.read_text()) if res_path.exists() else {}
    if "--from-results" in (sys.argv[1:] if argv is None else argv):
        if "paper_estimate" not in res:
            raise SystemExit("results.json holds no measured units: run without --from-results first")
        prev = res["paper_estimate"]
        units = {k: v for k, v in prev["units"].items() if k != "calibration:offline"}
        when, mach = prev["when"], prev["machine"]
    else:
        import torch

        units = measure_units()
        when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        mach = {"cpus": os.cpu_count(), "torch": torch.__version__, "platform": platform.platform()}
    terms, omitted = workload()
    # the calibration appendix is CPU-only simulation: its latest offline time (the cold
    # build's, else the per-chapter benchmark's) scaled by the profiles' n_sim
    cold = res.get("build", {}).get("offline", {}).get("cold", {}).get("chapters", {})
    cal = cold.get("appendix_calibration", {}).get("seconds") or res.get("chapters", {}).get(
        "offline", {}
    ).get("appendix_calibration", {}).get("seconds")
    if cal:
        ratio = (
            settings("appendix_calibration", "paper")["n_sim"]
            / settings("appendix_calibration", "offline")["n_sim"]
        )
        units["calibration:offline"] = dict(
            kind="cpu", cpu_s=float(cal), what="the calibration appendix's offline time on this machine"
        )
        terms.append(
            dict(
                chapter="appendix_calibration",
                what="simulated verdicts (offline time x n_sim ratio)",
                unit="calibration:offline",
                count=ratio,
                batch=1,
            )
        )
    res["paper_estimate"] = dict(
        when=when,
        machine=mach,
        scenarios=benchreport.GPU_SCENARIOS,
        units=units,
        terms=terms,
        omitted=omitted,
        chapters=benchreport.paper_estimate(terms, units),
    )
    atomic_write_text(res_path, json.dumps(res, indent=1) + "\n")
    run_benchmarks.write_markdown(res)
    readme = ROOT / "README.md"
    atomic_write_text(readme, readme_with_estimate(readme.read_text(), res["paper_estimate"]))
    for line in benchreport.paper_estimate_markdown(res["paper_estimate"]):
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
