"""CUDA parity check: the book's GPU paths give the CPU's numbers.

The ``paper`` profile is meant for a GPU, but the book's tests and CI run on CPUs only. This
script runs the code paths that move work to CUDA (the attribution methods, every LRP
composite, the cross-paper chapter's SR maps, the size-tuning and occlusion probes of chapter
3, the saliency model's prediction and its training with the prefetching thread) once on the
CPU and once on CUDA, on the same inputs and weights, and compares them:

* paths without gates (the forward pass, the DeconvNet, the z+ and z^B rules, the probes, the
  saliency model): the largest absolute difference relative to the CPU result's largest
  magnitude must stay under a float32 tolerance (``TOL``; the two devices sum in different
  orders);
* paths gated by the forward pass (the gradient, guided backprop, Integrated Gradients, LRP-0
  and epsilon, through ReLU and max-pooling switches): a float32 difference in an activation
  near 0, or between two near-equal values of a pooling window, routes the backward signal
  differently at that unit, so single pixels can differ by a few per cent of the map's maximum
  (first run on an H200: up to 3.5 % for the gradient of a random VGG-16, whose DeconvNet map,
  which has no such gates, agreed to 2e-6). These are compared by the relative L2 difference
  (``L2_TOL``) and the Spearman correlation over pixels (``RHO_GATED``);
* paths that draw noise on the device (SmoothGrad: CUDA's generator is not the CPU's): the
  CPU-CUDA Spearman correlation must be no lower than that between two CPU noise seeds minus
  ``SEED_MARGIN`` (two noise draws differ as much as two devices);
* training (non-deterministic CUDA kernels, ``warn_only``): the per-epoch validation losses
  within ``LOSS_TOL`` (relative) and the same post-processing choice.

Usage (a machine with CUDA; ``SALIENCY_DATA`` must hold OSIE's smoke images and fixations for
the training check, which is skipped with a note otherwise)::

    python benchmarks/cuda_check.py [--out cuda_check.json]

Exit status 0 when every check passes, 1 otherwise, 2 without CUDA. Random weights throughout:
no download is needed.
"""
from __future__ import annotations

import argparse
import copy
import json
import sys
import time
import traceback
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

TOL = 1e-3  # float32 sums in another order: relative to the CPU result's largest magnitude
L2_TOL = 2e-2  # gated backward passes: ||cuda - cpu|| / ||cpu||
RHO_GATED = 0.99  # ... and their Spearman correlation over pixels
SEED_MARGIN = 0.1  # noise drawn on the device: the CPU-CUDA rank correlation against two CPU seeds'
LOSS_TOL = 2e-2  # training: per-epoch validation loss, relative


def rel_diff(a, b) -> float:
    a, b = (np.asarray(v.detach().cpu() if torch.is_tensor(v) else v, dtype=np.float64) for v in (a, b))
    if a.shape != b.shape:
        raise ValueError(f"shapes differ: {a.shape} (CUDA) vs {b.shape} (CPU)")
    return float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-12))


def gated(a, b) -> dict:
    """The comparison of a map computed through forward-pass gates (see the module docstring)."""
    a, b = (np.asarray(v, dtype=np.float64) for v in (a, b))
    rho = min(spearman(a[i], b[i]) for i in range(len(a)))
    return {"rel_l2": float(np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-12)), "l2_tol": L2_TOL,
            "spearman": rho, "min": RHO_GATED, "max_rel_diff (not judged)": rel_diff(a, b)}


def spearman(a, b) -> float:
    from scipy import stats

    return float(stats.spearmanr(np.ravel(a), np.ravel(b)).statistic)


DEV = "cuda"  # --device cpu: a dry run of the script itself (CPU against CPU)


def vgg16_pair():
    from saliency_utils.models.backbones import load_backbone

    cpu = load_backbone("vgg16", weights="random", device="cpu", seed=0)
    gpu = load_backbone("vgg16", weights="random", device=DEV, seed=0)
    gpu.model.load_state_dict(cpu.model.state_dict())
    return cpu, gpu


def images(n=2, size=224, seed=0):
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        base = rng.integers(0, 256, size=3)
        img = base + rng.normal(0, 50, size=(size, size, 3))
        out.append(np.clip(img, 0, 255).astype(np.uint8))
    return out


def check_attribution():
    from saliency_utils.explain import attribution as A

    cpu, gpu = vgg16_pair()
    imgs = images()
    xc, xg = cpu.preprocess(imgs), gpu.preprocess(imgs)
    with torch.no_grad():
        out = {"logits (forward pass)": {"max_rel_diff": rel_diff(gpu.model(xg), cpu.model(xc)), "tol": TOL}}
    out["deconvnet (no gates)"] = {"max_rel_diff": rel_diff(A.deconvnet(gpu.model, xg, [1, 2]),
                                                            A.deconvnet(cpu.model, xc, [1, 2])), "tol": TOL}
    for name, fn, kw in [("gradient", A.gradient_saliency, {}),
                         ("integrated gradients", A.integrated_gradients, {"steps": 8}),
                         ("guided backprop", A.guided_backprop, {})]:
        out[name] = gated(fn(gpu.model, xg, [1, 2], **kw), fn(cpu.model, xc, [1, 2], **kw))
    out["SmoothGrad (noise drawn per device)"] = smoothgrad_floor(A.smoothgrad, gpu.model, xg, cpu.model, xc)
    return out


def smoothgrad_floor(fn, model_g, xg, model_c, xc, **kw) -> dict:
    sg_c = fn(model_c, xc, [1, 2], n_samples=16, seed=0, **kw)
    sg_c1 = fn(model_c, xc, [1, 2], n_samples=16, seed=1, **kw)
    sg_g = fn(model_g, xg, [1, 2], n_samples=16, seed=0, **kw)
    floor = min(spearman(sg_c1[i], sg_c[i]) for i in range(2))
    return {"spearman": min(spearman(sg_g[i], sg_c[i]) for i in range(2)), "min": floor - SEED_MARGIN,
            "two CPU seeds": floor}


def check_lrp():
    from saliency_utils.explain import lrp

    cpu, gpu = vgg16_pair()
    imgs = images()
    xc, xg = cpu.preprocess(imgs), gpu.preprocess(imgs)
    nc, ng = lrp.canonise(cpu.model), lrp.canonise(gpu.model)
    out = {}
    for comp in lrp.COMPOSITES:
        kw = {}
        if comp == "epsilon_plus_box":
            kw = dict(low=xc.min().item(), high=xc.max().item())
        rc = lrp.lrp(nc, xc, [1, 2], comp, **kw)
        rg = lrp.lrp(ng, xg, [1, 2], comp, **kw)
        # z+ / z^B rules (alpha1-beta0, the box) pass positive parts; LRP-0 / epsilon are gated
        no_gates = comp.startswith("epsilon_plus")
        out[comp] = ({"max_rel_diff": rel_diff(rg.relevance, rc.relevance), "tol": TOL} if no_gates
                     else gated(rg.relevance.sum(1).cpu(), rc.relevance.sum(1)))
        out[comp]["relevance_on"] = str(rg.relevance.device)
    return out


def check_sr_maps():
    from saliency_utils.book import crosspaper as cp

    cpu, gpu = vgg16_pair()
    ca = dict(max_side=64, query_stride=2, ref_stride=4)
    ec = cp.ClassifierExplainer(cpu, sg_samples=4, ca=ca)
    eg = cp.ClassifierExplainer(gpu, sg_samples=4, ca=ca)
    imgs = images(2, 160, seed=1)
    mc, tc = ec.maps(imgs, target=[3, 4])
    mg, tg = eg.maps(imgs, target=[3, 4])
    out = {"SR map device": {"value": str(eg.ca.get("device", "cpu")), "expected": DEV}}
    for m in mc:
        if m != "SmoothGrad":  # (its noise: the attribution check's floor)
            out[m] = gated(mg[m], mc[m])
    return out


def check_probes():
    from saliency_utils.analysis.receptive_fields import Unit, empirical_rfs
    from saliency_utils.analysis.surround import (PlantedUnits, gradient_fields, planted_population,
        size_tuning)

    k, _ = planted_population(4, "dog", seed=0, sigma_range=(2.0, 4.0))
    net_c = PlantedUnits(k, stride=16)
    net_g = copy.deepcopy(net_c).to(DEV)
    units = [Unit("planted", i) for i in range(4)]
    g = torch.Generator().manual_seed(0)
    x = torch.randn(6, 3, 96, 128, generator=g)
    radii = (8, 16, 32, 64)
    tc = size_tuning(net_c, x, {"planted": net_c}, units, radii, k=3)
    tg = size_tuning(net_g, x.to(DEV), {"planted": net_g}, units, radii, k=3)
    curves = [np.array([t.curve(u) for u in units]) for t in (tg, tc)]
    out = {"size tuning (curves)": {"max_rel_diff": rel_diff(*curves), "tol": TOL}}
    fc = gradient_fields(net_c, x, {"planted": net_c}, tc, units, half=12)
    fg = gradient_fields(net_g, x.to(DEV), {"planted": net_g}, tg, units, half=12)
    out["gradient fields"] = {"max_rel_diff": rel_diff(np.array([fg[u] for u in units]),
                                                       np.array([fc[u] for u in units])), "tol": TOL}
    rc = empirical_rfs(net_c, x, {"planted": net_c}, units[:2], k=2, radius=8, step=4, occluder=5)
    rg = empirical_rfs(net_g, x.to(DEV), {"planted": net_g}, units[:2], k=2, radius=8, step=4, occluder=5)
    fields = [np.nan_to_num(np.array([r.fields[u] for u in units[:2]])) for r in (rg, rc)]
    out["occlusion fields"] = {"max_rel_diff": rel_diff(*fields), "tol": TOL}
    return out


def check_saliency_model():
    from saliency_utils.models.saliency_model import SaliencyModel

    mc = SaliencyModel("efficientnet_lite0", weights="random", seed=0, device="cpu")
    mg = SaliencyModel("efficientnet_lite0", weights="random", seed=0, device=DEV)
    mg.load_state_dict(mc.state_dict())
    mc.eval(), mg.eval()
    img = images(1, 300, seed=2)[0][:, :240]
    return {"log-density (image + mirror)": {
        "max_rel_diff": rel_diff(mg.predict_log_density(img, flip_average=True),
                                 mc.predict_log_density(img, flip_average=True)), "tol": TOL}}


def check_training():
    from saliency_utils import data
    from saliency_utils.training import saliency as training

    cfg = training.PRESETS["smoke"].replace(weights="random")  # no weights package needed
    try:
        training.training_data(cfg), training.training_data(cfg, split="val")
    except data.DataNotFoundError as err:
        return {"skipped": {"note": f"no OSIE data for the training check: {str(err).splitlines()[0]}"}}
    t0 = time.perf_counter()
    mc, hc = training.train(cfg, progress=False, device="cpu")
    tcpu = time.perf_counter() - t0
    t0 = time.perf_counter()
    mg, hg = training.train(cfg, progress=False, device=DEV)
    tgpu = time.perf_counter() - t0
    PP = ("exponent", "flip_average")
    vc = np.array([e["val_loss"] for e in hc["epochs"]])
    vg = np.array([e["val_loss"] for e in hg["epochs"]])
    return {"validation loss per epoch": {"max_rel_diff": rel_diff(vg, vc), "tol": LOSS_TOL,
                                          "cpu": vc.round(5).tolist(), "cuda": vg.round(5).tolist(),
                                          "seconds": {"cpu": round(tcpu, 1), "cuda": round(tgpu, 1)}},
            "post-processing chosen": {"value": [hg["postprocessing"][k] for k in PP],
                                       "expected": [hc["postprocessing"][k] for k in PP]},
            "model device": {"value": str(next(mg.parameters()).device.type), "expected": DEV}}


def passed(r: dict) -> bool:
    if "error" in r:
        return False
    if "rel_l2" in r:
        return r["rel_l2"] <= r["l2_tol"] and r["spearman"] >= r["min"]
    if "max_rel_diff" in r:
        return r["max_rel_diff"] <= r["tol"]
    if "spearman" in r:
        return r["spearman"] >= r["min"]
    if "value" in r:
        if isinstance(r["expected"], str):
            return str(r["value"]).startswith(r["expected"])
        return r["value"] == r["expected"]
    return "note" in r  # a skipped check says why


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=None, help="write the results as JSON here")
    ap.add_argument("--device", default="cuda", help="cpu: a dry run of this script (CPU against CPU)")
    args = ap.parse_args(argv)
    global DEV
    DEV = args.device
    if DEV == "cuda" and not torch.cuda.is_available():
        print("cuda_check: no CUDA device; nothing to compare", file=sys.stderr)
        return 2
    torch.backends.cudnn.benchmark = False
    torch.backends.cuda.matmul.allow_tf32 = False  # float32 as on the CPU, no TF32
    torch.backends.cudnn.allow_tf32 = False
    results = {"device": torch.cuda.get_device_name(0) if DEV == "cuda" else DEV, "torch": torch.__version__,
               "checks": {}}
    for name, fn in [("attribution (VGG-16, random weights)", check_attribution),
                     ("LRP composites (VGG-16, random weights)", check_lrp),
                     ("cross-paper maps, SR on the GPU (VGG-16, random weights)", check_sr_maps),
                     ("chapter 3 probes (planted units)", check_probes),
                     ("saliency model prediction (EfficientNet-Lite0, random weights)", check_saliency_model),
                     ("training, smoke preset (prefetching thread on CUDA)", check_training)]:
        t0 = time.perf_counter()
        try:
            rows = fn()
        except Exception as err:  # noqa: BLE001 (report every failure, go on)
            rows = {"error": {"error": f"{type(err).__name__}: {err}",
                              "traceback": traceback.format_exc(limit=6)}}
        for row in rows.values():
            row["ok"] = passed(row)
        results["checks"][name] = {"seconds": round(time.perf_counter() - t0, 1), **rows}
        for k, row in rows.items():
            print(f"{'ok  ' if row['ok'] else 'FAIL'} {name}: {k}: "
                  + ", ".join(f"{a}={b}" for a, b in row.items() if a not in ("ok", "traceback")), flush=True)
            if "traceback" in row:
                print(row["traceback"], flush=True)
    ok = all(r["ok"] for c in results["checks"].values() for k, r in c.items() if k != "seconds")
    results["all_ok"] = ok
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=1))
    print("cuda_check:", "all checks pass" if ok else "some checks FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
