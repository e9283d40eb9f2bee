"""The training loop (:func:`train`): determinism, batches, the two phases, validation and the kept
epoch."""
from __future__ import annotations

import math
import os
import time
from contextlib import contextmanager
from typing import Callable

import numpy as np
import torch

from saliency_utils.evaluate import anchors
from saliency_utils.models.architectures import architecture
from saliency_utils.models.backbones import default_device
from saliency_utils.models.saliency_model import MODEL_VERSION, SaliencyModel

from saliency_utils.training.saliency.config import TRAINING_VERSION, TrainConfig
from saliency_utils.training.saliency.data import dataset_source, training_data, training_targets
from saliency_utils.training.saliency.losses import saliency_loss
from saliency_utils.training.saliency.selection import apply_postprocessing, choose_postprocessing

__all__ = ["seed_all", "deterministic", "build_model", "encoder_parameters", "lr_factor",
           "epoch_batches", "batch_targets", "validation_loss", "batch_images", "prefetched",
           "FEATURE_CACHE_BYTES", "train"]


def seed_all(seed: int) -> None:
    """Seed Python's, NumPy's and torch's global generators (the trainers call it first)."""
    import random

    random.seed(seed)
    np.random.seed(seed % (2 ** 32))
    torch.manual_seed(seed)


@contextmanager
def deterministic(device: torch.device):
    """Deterministic algorithms on ``device`` inside the block (warn-only on CUDA, whose
    workspace is configured), restored afterwards; both trainers train inside it."""
    prev = torch.are_deterministic_algorithms_enabled()
    prev_warn = torch.is_deterministic_algorithms_warn_only_enabled()
    prev_cudnn = (torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark)
    if device.type == "cuda":
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(True, warn_only=device.type == "cuda")
    torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = True, False
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(prev, warn_only=prev_warn)
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = prev_cudnn




def build_model(config: TrainConfig, weights=None, centre_bias_init=(0.2, 0.2),
                device=None) -> SaliencyModel:
    """The untrained model of ``config`` with the encoder weights ``config.weights`` (or
    ``weights``, e.g. ``"random"`` when a state dict will be loaded); a random encoder is seeded
    with ``config.seed``."""
    weights = config.weights if weights is None else weights
    return SaliencyModel(config.backbone, weights=weights, seed=config.seed,
                         readout_layers=config.readout_layers,
                         readout_hidden=config.readout_hidden, centre_bias=config.centre_bias,
                         centre_bias_init=centre_bias_init, freeze_encoder=config.freeze_encoder,
                         input_size=config.image_size, device=device,
                         readout_bias=config.readout_bias, output=config.output)


def encoder_parameters(model: SaliencyModel) -> list:
    """The encoder's parameters that end-to-end training updates: all of them but the ImageNet
    classifier's, which the encoder's forward pass does not reach."""
    skip = architecture(model.backbone_name).classifier_prefix
    return [p for n_, p in model.encoder.named_parameters() if not (skip and n_.startswith(skip))]


def _cosine(step: int, total: int) -> float:
    return 0.5 * (1.0 + math.cos(math.pi * min(step, total) / max(total, 1)))


def lr_factor(config: TrainConfig, step: int, steps_per_epoch: int, total: int) -> float:
    """The factor on the base learning rates at ``step`` (0-based) of a phase of ``total``
    steps: the cosine decay, or ``lr_decay ** epochs done`` with ``config.lr_decay``."""
    if config.lr_decay is None:
        return _cosine(step, total)
    return float(config.lr_decay) ** (step // max(1, steps_per_epoch))


def epoch_batches(n: int, batch_size: int, flip: bool, gen: torch.Generator):
    """One epoch of ``(indices, flips)`` batches: a permutation of ``n`` items drawn from
    ``gen``, and per item a horizontal flip with probability 0.5 if ``flip`` (else none)."""
    order = torch.randperm(n, generator=gen)
    flips = (torch.rand(n, generator=gen) < 0.5) if flip else torch.zeros(n, dtype=torch.bool)
    for s in range(0, n, batch_size):
        idx = order[s:s + batch_size]
        yield idx, flips[idx]


def batch_targets(d: dict, idx, flips, device):
    """Target densities and fixation maps of the images ``idx`` (a tensor of indices) of
    :func:`training_data` ``d``, mirrored where ``flips``, on ``device`` (precomputed ones when
    ``d`` holds them)."""
    if "density" in d:  # precomputed (small data sets)
        dens = torch.from_numpy(d["density"][idx.numpy()])
        fix = torch.from_numpy(d["fixmap"][idx.numpy()])
    else:
        dens, fix = (torch.from_numpy(a) for a in training_targets(d, idx.numpy()))
    if flips.any():
        dens[flips] = dens[flips].flip(-1)
        fix[flips] = fix[flips].flip(-1)
    return dens.to(device), fix.to(device)


@torch.no_grad()
def validation_loss(model: SaliencyModel, vd: dict, config: TrainConfig, device=None) -> dict:
    """The loss of ``config`` and its parts (``kl``, ``cc``, ``nss``, ``loss``), averaged over the
    images of :func:`training_data` ``vd`` (no flips), with the model in eval mode (then restored)."""
    dev = torch.device(device) if device is not None else next(model.parameters()).device
    was = model.training
    model.eval()
    sums, count = {}, 0
    try:
        n = len(vd["ids"])
        for start in range(0, n, 2 * config.batch_size):
            idx = torch.arange(start, min(n, start + 2 * config.batch_size))
            flips = torch.zeros(len(idx), dtype=torch.bool)
            dens, fix = batch_targets(vd, idx, flips, dev)
            _, parts = saliency_loss(model(batch_images(model, vd, idx, flips)), dens, fix, config)
            for k, v in parts.items():
                sums[k] = sums.get(k, 0.0) + v * len(idx)
            count += len(idx)
    finally:
        model.train(was)
    return {k: v / count for k, v in sums.items()}


def batch_images(model: SaliencyModel, d: dict, idx, flips) -> torch.Tensor:
    """The preprocessed images ``idx`` of :func:`training_data` ``d`` (flipped where
    ``flips``), on the model's device."""
    imgs = np.asarray(d["images"][np.sort(idx.numpy())])
    order = np.argsort(np.argsort(idx.numpy()))  # memory maps are read in sorted order
    x = model.preprocess(list(imgs[order]))
    if flips.any():
        x[flips.to(x.device)] = x[flips.to(x.device)].flip(-1)
    return x


def prefetched(items, prepare: Callable, enabled: bool = True):
    """``(item, prepare(item))`` for each of ``items``, in order. With ``enabled``, the next
    item's ``prepare`` runs in a background thread while the caller works on the current one
    (the trainers' host work, such as target densities and image preprocessing, overlaps the
    GPU's step); the results are the same as without. An exception in ``prepare`` is raised in
    the caller at that item."""
    items = iter(items)
    if not enabled:
        for it in items:
            yield it, prepare(it)
        return
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=1) as pool:
        try:
            cur = next(items)
        except StopIteration:
            return
        fut = pool.submit(prepare, cur)
        for nxt in items:
            nxt_fut = pool.submit(prepare, nxt)
            yield cur, fut.result()
            cur, fut = nxt, nxt_fut
        yield cur, fut.result()


#: Phase 1 caches encoder features in memory up to this size; beyond, it recomputes them.
FEATURE_CACHE_BYTES = 3 * 2 ** 30


@torch.no_grad()
def _feature_cache(model: SaliencyModel, d: dict, flip: bool, batch_size: int, progress: bool):
    """Encoder features of every training image (and of its mirror image): lists per layer of
    float16 CPU tensors ``N x C x h x w``, index ``[0]`` unflipped, ``[1]`` flipped. ``None``
    when they would take more than :data:`FEATURE_CACHE_BYTES`."""
    from tqdm.auto import tqdm

    n = len(d["ids"])
    model.eval()
    out = []
    for mirrored in ([False, True] if flip else [False]):
        per_layer = None
        desc = "encoder features" + (" (mirrored)" if mirrored else "")
        for s in tqdm(range(0, n, batch_size), desc=desc, disable=not progress, leave=False):
            idx = torch.arange(s, min(n, s + batch_size))
            x = batch_images(model, d, idx, torch.full((len(idx),), mirrored))
            feats = [f.half().cpu() for f in model.features(x)]
            if per_layer is None:
                per_image = sum(f[0].numel() * 2 for f in feats)
                if per_image * n * (2 if flip else 1) > FEATURE_CACHE_BYTES:
                    return None
                per_layer = [[f] for f in feats]
            else:
                per_layer = [acc + [f] for acc, f in zip(per_layer, feats)]
        out.append([torch.cat(acc) for acc in per_layer])
    return out


def train(config: TrainConfig, progress: bool = True, device=None, threads: int | None = None):
    """Train the model of ``config``; returns ``(model, history)``.

    ``device``: default CUDA when available, else CPU. ``threads``: CPU threads for torch
    during training (restored afterwards); default: torch's current setting. (On a machine
    whose cores are busy with another process, OpenMP's spinning threads can make 2 threads
    many times slower than 1; ``OMP_WAIT_POLICY=PASSIVE`` in the environment avoids that.)

    ``history`` is a dict: ``config``, ``device``, ``n_images``, ``epochs`` (one dict per epoch:
    phase, mean loss and its parts, seconds, images/s), ``seconds`` (total, incl. data
    preparation) and ``centre_bias_init`` (the prior's initial widths, fitted to the training
    fixations).
    """
    from tqdm.auto import tqdm

    dev = torch.device(device) if device is not None else default_device()
    if threads:
        prev_threads = torch.get_num_threads()
        torch.set_num_threads(int(threads))
        try:
            return train(config, progress=progress, device=dev)
        finally:
            torch.set_num_threads(prev_threads)
    t_start, cpu_start = time.perf_counter(), time.process_time()
    d = training_data(config, progress=progress)
    n = len(d["ids"])
    if n * np.prod(config.image_size) * 5 < 2 ** 30:  # targets fit in 1 GiB: compute them once
        d["density"], d["fixmap"] = training_targets(d)
    load_fix = dataset_source(config.dataset)[1]
    sigma_frac = anchors.fit_centre_bias([load_fix(i) for i in d["ids"]])
    vd = training_data(config, progress=progress, split="val") if config.n_val else None
    if vd is not None:
        vd["density"], vd["fixmap"] = training_targets(vd)
    history = {"config": config.to_dict(), "device": str(dev), "n_images": n,
               "n_val_images": len(vd["ids"]) if vd is not None else 0,
               "torch_threads": torch.get_num_threads(), "epochs": [],
               "centre_bias_init": list(sigma_frac), "model_version": MODEL_VERSION,
               "training_version": TRAINING_VERSION}
    with deterministic(dev):
        seed_all(config.seed)
        model = build_model(config, weights=config.weights, centre_bias_init=sigma_frac,
                            device=dev)
        gen = torch.Generator().manual_seed(config.seed)
        size = config.image_size
        final_phase = ("end-to-end" if config.epochs > 0 and not config.freeze_encoder
                       else "readout")
        best = {"loss": math.inf, "state": None, "epoch": None}

        def run_epochs(phase, n_epochs, optimiser, base_lrs, step_fn, prepare):
            per_epoch = math.ceil(n / config.batch_size)
            total = n_epochs * per_epoch
            step = 0
            for ep in range(n_epochs):
                t0 = time.perf_counter()
                sums, count = {}, 0
                bar = tqdm(list(epoch_batches(n, config.batch_size, config.flip, gen)),
                           desc=f"{phase} epoch {ep + 1}/{n_epochs}", disable=not progress,
                           leave=False)
                # on a GPU the next batch's host work (targets, images) runs in a thread while
                # the GPU trains on this one; the same numbers either way
                for (idx, flips), (inputs, dens, fix) in prefetched(
                        bar, lambda b: (prepare(*b), *batch_targets(d, *b, dev)),
                        enabled=dev.type == "cuda"):
                    for g, lr in zip(optimiser.param_groups, base_lrs):
                        g["lr"] = lr * lr_factor(config, step, per_epoch, total)
                    logp = step_fn(idx, flips, inputs)
                    loss, parts = saliency_loss(logp, dens, fix, config)
                    optimiser.zero_grad(set_to_none=True)
                    loss.backward()
                    optimiser.step()
                    step += 1
                    for k, v in parts.items():
                        sums[k] = sums.get(k, 0.0) + v * len(idx)
                    count += len(idx)
                    bar.set_postfix(loss=f"{parts['loss']:.3f}")
                dt = time.perf_counter() - t0
                row = {"phase": phase, "epoch": ep + 1, **{k: v / count for k, v in sums.items()},
                       "seconds": round(dt, 2), "images_per_s": round(count / dt, 2)}
                if vd is not None:  # the validation loss; the final phase keeps its best epoch
                    row.update({f"val_{k}": v for k, v in
                                validation_loss(model, vd, config, dev).items()})
                    if phase == final_phase and row["val_loss"] < best["loss"]:
                        best.update(loss=row["val_loss"], epoch=ep + 1,
                                    state={k: v.detach().clone() for k, v in model.state_dict().items()})
                history["epochs"].append(row)
                if progress:
                    print(f"{phase} epoch {ep + 1}/{n_epochs}: loss {row['loss']:.4f} "
                          f"(KL {row['kl']:.4f}), {dt:.1f} s, {row['images_per_s']:.1f} img/s",
                          flush=True)

        head_params = list(model.head_parameters())
        # phase 1: frozen encoder, features computed once
        if config.readout_epochs > 0:
            t0 = time.perf_counter()
            cache = _feature_cache(model, d, config.flip, 2 * config.batch_size, progress)
            history["feature_seconds"] = round(time.perf_counter() - t0, 2)
            opt = torch.optim.Adam(head_params, lr=config.lr, weight_decay=config.weight_decay)

            def head_inputs(idx, flips):  # the images, when the features are not cached
                return batch_images(model, d, idx, flips) if cache is None else None

            def head_step(idx, flips, x):
                if cache is None:  # too big to cache: frozen features on the fly
                    model.eval()
                    with torch.no_grad():
                        feats = model.features(x)
                    model.train()
                    return model.head(feats, size)
                feats = []
                for layer in range(len(cache[0])):
                    f = cache[0][layer][idx].clone()
                    if flips.any():
                        f[flips] = cache[1][layer][idx[flips]]
                    feats.append(f.to(dev).float())
                model.train()
                return model.head(feats, size)

            run_epochs("readout", config.readout_epochs, opt, [config.lr], head_step, head_inputs)
            del cache
        # phase 2: end to end
        if config.epochs > 0 and not config.freeze_encoder:
            enc = encoder_parameters(model)
            opt = torch.optim.Adam([{"params": enc, "lr": config.lr_encoder},
                                    {"params": head_params, "lr": config.lr}],
                                   weight_decay=config.weight_decay)

            def full_step(idx, flips, x):
                model.train()
                return model(x)

            run_epochs("end-to-end", config.epochs, opt, [config.lr_encoder, config.lr],
                       full_step, lambda idx, flips: batch_images(model, d, idx, flips))
        if best["state"] is not None:  # the epoch of lowest validation loss of the final phase
            model.load_state_dict(best["state"])
            history["kept_epoch"] = {"phase": final_phase, "epoch": best["epoch"],
                                     "val_loss": best["loss"],
                                     "rule": "lowest validation loss of the final phase"}
    model.eval()
    if vd is not None:
        history["postprocessing"] = choose_postprocessing(model, config, sigma_frac,
                                                          progress=progress)
        apply_postprocessing(model, history["postprocessing"])
    history["seconds"] = round(time.perf_counter() - t_start, 2)
    history["cpu_seconds"] = round(time.process_time() - cpu_start, 2)
    model.history = history
    model.train_config = config
    return model, history
