"""Chapter 4's task-vs-domain experiment: fine-tunings of one pre-trained encoder that differ in
one factor, the objective.

Every condition starts from the same ImageNet encoder and trains on the same images (the
training split of the base :class:`training.saliency.TrainConfig`), at the same resolution, with the same
horizontal flips and batch order (both drawn from the seed, identical across conditions), the
same optimiser, learning rates, schedule and frozen BatchNorm statistics, in the same two
phases: ``warmup_epochs`` with the encoder frozen, where only the condition's head learns (the
saliency model's readout warm-up, given to every condition), then ``epochs`` end to end. What
differs is the objective:

* ``saliency``: the base's saliency loss on each image's own fixation density, with the book's
  readout and centre-bias prior;
* ``shuffled`` (task destroyed): the same loss, readout and prior on the fixations of *another*
  training image (a fixed derangement drawn from the seed): the same data, head and
  optimisation, without the relation between an image and its fixations;
* ``distill`` (domain only): the ImageNet task on these images. A linear classifier on the
  globally pooled last readout layer learns to match the pre-trained network's own class
  probabilities for the same (flipped) input (KL divergence, temperature 1): the images change
  and the task does not;
* ``flip`` (another task on the same images): the same classifier shape learns whether the
  image is mirrored; its labels are the flips of the shared augmentation, so its inputs are
  exactly the saliency condition's (mirror-image discrimination needs asymmetric content such as
  text, faces and hands: Lin et al., "Visual Chirality", CVPR 2020);
* ``scene`` (the paper's control, given a labels CSV): scene classification, cross-entropy on
  the labels of ``labels_csv`` (columns ``image,label``; :func:`training.classification.read_labels_csv`;
  the book's own labels of the 700 OSIE images are ``saliency_utils/data/osie_scene_labels.csv``,
  documented in ``osie_scene_labels.md`` beside it).

A dense-map task and a classification task cannot share a head; everything that is not the
objective is shared. The heads of the classification conditions learn at the saliency readout's
learning rate (``base.lr``).

Checkpoints: ``<cache>/models/control-<backbone>[-random]-<condition>-s<seed>-<hash>.pt``
(state dict and configuration, read with ``torch.load(weights_only=True)``), keyed by the whole
configuration. :func:`representation_change` and :func:`weight_change` compare tuned encoders
with the pre-trained one.
"""
from __future__ import annotations

import hashlib
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import torch
from torch import nn

from saliency_utils.training import saliency as training
from saliency_utils.analysis.cka import layer_cka
from saliency_utils.evaluate.maps import fixation_map
from saliency_utils.evaluate.metrics import nss
from saliency_utils.models.backbones import default_device, load_backbone, randomisation_order
from saliency_utils.models.saliency_model import MODEL_VERSION, SaliencyModel
from saliency_utils.analysis.task_domain import encoder_activations
from saliency_utils.training.classification import csv_labels, read_labels_csv

__all__ = ["CONDITIONS", "ControlConfig", "experiment_configs", "train_control", "load_or_train_control",
           "control_checkpoint_path", "derangement", "representation_change", "weight_change",
           "held_out_check"]

CONTROL_VERSION = "1"

#: condition -> what it trains (the page's table is rendered from this).
CONDITIONS = {
    "saliency": "the saliency loss on each image's own fixations (readout and centre-bias prior)",
    "shuffled": "task destroyed: the same loss, readout and prior on another training image's "
                "fixations (a fixed derangement)",
    "distill": "domain only: the ImageNet task on these images (a linear classifier matches the "
               "pre-trained network's own class probabilities)",
    "flip": "another task on the same images: is the image mirrored? (the labels are the "
            "shared augmentation's flips)",
    "scene": "another task on the same images, the paper's control: scene classification "
             "(the book's labels of the OSIE images, or a user CSV)",
}
_SALIENCY_LIKE = ("saliency", "shuffled")


@dataclass(frozen=True)
class ControlConfig:
    """One condition of the experiment. ``base``: the saliency configuration whose images,
    backbone, readout, loss, batch size and learning rates every condition shares;
    ``image_size`` / ``warmup_epochs`` / ``epochs``: the experiment's shared resolution and
    schedule (``None``: the base's ``image_size``, ``readout_epochs``, ``epochs``); ``seed``:
    the readout's initialisation, the batch order and the flips."""

    base: training.TrainConfig
    condition: str = "saliency"
    seed: int = 0
    image_size: tuple[int, int] | None = None
    warmup_epochs: int | None = None
    epochs: int | None = None
    labels_csv: str | None = None

    def __post_init__(self):
        if self.condition not in CONDITIONS:
            raise ValueError(f"condition must be one of {', '.join(CONDITIONS)}, got "
                             f"{self.condition!r}")
        if (self.condition == "scene") != bool(self.labels_csv):
            raise ValueError("labels_csv is needed by the 'scene' condition and only by it")
        if self.image_size is not None:
            object.__setattr__(self, "image_size", tuple(int(v) for v in self.image_size))
        if self.base.freeze_encoder:
            raise ValueError("the experiment fine-tunes the encoder: base.freeze_encoder must be "
                             "False")

    @property
    def setup(self) -> training.TrainConfig:
        """The shared training configuration: the base with the experiment's resolution,
        schedule and seed, and flips on (the ``flip`` condition's labels)."""
        b = self.base
        return b.replace(image_size=self.image_size or b.image_size,
                         readout_epochs=b.readout_epochs if self.warmup_epochs is None
                         else int(self.warmup_epochs),
                         epochs=b.epochs if self.epochs is None else int(self.epochs),
                         seed=int(self.seed), flip=True)

    def to_dict(self) -> dict:
        # the labels file by name and content, not by where this copy of the book lies
        d = {"setup": self.setup.key_dict(), "condition": self.condition,
             "labels_csv": Path(self.labels_csv).name if self.labels_csv else None}
        if self.labels_csv:
            d["labels_sha256"] = hashlib.sha256(Path(self.labels_csv).read_bytes()).hexdigest()
        return d


def experiment_configs(base: training.TrainConfig, cfg: Mapping,
                       labels_csv: str | None = None) -> dict[str, list[ControlConfig]]:
    """``{condition: [ControlConfig per seed]}`` of chapter 4's settings ``cfg`` (the
    ``control_*`` entries of :mod:`saliency_utils.book.profiles`) around the saliency configuration
    ``base``; a scene-label CSV adds the paper's ``scene`` condition."""
    conditions = list(cfg["control_conditions"]) + (["scene"] if labels_csv else [])
    shared = dict(image_size=cfg["control_size"], warmup_epochs=cfg["control_warmup"],
                  epochs=cfg["control_epochs"])
    return {c: [ControlConfig(base=base, condition=c, seed=int(seed), **shared,
                              labels_csv=labels_csv if c == "scene" else None)
                for seed in cfg["control_seeds"]] for c in conditions}


def derangement(n: int, seed: int) -> np.ndarray:
    """``target[i]``: the image whose fixations image ``i`` is trained on in the ``shuffled``
    condition; a permutation without fixed points (a random cycle), from its own generator."""
    if n < 2:
        raise ValueError("a derangement needs at least two images")
    order = torch.randperm(n, generator=torch.Generator().manual_seed(10_000 + int(seed))).numpy()
    target = np.empty(n, dtype=np.int64)
    target[order] = np.roll(order, -1)
    return target


def _classes(config: ControlConfig, ids: list[str]):
    if config.condition in _SALIENCY_LIKE:
        return None, []
    if config.condition == "flip":
        return None, ["upright", "mirrored"]
    if config.condition == "distill":
        return None, []  # the teacher's classes
    return csv_labels(config.labels_csv, ids)


def _feature_channels(model: SaliencyModel) -> int:
    with torch.no_grad():
        return int(model.features(torch.zeros(1, 3, 64, 64, device=model.device))[-1].shape[1])


def _attach_classifier(model: SaliencyModel, n_classes: int) -> None:
    model.classifier = nn.Linear(_feature_channels(model), int(n_classes)).to(model.device)


def train_control(config: ControlConfig, progress: bool = True, device=None):
    """Train one condition; returns ``(model, history)``. ``model`` is the
    :class:`SaliencyModel` (its encoder is what the chapter compares), with a ``classifier``
    (linear, on the pooled last readout layer) for the classification conditions."""
    dev = torch.device(device) if device is not None else default_device()
    s = config.setup
    t_start = time.perf_counter()
    d = training.training_data(s, progress=progress)
    n = len(d["ids"])
    labels, classes = _classes(config, list(d["ids"]))
    source = torch.from_numpy(derangement(n, s.seed) if config.condition == "shuffled"
                              else np.arange(n))
    history = {"config": config.to_dict(), "device": str(dev), "n_images": n, "epochs": [],
               "classes": classes, "control_version": CONTROL_VERSION}
    if labels is not None:  # a labels CSV: how often each class occurs among the training images
        history["train_label_counts"] = {c: int((labels == k).sum()) for k, c in enumerate(classes)}
    with training.deterministic(dev):
        training.seed_all(s.seed)
        model = training.build_model(s, device=dev)  # identical in every condition
        teacher = None
        if config.condition in _SALIENCY_LIKE:
            model.classifier = None
            head = list(model.head_parameters())
        else:
            n_classes = len(classes)
            if config.condition == "distill":
                teacher = load_backbone(s.backbone, weights=s.weights, device=dev, seed=s.seed)
                with torch.no_grad():
                    n_classes = int(teacher.logits(torch.zeros(1, 3, 64, 64, device=dev)).shape[1])
                history["classes"] = f"the pre-trained network's {n_classes} classes"
            _attach_classifier(model, n_classes)
            head = list(model.classifier.parameters())
        enc = training.encoder_parameters(model)
        for p in enc:
            p.requires_grad_(True)
        gen = torch.Generator().manual_seed(s.seed)

        def forward(x, frozen):
            if frozen:
                with torch.no_grad():
                    feats = model.features(x)
            else:
                feats = model.features(x)
            model.train()
            if model.classifier is None:
                return model.head(feats, s.image_size)
            return model.classifier(feats[-1].mean(dim=(2, 3)))

        def objective(out, x, idx, flips):
            if config.condition in _SALIENCY_LIKE:
                dens, fix = training.batch_targets(d, source[idx], flips, dev)
                return training.saliency_loss(out, dens, fix, s)
            if config.condition == "distill":
                with torch.no_grad():
                    t = torch.log_softmax(teacher.logits(x), dim=1)
                loss = nn.functional.kl_div(torch.log_softmax(out, dim=1), t, log_target=True,
                                            reduction="batchmean")
                return loss, {"loss": loss.item()}
            y = (flips.long() if config.condition == "flip"
                 else torch.from_numpy(labels[idx.numpy()])).to(dev)
            loss = nn.functional.cross_entropy(out, y)
            return loss, {"loss": loss.item(), "accuracy": float((out.argmax(1) == y).float().mean())}

        phases = [("warm-up", s.readout_epochs, True), ("end-to-end", s.epochs, False)]
        for phase, n_epochs, frozen in phases:
            if n_epochs <= 0:
                continue
            groups = [(head, s.lr)] if frozen else [(enc, s.lr_encoder), (head, s.lr)]
            opt = torch.optim.Adam([{"params": p, "lr": lr} for p, lr in groups],
                                   weight_decay=s.weight_decay)
            per_epoch = math.ceil(n / s.batch_size)
            total, step = n_epochs * per_epoch, 0
            for ep in range(n_epochs):
                te, sums, count = time.perf_counter(), {}, 0
                for idx, flips in training.epoch_batches(n, s.batch_size, True, gen):
                    for g, (_, lr) in zip(opt.param_groups, groups):
                        g["lr"] = lr * training.lr_factor(s, step, per_epoch, total)
                    x = training.batch_images(model, d, idx, flips)
                    loss, parts = objective(forward(x, frozen), x, idx, flips)
                    opt.zero_grad(set_to_none=True)
                    loss.backward()
                    opt.step()
                    step += 1
                    for key, v in parts.items():
                        sums[key] = sums.get(key, 0.0) + v * len(idx)
                    count += len(idx)
                row = {"phase": phase, "epoch": ep + 1, **{k: v / count for k, v in sums.items()},
                       "seconds": round(time.perf_counter() - te, 2)}
                history["epochs"].append(row)
                if progress:
                    extra = f", accuracy {row['accuracy']:.3f}" if "accuracy" in row else ""
                    print(f"{config.condition} (seed {s.seed}) {phase} epoch {ep + 1}/{n_epochs}: "
                          f"loss {row['loss']:.4f}{extra}, {row['seconds']:.0f} s", flush=True)
    model.eval()
    history["seconds"] = round(time.perf_counter() - t_start, 2)
    model.history = history
    return model, history


def control_checkpoint_path(config: ControlConfig) -> Path:
    """``<cache>/models/control-<backbone>[-random]-<condition>-s<seed>-<hash>.pt``."""
    s = config.setup
    return training.keyed_model_path(
        "control", s.backbone, s.weights,
        {"config": config.to_dict(), "model_version": MODEL_VERSION,
         "control_version": CONTROL_VERSION}, detail=f"{config.condition}-s{s.seed}")


def load_or_train_control(config: ControlConfig, progress: bool = True, retrain: bool = False,
                          device=None) -> SaliencyModel:
    """The trained model of ``config`` from the cache, or trained and cached.
    ``model.from_cache``, ``model.history`` and ``model.control_config`` say how."""
    path = control_checkpoint_path(config)
    dev = torch.device(device) if device is not None else default_device()
    if path.exists() and not retrain:
        def build(meta):
            model = training.build_model(config.setup, weights="random", device="cpu")
            model.classifier = None
            if meta["n_classes"]:
                _attach_classifier(model, meta["n_classes"])
            return model

        model, meta = training.read_state(path, build, "the experiment's checkpoint")
        model.to(dev).eval()
        model.history, model.from_cache = meta["history"], True
        model.control_config = config
        return model
    if progress:
        print(f"task-vs-domain experiment, condition {config.condition!r}, seed {config.seed}; "
              f"cached as {path}", flush=True)
    model, history = train_control(config, progress=progress, device=dev)
    n_classes = 0 if model.classifier is None else int(model.classifier.out_features)
    training.write_state(path, model, {"config": config.to_dict(), "history": history,
                                       "n_classes": n_classes})
    model.from_cache = False
    model.control_config = config
    return model


# --------------------------------------------------------------------------- comparisons
def representation_change(reference: SaliencyModel, groups: Mapping[str, Sequence[SaliencyModel]],
                          images, layers: Sequence[str], size, image_ids: Sequence[str] | None = None
                          ) -> dict:
    """Linear CKA per layer on ``images`` (at ``size``, every spatial position an example):
    ``{"vs_reference": {group: [{layer: CKA} per model]}, "between_seeds": {group: [{layer:
    CKA} for model k and model k+1 (cyclically)]}}``. ``groups``: condition -> its models, one
    per seed, in seed order. One group's activations are held at a time.

    With ``image_ids`` (one name per image) the result is a measurement cached on disk
    (``<cache>/measurements/cka-<hash>.json``, written atomically), keyed by the digests of the
    reference's and every model's encoder weights, the image ids, layers, size and
    :data:`CKA_VERSION`; a corrupt file is recomputed."""
    if image_ids is None:
        return _representation_change(reference, groups, images, layers, size)
    import json

    from saliency_utils.explain.attribution import model_digest
    from saliency_utils.data import store
    from saliency_utils.fileio import atomic_write_text

    if len(image_ids) != len(images):
        raise ValueError(f"{len(images)} images but {len(image_ids)} image ids")
    key = {"reference": model_digest(reference.encoder),
           "groups": {g: [model_digest(m.encoder) for m in ms] for g, ms in groups.items()},
           "images": [str(i) for i in image_ids], "layers": list(layers), "size": list(size),
           "version": CKA_VERSION}
    path = store.cache_dir() / "measurements" / f"cka-{training.key_hash(key)}.json"
    if path.is_file():
        try:
            return json.loads(path.read_text())["result"]
        except (json.JSONDecodeError, KeyError):
            pass  # recomputed and replaced below
    out = _representation_change(reference, groups, images, layers, size)
    atomic_write_text(path, json.dumps({"key": key, "result": out}))
    return out


#: Version of :func:`representation_change`'s computation (part of its cache key).
CKA_VERSION = "1"


def _representation_change(reference, groups, images, layers, size) -> dict:
    ref = encoder_activations(reference, images, layers, size=size)
    out = {"vs_reference": {}, "between_seeds": {}}
    for name, models in groups.items():
        acts = [encoder_activations(m, images, layers, size=size) for m in models]
        out["vs_reference"][name] = [layer_cka([(ref, a)]) for a in acts]
        k = len(acts)
        out["between_seeds"][name] = ([layer_cka([(acts[i], acts[(i + 1) % k])])
                                       for i in range(k)] if k > 1 else [])
        del acts
    return out


@torch.no_grad()
def weight_change(reference: SaliencyModel, model: SaliencyModel) -> dict[str, float]:
    """``{module path: ||w - w0|| / ||w0||}`` over the encoder's parametrised layers, from the
    input up (:func:`saliency_utils.models.backbones.randomisation_order`, reversed; layers that
    fine-tuning does not train, such as the ImageNet classifier, are skipped)."""
    trained = {id(p) for p in training.encoder_parameters(model)}
    out = {}
    for path in reversed(randomisation_order(reference.backbone_name)):
        try:
            a = reference.encoder.get_submodule(path)
            b = model.encoder.get_submodule(path)
        except AttributeError:
            continue
        if not any(id(p) in trained for p in b.parameters()):
            continue  # not trained (the ImageNet classifier) or without parameters
        pa = [p.detach().float().cpu().flatten() for p in a.parameters()]
        pb = [p.detach().float().cpu().flatten() for p in b.parameters()]
        w0, w1 = torch.cat(pa), torch.cat(pb)
        out[path] = float((w1 - w0).norm() / w0.norm().clamp_min(1e-12))
    return out


@torch.no_grad()
def held_out_check(model: SaliencyModel, images, size, fixations=None,
                   per_image: bool = False, ids=None) -> dict:
    """Whether a condition learned its task, on held-out ``images`` at ``size``: the saliency
    conditions, given ``fixations`` (one :class:`~saliency_utils.data.Fixations` per image):
    NSS of the predicted density (no flip averaging, no exponent); ``flip``: accuracy over the
    image shown upright and mirrored (chance 0.5); ``distill``: agreement of the top-1 class
    with the pre-trained network's; ``scene``, given the images' OSIE ``ids``: accuracy against
    the labels CSV, and the accuracy of always answering the training images' most frequent
    class ("majority baseline", the chance level of an unbalanced task; ``{}`` without ids or
    where the CSV labels none of them). Means over the images, or with ``per_image`` one value
    per image (for an interval over images, and a paired comparison with the baseline)."""
    config = getattr(model, "control_config", None)
    if config is None:
        raise ValueError("not a model of the experiment (load it with load_or_train_control)")
    model.eval()
    if config.condition in _SALIENCY_LIKE:
        if fixations is None:
            return {}
        if len(fixations) != len(images):
            raise ValueError(f"{len(images)} images but {len(fixations)} fixation sets")
        scores = [nss(model.predict(im, size=size, flip_average=False, exponent=1.0),
                      fixation_map(f.x, f.y, np.asarray(im).shape[:2]))
                  for im, f in zip(images, fixations)]
        return _summary({"NSS": scores}, per_image)
    if config.condition == "scene":
        if ids is None:
            return {}
        if len(ids) != len(images):
            raise ValueError(f"{len(images)} images but {len(ids)} ids")
        table = read_labels_csv(config.labels_csv)
        classes = list(model.history["classes"])
        keep = [k for k, i in enumerate(ids) if str(i) in table]
        if not keep:
            return {}
        counts = model.history.get("train_label_counts")
        if not counts:
            raise ValueError("this scene model's checkpoint has no training label counts (trained "
                             "before they were recorded): delete it and train it again")
        majority = max(classes, key=lambda c: counts.get(c, 0))
        correct, base = [], []
        for k in keep:
            x = model.preprocess(images[k], size=size)
            pred = int(model.classifier(model.features(x)[-1].mean(dim=(2, 3))).argmax(1)[0])
            truth = table[str(ids[k])]
            correct.append(float(classes[pred] == truth))
            base.append(float(truth == majority))
        return _summary({"accuracy": correct, "majority baseline": base}, per_image)
    if config.condition == "flip":
        correct = []
        for im in images:
            x = model.preprocess(im, size=size)
            x = torch.cat([x, x.flip(-1)])
            pred = model.classifier(model.features(x)[-1].mean(dim=(2, 3))).argmax(1).cpu()
            correct.append((int(pred[0] == 0) + int(pred[1] == 1)) / 2)
        return _summary({"accuracy (chance 0.5)": correct}, per_image)
    s = config.setup
    teacher = load_backbone(s.backbone, weights=s.weights, device=model.device, seed=s.seed)
    agree = []
    for im in images:
        x = model.preprocess(im, size=size)
        pred = model.classifier(model.features(x)[-1].mean(dim=(2, 3))).argmax(1)
        agree.append(float(pred[0] == teacher.logits(x).argmax(1)[0]))
    return _summary({"top-1 agreement with the pre-trained network": agree}, per_image)


def _summary(values: dict, per_image: bool) -> dict:
    return {k: (np.asarray(v, float) if per_image else float(np.mean(v))) for k, v in values.items()}
