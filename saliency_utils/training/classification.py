"""Fine-tune the saliency model's encoder for a *classification* task on the same images.

He et al. (CVPR 2019) separate the effect of the task from that of the image domain by tuning
the same network on the same images once for saliency and once for scene classification. The
fixation datasets of the offline bundle carry no scene labels, so the offline control task here
is **rotation prediction** (Gidaris, Singh & Komodakis, ICLR 2018): each training image is
shown rotated by 0°, 90°, 180° or 270° and the network classifies the rotation. Its labels exist
for any image, it is a genuine recognition task (it needs the network to recognise objects and
their canonical orientation) and it is not the ImageNet task the encoder was trained for
(ImageNet pseudo-labels from the pre-trained classifier would only re-teach that task). A user
with scene labels for the OSIE images passes them as a CSV (``labels_csv``: columns ``image``
(OSIE id) and ``label``), which makes the control the paper's scene classification.

Everything else matches the saliency fine-tuning of :mod:`saliency_utils.training.saliency` (imported,
not copied): the same OSIE training images at the same resolution (``training.saliency.training_data``),
the same encoder (:class:`saliency_utils.models.saliency_model.SaliencyModel`, BatchNorm statistics
frozen), Adam with the same encoder learning rate and schedule (cosine decay, or the base's
``lr_decay`` per epoch), the same number of end-to-end epochs, horizontal flips (if the base
flips), seeds and deterministic algorithms. Rotated images are square centre
crops (``H x H``) with a random horizontal offset so that every rotation has the same shape. The
classifier is global average pooling of the encoder's last readout layer and a linear layer.

Checkpoints are cached like the saliency models: ``<cache>/models/classifier-<backbone>-<hash>
.pt`` (state dict + configuration JSON), read with ``torch.load(weights_only=True)``.
"""
from __future__ import annotations

import hashlib
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from saliency_utils.training import saliency as training
from saliency_utils.models.backbones import default_device
from saliency_utils.models.saliency_model import MODEL_VERSION, SaliencyModel

__all__ = ["TaskConfig", "TASK_PRESETS", "TaskModel", "train_task", "load_or_train_task",
           "task_checkpoint_path", "read_labels_csv", "csv_labels", "rotation_batch", "task_accuracy"]

TASK_VERSION = "1"


@dataclass(frozen=True)
class TaskConfig:
    """A classification fine-tune. ``base``: the saliency :class:`training.saliency.TrainConfig` whose
    images, resolution, backbone, readout layers, epochs, encoder learning rate, batch size,
    seed and split it copies; ``task``: ``"rotation"`` or ``"csv"`` (``labels_csv`` needed)."""

    base: training.TrainConfig = training.PRESETS["offline"]
    task: str = "rotation"
    labels_csv: str | None = None
    lr_head: float = 1e-3
    epochs: int | None = None  # default: base.epochs

    def __post_init__(self):
        if self.task not in ("rotation", "csv"):
            raise ValueError(f"task must be 'rotation' or 'csv', got {self.task!r}")
        if self.task == "csv" and not self.labels_csv:
            raise ValueError("task='csv' needs labels_csv (a CSV with columns image,label)")

    @property
    def n_epochs(self) -> int:
        return self.base.epochs if self.epochs is None else int(self.epochs)

    def to_dict(self) -> dict:
        d = {"base": self.base.to_dict(), "task": self.task, "lr_head": self.lr_head,
             "epochs": self.n_epochs, "labels_csv": self.labels_csv}
        if self.labels_csv:
            d["labels_sha256"] = hashlib.sha256(Path(self.labels_csv).read_bytes()).hexdigest()
        return d


TASK_PRESETS = {name: TaskConfig(base=cfg) for name, cfg in training.PRESETS.items()}


def read_labels_csv(path) -> dict[str, str]:
    """``{image id: label}`` from a CSV with a header ``image,label`` (other columns ignored).
    Raises ``ValueError`` for a missing column, an empty file or fewer than two classes."""
    import csv

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"labels CSV not found: {path}")
    with path.open(newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows or not {"image", "label"} <= set(rows[0]):
        raise ValueError(f"{path} needs a header with columns 'image' and 'label'")
    out = {str(r["image"]).strip().removesuffix(".jpg"): str(r["label"]).strip() for r in rows}
    if len(set(out.values())) < 2:
        raise ValueError(f"{path} has fewer than two classes")
    return out


class TaskModel(nn.Module):
    """The saliency model's encoder (``net``, a :class:`SaliencyModel` whose readout is not
    used) with a global-average-pool + linear classifier on its readout layers' features."""

    def __init__(self, base: training.TrainConfig, n_classes: int, weights=None,
                 device=None):
        super().__init__()
        weights = base.weights if weights is None else weights  # default: the base's choice
        self.net = SaliencyModel(base.backbone, weights=weights, seed=base.seed,
                                 readout_layers=base.readout_layers[-1:], readout_hidden=0,
                                 centre_bias="none", input_size=base.image_size, device="cpu")
        with torch.no_grad():
            c = self.net.features(torch.zeros(1, 3, 64, 64))[0].shape[1]
        self.classifier = nn.Linear(c, int(n_classes))
        self.n_classes = int(n_classes)
        self.to(torch.device(device) if device is not None else default_device())
        self.eval()

    @property
    def device(self):
        return self.classifier.weight.device

    def train(self, mode: bool = True):
        super().train(mode)
        self.net.train(mode)  # keeps BatchNorm statistics frozen
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f = self.net.features(x)[0]
        return self.classifier(f.mean(dim=(2, 3)))

    def activations(self, x, names):
        return self.net.activations(x, names)


def rotation_batch(x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Rotate each square image of ``x`` (N x 3 x H x H) counter-clockwise by ``label * 90``°."""
    if x.shape[-1] != x.shape[-2]:
        raise ValueError(f"rotation needs square images, got {tuple(x.shape[-2:])}")
    return torch.stack([torch.rot90(xi, int(k), dims=(-2, -1)) for xi, k in zip(x, labels)])


def _square(x: torch.Tensor, offsets: torch.Tensor) -> torch.Tensor:
    h, w = x.shape[-2:]
    side = min(h, w)
    out = []
    for xi, o in zip(x, offsets):
        if w >= h:
            s = int(round(float(o) * (w - side)))
            out.append(xi[..., :, s:s + side])
        else:
            s = int(round(float(o) * (h - side)))
            out.append(xi[..., s:s + side, :])
    return torch.stack(out)


def csv_labels(path, ids: list[str]) -> tuple[np.ndarray, list[str]]:
    """``(label index per image of ids, sorted class names)`` from the labels CSV ``path``
    (:func:`read_labels_csv`); ``ValueError`` naming the file if an image has no label."""
    table = read_labels_csv(path)
    missing = [i for i in ids if i not in table]
    if missing:
        raise ValueError(f"{len(missing)} training images have no label in {path} "
                         f"(e.g. {missing[:3]})")
    classes = sorted(set(table[i] for i in ids))
    return np.array([classes.index(table[i]) for i in ids]), classes


def _labels(config: TaskConfig, ids: list[str]):
    if config.task == "rotation":
        return None, ["0", "90", "180", "270"]
    return csv_labels(config.labels_csv, ids)


def train_task(config: TaskConfig, progress: bool = True, device=None):
    """Fine-tune; returns ``(model, history)`` (history: per-epoch loss/accuracy, classes)."""
    dev = torch.device(device) if device is not None else default_device()
    base = config.base
    d = training.training_data(base, progress=progress)
    n = len(d["ids"])
    fixed_labels, classes = _labels(config, list(d["ids"]))
    history = {"config": config.to_dict(), "classes": classes, "epochs": [], "n_images": n,
               "device": str(dev), "task_version": TASK_VERSION}
    t0 = time.perf_counter()
    with training.deterministic(dev):
        training.seed_all(base.seed)
        model = TaskModel(base, len(classes), device=dev)
        gen = torch.Generator().manual_seed(base.seed)
        enc = training.encoder_parameters(model.net)
        for p in enc:
            p.requires_grad_(True)
        opt = torch.optim.Adam([{"params": enc, "lr": base.lr_encoder},
                                {"params": model.classifier.parameters(), "lr": config.lr_head}],
                               weight_decay=base.weight_decay)
        base_lrs = [base.lr_encoder, config.lr_head]
        per_epoch = math.ceil(n / base.batch_size)
        total = config.n_epochs * per_epoch
        step = 0
        for ep in range(config.n_epochs):
            te = time.perf_counter()
            loss_sum, correct, count = 0.0, 0, 0
            for idx, flips in training.epoch_batches(n, base.batch_size, base.flip, gen):
                for g, lr in zip(opt.param_groups, base_lrs):
                    g["lr"] = lr * training.lr_factor(base, step, per_epoch, total)
                x = training.batch_images(model.net, d, idx, flips)
                if config.task == "rotation":
                    x = _square(x, torch.rand(len(idx), generator=gen))
                    y = torch.randint(0, 4, (len(idx),), generator=gen)
                    x = rotation_batch(x, y)
                else:
                    y = torch.from_numpy(fixed_labels[idx.numpy()])
                y = y.to(dev)
                model.train()
                logits = model(x)
                loss = nn.functional.cross_entropy(logits, y)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                step += 1
                loss_sum += loss.item() * len(idx)
                correct += int((logits.argmax(1) == y).sum())
                count += len(idx)
            row = {"epoch": ep + 1, "loss": loss_sum / count, "accuracy": correct / count,
                   "seconds": round(time.perf_counter() - te, 2)}
            history["epochs"].append(row)
            if progress:
                print(f"{config.task} epoch {ep + 1}/{config.n_epochs}: loss {row['loss']:.3f}, "
                      f"train accuracy {row['accuracy']:.3f}, {row['seconds']:.0f} s", flush=True)
    model.eval()
    history["seconds"] = round(time.perf_counter() - t0, 2)
    model.history = history
    return model, history


def task_checkpoint_path(config: TaskConfig) -> Path:
    """``<cache>/models/classifier-<backbone>[-random]-<task>-<hash>.pt``; the base enters the
    key as :meth:`training.saliency.TrainConfig.key_dict` (weights included)."""
    key = {**config.to_dict(), "base": config.base.key_dict()}
    return training.keyed_model_path(
        "classifier", config.base.backbone, config.base.weights,
        {"config": key, "model_version": MODEL_VERSION, "task_version": TASK_VERSION},
        detail=config.task)


def load_or_train_task(config: TaskConfig | str = "offline", progress: bool = True,
                       retrain: bool = False, device=None) -> TaskModel:
    """The fine-tuned classifier of ``config`` (or a :data:`TASK_PRESETS` name) from the
    cache, or trained and cached. ``model.from_cache`` and ``model.history`` say how."""
    if isinstance(config, str):
        if config not in TASK_PRESETS:
            raise ValueError(f"unknown preset {config!r}; choose one of {', '.join(TASK_PRESETS)}")
        config = TASK_PRESETS[config]
    path = task_checkpoint_path(config)
    dev = torch.device(device) if device is not None else default_device()
    if path.exists() and not retrain:
        model, meta = training.read_state(
            path, lambda m: TaskModel(config.base, len(m["history"]["classes"]), weights="random",
                                      device="cpu"), "classifier checkpoint")
        model.to(dev).eval()
        model.history, model.from_cache = meta["history"], True
        return model
    if progress:
        print(f"fine-tuning for {config.task} classification; cached as {path}", flush=True)
    model, history = train_task(config, progress=progress, device=dev)
    training.write_state(path, model, {"config": config.to_dict(), "history": history})
    model.from_cache = False
    return model


@torch.no_grad()
def task_accuracy(model: TaskModel, images, seed: int = 0) -> float:
    """Rotation-prediction accuracy on ``images`` (uint8 arrays), each shown at one random
    rotation (seeded), square centre crops at the model's input height."""
    if model.n_classes != 4:
        raise ValueError("task_accuracy scores the rotation task only")
    gen = torch.Generator().manual_seed(seed)
    correct = 0
    model.eval()
    for im in images:
        x = model.net.preprocess(im)
        x = _square(x, torch.full((1,), 0.5))
        y = torch.randint(0, 4, (1,), generator=gen)
        pred = model(rotation_batch(x, y)).argmax(1).cpu()
        correct += int(pred[0] == y[0])
    return correct / max(1, len(images))
