"""The trained models the chapters share, in one registry, and the step that makes them.

Chapters 3 to 6 load trained models with :func:`saliency_utils.training.saliency.load_or_train` and
:func:`saliency_utils.training.classification.load_or_train_task`; a checkpoint is trained on first use and
cached (keyed by a hash of its configuration). :data:`CHAPTER_MODELS` lists, per chapter, the
configurations its code builds from its profile settings (the parameters cell reads
``settings(chapter, profile)``; the ``preset`` entry names a :data:`training.saliency.PRESETS` entry):

* ``ch3_centre_surround``: the saliency model of the preset (paper profile: trained on the full
  SALICON when a local copy exists, as the chapter does), the rotation classifier of the
  same preset (the chapter's control fine-tuning, :class:`training.classification.TaskConfig` defaults) and
  the preset with each other loss of :data:`training.saliency.LOSS_CANDIDATES` and with each one-factor
  alternative of :data:`training.saliency.SETTING_CANDIDATES` (all compared on validation);
* ``ch4_task_vs_domain``: the same model, its fixed-encoder twin (``freeze_encoder=True``) and
  every run of the task-vs-domain experiment (:func:`training.controlled.experiment_configs`:
  each condition at each seed of the settings; a scene-label CSV from the settings or
  ``$SCENE_LABELS_CSV`` adds the scene condition, as in the chapter);
* ``ch5_loggabor_explanation`` and ``ch6_cross_paper``: the saliency model of the preset.

The preset's ``weights`` (``TrainConfig.weights``) is part of every checkpoint's key; the
``paper-smoke`` profile's preset starts from random weights, so its models (``saliency-vgg16-
random-*.pt``, ``classifier-vgg16-random-*.pt``) never collide with real ones, and the log says
"random weights".

``python -m saliency_utils models --profile offline`` (``make models``; also the first step of
``execute``) trains every missing model of the chapters to run, once each, before any chapter
starts, printing one line per model and the training epochs. The execution cache
(:mod:`saliency_utils.book.buildcache`) keys each chapter by the checkpoints listed here. A test checks
that the chapters whose code calls ``load_or_train`` are exactly those listed.
"""
from __future__ import annotations

import hashlib
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "CHAPTER_MODELS",
    "ModelSpec",
    "book_models",
    "chapter_models",
    "checkpoint_digest",
    "saliency_config",
    "train_models",
]


@dataclass(frozen=True)
class ModelSpec:
    """One trained model: ``kind`` is ``"saliency"`` (a :class:`training.saliency.TrainConfig`),
    ``"task"`` (a :class:`training.classification.TaskConfig`) or ``"control"`` (a
    :class:`training.controlled.ControlConfig`); ``label`` says what it is in the log."""

    label: str
    kind: str
    config: object

    @property
    def checkpoint(self) -> Path:
        if self.kind == "saliency":
            from saliency_utils.training.saliency import checkpoint_path

            return checkpoint_path(self.config)
        if self.kind == "control":
            from saliency_utils.training.controlled import control_checkpoint_path

            return control_checkpoint_path(self.config)
        from saliency_utils.training.classification import task_checkpoint_path

        return task_checkpoint_path(self.config)

    def load_or_train(self, progress: bool = True):
        if self.kind == "saliency":
            from saliency_utils.training.saliency import load_or_train

            return load_or_train(self.config, progress=progress)
        if self.kind == "control":
            from saliency_utils.training.controlled import load_or_train_control

            return load_or_train_control(self.config, progress=progress)
        from saliency_utils.training.classification import load_or_train_task

        return load_or_train_task(self.config, progress=progress)


def saliency_config(cfg):
    """The training configuration of a chapter's saliency model under its settings ``cfg``:
    the preset ``cfg["preset"]``, switched to the full SALICON train split when
    ``cfg["salicon_if_available"]`` (chapters 3 and 4, ``paper`` profile: the papers' training
    data) and a local copy exists (:func:`saliency_utils.data.salicon_full_ids`). The chapters
    call it too, so a chapter and the model step train the same model; a chapter's controls
    (fixed encoder, classification twin) start from it, so they see the same images."""
    from saliency_utils.training import saliency as training

    config = training.PRESETS[cfg["preset"]]
    if cfg.get("salicon_if_available"):
        from saliency_utils import data

        try:
            data.salicon_full_ids("train")
            config = config.replace(dataset="salicon")
        except data.DataNotFoundError:
            pass
    return config


def _preset_label(cfg) -> str:
    from saliency_utils.training import saliency as training

    rnd = training.PRESETS[cfg["preset"]].weights == "random"
    return f"'{cfg['preset']}' preset" + (", random weights" if rnd else "")


def _ch3(cfg):
    from saliency_utils.training import classification as task_training, saliency as training

    config = saliency_config(cfg)
    task = task_training.TaskConfig(base=config)  # the same images as the saliency model
    # the loss candidates compared on the validation images (the preset's own is the model)
    # and the one-factor alternatives of schedule, readout and resolution (compared after it),
    # both around the configuration the preset was chosen from (training.selection_base)
    base = training.selection_base(config)
    others = [ModelSpec(f"saliency model, loss {name} ({_preset_label(cfg)})", "saliency", c)
              for name, c in training.loss_candidates(base).items() if c != config]
    others += [ModelSpec(f"saliency model, {name} ({_preset_label(cfg)})", "saliency", c)
               for name, c in training.setting_candidates(base).items()
               if c != config and c not in training.loss_candidates(base).values()]
    return [ModelSpec(f"saliency model ({_preset_label(cfg)})", "saliency", config),
            ModelSpec(f"{task.task} classifier, control fine-tuning ({_preset_label(cfg)})", "task",
                      task), *others]


def scene_labels_csv(cfg, dataset: str = "osie") -> str | None:
    """The scene-label CSV of chapter 4's settings ``cfg`` for an experiment trained on
    ``dataset``: ``$SCENE_LABELS_CSV`` if set (your own labels), else the setting
    ``scene_labels_csv``, a path relative to the project root (the book's own labels of the OSIE
    images ship in the package, ``saliency_utils/data/osie_scene_labels.csv``, and are used only
    when the experiment trains on OSIE), else ``None``. Raises ``FileNotFoundError`` naming the
    file if it is missing."""
    from saliency_utils.book.pipeline import project_root

    path = os.environ.get("SCENE_LABELS_CSV")
    if not path and dataset == "osie":
        path = cfg.get("scene_labels_csv")
    if not path:
        return None
    p = Path(path) if os.path.isabs(path) else project_root() / path
    if not p.is_file():
        raise FileNotFoundError(f"scene labels CSV not found: {p} (setting scene_labels_csv or "
                                "$SCENE_LABELS_CSV); restore it from the repository or unset the "
                                "variable")
    return str(p)


def _ch4(cfg):
    from saliency_utils.training import controlled as controlled_tuning

    preset = saliency_config(cfg)
    labels = scene_labels_csv(cfg, preset.dataset)
    name = _preset_label(cfg)
    runs = [ModelSpec(f"task-vs-domain experiment: {c.condition}, seed {c.seed} ({name})",
                      "control", c)
            for group in controlled_tuning.experiment_configs(preset, cfg, labels).values()
            for c in group]
    return [ModelSpec(f"saliency model ({name})", "saliency", preset),
            ModelSpec(f"saliency model, encoder fixed ({name})", "saliency",
                      preset.replace(freeze_encoder=True)), *runs]


def _preset_only(cfg):
    from saliency_utils.training import saliency as training

    return [ModelSpec(f"saliency model ({_preset_label(cfg)})", "saliency",
                      training.PRESETS[cfg["preset"]])]


#: chapter -> function of its profile settings giving the models its code loads.
CHAPTER_MODELS: dict[str, Callable] = {
    "ch3_centre_surround": _ch3,
    "ch4_task_vs_domain": _ch4,
    "ch5_loggabor_explanation": _preset_only,
    "ch6_cross_paper": _preset_only,
    "appendix_shapes": _preset_only,
}


def chapter_models(chapter: str, profile: str) -> list[ModelSpec]:
    """The trained models chapter ``chapter`` loads under ``profile`` (empty for the others)."""
    from saliency_utils.book.profiles import settings

    make = CHAPTER_MODELS.get(chapter)
    return make(settings(chapter, profile)) if make else []


def book_models(profile: str, chapters: list[str] | None = None) -> dict[Path, tuple[ModelSpec,
                                                                                   list[str]]]:
    """``{checkpoint: (spec, [chapters that load it])}`` for ``chapters`` (default: all those of
    :data:`CHAPTER_MODELS`), each model once, in order of first use."""
    out: dict[Path, tuple[ModelSpec, list[str]]] = {}
    for ch in chapters if chapters is not None else list(CHAPTER_MODELS):
        for spec in chapter_models(ch, profile):
            out.setdefault(spec.checkpoint, (spec, []))[1].append(ch)
    return out


def train_models(profile: str, chapters: list[str] | None = None, out=None) -> dict:
    """Train (or find cached) every model the chapters share, each once, before they run;
    one line per model, training epochs in between. Returns ``{checkpoint name: {"label",
    "chapters", "trained", "seconds"}}``."""
    out = out or sys.stdout
    models = book_models(profile, chapters)
    print(f"models: {len(models)} trained model(s) for profile '{profile}'", file=out, flush=True)
    report = {}
    for i, (path, (spec, users)) in enumerate(models.items(), 1):
        cached = path.exists()
        if not cached:
            print(f"[model {i}/{len(models)}] training {spec.label} for {', '.join(users)} "
                  f"-> {path}", file=out, flush=True)
        t0 = time.perf_counter()
        if not cached:  # a cached checkpoint is read by the chapters, not here
            spec.load_or_train(progress=True)
        dt = time.perf_counter() - t0
        report[path.name] = {"label": spec.label, "chapters": users, "trained": not cached,
                             "seconds": round(dt, 2)}
        print(f"[model {i}/{len(models)}] {spec.label:<52} "
              f"{'cached' if cached else 'trained':<7} {dt:8.1f} s  {path.name}", file=out,
              flush=True)
    return report


_DIGESTS: dict[tuple, str] = {}


def checkpoint_digest(path: Path) -> str:
    """sha256 of a checkpoint file (memoised by path, size and modification time);
    ``"absent"`` when there is none."""
    path = Path(path)
    try:
        st = path.stat()
    except FileNotFoundError:
        return "absent"
    key = (str(path), st.st_size, st.st_mtime_ns)
    if key not in _DIGESTS:
        h = hashlib.sha256()
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
        _DIGESTS[key] = h.hexdigest()
    return _DIGESTS[key]
