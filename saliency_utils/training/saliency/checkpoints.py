"""Checkpoints and the cache of trained models: keys, atomic writes,
``torch.load(weights_only=True)``, :func:`load_or_train`."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Callable

import torch

from saliency_utils.fileio import atomic_write, atomic_write_text
from saliency_utils.models.backbones import default_device
from saliency_utils.models.saliency_model import MODEL_VERSION, SaliencyModel

from saliency_utils.training.saliency.config import CheckpointError, PRESETS, TRAINING_VERSION, TrainConfig
from saliency_utils.training.saliency.data import models_dir, train_ids
from saliency_utils.training.saliency.loop import train
from saliency_utils.training.saliency.selection import apply_postprocessing

__all__ = ["key_hash", "keyed_model_path", "config_hash", "checkpoint_path", "save_checkpoint",
           "write_state", "read_state", "load_checkpoint", "load_or_train"]


def key_hash(key: dict) -> str:
    """16 hex digits of the sha256 of ``key`` as sorted JSON: the cache key of a trained model
    (its configuration and the code versions that shape its weights)."""
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]


def keyed_model_path(kind: str, backbone: str, weights: str, key: dict, detail: str = "",
                     folder: str | Path | None = None) -> Path:
    """The one naming scheme of cached trained models:
    ``<folder>/<kind>-<backbone>[-random][-<detail>]-<key_hash(key)>.pt`` (``-random`` for an
    encoder that started from random weights; default folder :func:`models_dir`)."""
    folder = Path(folder) if folder is not None else models_dir()
    tag = "-random" if weights == "random" else ""
    detail = f"-{detail}" if detail else ""
    return folder / f"{kind}-{backbone}{tag}{detail}-{key_hash(key)}.pt"


def config_hash(config: TrainConfig) -> str:
    """16 hex digits of the sha256 of the configuration and the code versions."""
    return key_hash({"config": config.key_dict(), "model_version": MODEL_VERSION,
                     "training_version": TRAINING_VERSION})


def checkpoint_path(config: TrainConfig, cache_dir: str | Path | None = None) -> Path:
    """Where :func:`load_or_train` keeps the model of ``config`` (``saliency-<backbone>-<hash>
    .pt``; ``saliency-<backbone>-random-<hash>.pt`` for a random-weight encoder)."""
    return keyed_model_path("saliency", config.backbone, config.weights,
                            {"config": config.key_dict(), "model_version": MODEL_VERSION,
                             "training_version": TRAINING_VERSION}, folder=cache_dir)


def save_checkpoint(model: SaliencyModel, config: TrainConfig, path: str | Path,
                    history: dict | None = None) -> Path:
    """Write ``model``'s state dict with its configuration (atomically: a partial file never
    takes the final name) and a readable ``.json`` beside it."""
    history = history if history is not None else getattr(model, "history", {})
    meta = {"config": config.to_dict(), "model": model.kwargs, "model_version": MODEL_VERSION,
            "training_version": TRAINING_VERSION, "history": history}
    return write_state(path, model, meta)


def write_state(path: str | Path, model: torch.nn.Module, meta: dict) -> Path:
    """The one checkpoint format of the book's trained models: ``{"state_dict" (on the CPU),
    "meta" (JSON text)}`` written atomically (a partial file never takes the final name), and
    ``meta`` as a readable ``.json`` beside it. Read it back with :func:`read_state` (or
    :func:`load_checkpoint` for a saliency model)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    blob = {"state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
            "meta": json.dumps(meta)}
    atomic_write(path, lambda f: torch.save(blob, f))
    atomic_write_text(path.with_suffix(".json"), json.dumps(meta, indent=1))
    return path


def read_state(path: str | Path, build: Callable[[dict], torch.nn.Module], what: str):
    """``(model, meta)`` from a file of :func:`write_state`: ``build(meta)`` makes the
    untrained model (on the CPU), whose state is then loaded strictly, with
    ``torch.load(weights_only=True)``. Anything wrong (damaged file, missing entries, a state
    that does not fit) raises :class:`CheckpointError` naming ``what`` and the fix."""
    path = Path(path)
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
        meta = json.loads(blob["meta"])
        model = build(meta)
        model.load_state_dict(blob["state_dict"], strict=True)
    except Exception as e:
        raise CheckpointError(f"cannot read {what} {path} ({type(e).__name__}: {str(e)[:300]}); "
                              "delete it to retrain") from e
    return model, meta


def load_checkpoint(path: str | Path, device=None) -> SaliencyModel:
    """Model saved by :func:`save_checkpoint` (``torch.load(weights_only=True)``); its
    configuration and history are in ``model.train_config`` and ``model.history``. A missing,
    truncated or foreign file raises :class:`CheckpointError` saying what to do."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    advice = (f"delete {path} (and its .json) to retrain it, or pass a checkpoint written by "
              "saliency_utils.training.saliency")
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise CheckpointError(f"cannot read checkpoint {path} ({type(e).__name__}: "
                              f"{str(e)[:200]}); the file is damaged or not a checkpoint: "
                              f"{advice}") from e
    try:
        meta = json.loads(blob["meta"])
        config = TrainConfig.from_dict(meta["config"])
        state = blob["state_dict"]
        kw = dict(meta["model"])
    except Exception as e:
        raise CheckpointError(f"checkpoint {path} lacks its configuration ({type(e).__name__}: "
                              f"{e}): {advice}") from e
    if meta.get("model_version") != MODEL_VERSION:
        raise CheckpointError(f"checkpoint {path} was written for model version "
                              f"{meta.get('model_version')!r}, this code is {MODEL_VERSION!r}: "
                              f"{advice}")
    model = SaliencyModel(kw.pop("backbone"), weights="random", device="cpu", **kw)
    try:
        model.load_state_dict(state, strict=True)
    except Exception as e:
        raise CheckpointError(f"checkpoint {path} does not fit its model ({str(e)[:300]}): "
                              f"{advice}") from e
    model.to(torch.device(device) if device is not None else default_device()).eval()
    model.history = meta.get("history", {})
    model.train_config = config
    apply_postprocessing(model, model.history.get("postprocessing"))
    return model


def load_or_train(config: TrainConfig | str = "offline", cache_dir: str | Path | None = None,
                  progress: bool = True, retrain: bool = False, device=None,
                  threads: int | None = None) -> SaliencyModel:
    """The model of ``config`` (a :class:`TrainConfig` or a :data:`PRESETS` name) from the
    checkpoint cache, or trained (and cached) if absent or ``retrain``; ``device`` and
    ``threads`` as in :func:`train`. ``model.from_cache`` says which. A damaged checkpoint
    raises :class:`CheckpointError` (it is not overwritten silently; ``retrain=True``
    replaces it)."""
    if isinstance(config, str):
        if config not in PRESETS:
            raise ValueError(f"unknown preset {config!r}; choose one of {', '.join(PRESETS)}")
        config = PRESETS[config]
    path = checkpoint_path(config, cache_dir)
    if path.exists() and not retrain:
        model = load_checkpoint(path, device=device)
        model.from_cache = True
        return model
    if progress:
        print(f"training the saliency model ({config.backbone}"
              f"{', random weights' if config.weights == 'random' else ''}, {len(train_ids(config))} "
              f"images); it will be cached as {path}", flush=True)
    model, history = train(config, progress=progress, device=device, threads=threads)
    save_checkpoint(model, config, path, history)
    model.from_cache = False
    return model
