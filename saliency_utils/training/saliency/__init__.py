"""Training, caching and evaluation of the deep saliency model (:mod:`saliency_utils.models.saliency_model`).

    from saliency_utils.training import saliency as training
    model = training.load_or_train(training.PRESETS["offline"])   # cached after the first run
    from saliency_utils.evaluate.scoring import FixationDataset, model_maps, score_maps
    scores = score_maps(model_maps(model), FixationDataset.osie("test"))  # a row per image

**Data.** OSIE (Xu et al. 2014) with the book's fixed split
(:func:`saliency_utils.data.osie_splits`, 500 training / 100 validation / 100 test images, seed
0; ``n_val`` in :class:`TrainConfig`). Targets are built at the training resolution: the
fixations are rescaled to it and blurred with the dataset's one-degree Gaussian, rescaled too
(OSIE: 24 px at 800x600, 9.6 px at 320x240). Horizontal flips (``flip=True``) flip the image and
its targets together, so fixations stay aligned. Resized images and fixation counts are cached in
``<cache>/models/data/`` (``<cache>`` = :func:`saliency_utils.data.cache_dir`, i.e.
``$SALIENCY_CACHE`` or ``<project>/data/cache``). ``dataset="salicon"`` trains on the full
SALICON train split when a local copy exists (see :mod:`saliency_utils.data.salicon_full`).

**Loss.** The KL divergence from the human density ``G`` to the model's density ``P``,
``KL(G || P) = sum G log(G / P)`` (MIT's KLD without its epsilon), minus ``loss_cc`` times the
correlation coefficient CC(P, G) and ``loss_nss`` times the NSS of ``P`` at the fixated pixels
(a combination of distribution and metric terms as in SAM, Cornia et al. 2018). The offline
preset uses the KL divergence alone: of :data:`LOSS_CANDIDATES` (KL; KL - CC - 0.5 NSS; KL - CC
- NSS) it has the best mean rank over the MIT metrics on the validation images
(:func:`compare_losses`, chapter 3). Earlier versions used KL - CC - 0.5 NSS, kept because the
NSS term raised NSS on the OSIE test images (2.72 -> 2.85): a choice made on test data. ``loss_kl``
weights the KL term (0: a metric-only loss, as the ``paper`` preset's NSS-only loss). The
metric terms are computed on the map the model outputs (:data:`models.saliency_model.OUTPUTS`): the
density ``P`` for ``output="density"``; for ``output="minmax"`` on the log-density, because NSS
and CC do not change under a positive affine map ``a x + b`` (``a > 0``), and the min-max map
``(s - min s) / (max s - min s)`` of the readout ``s``, ``s`` itself and the log-density
``s - logsumexp(s)`` (no prior) are such maps of each other: the loss, and its gradient, are
those of NSS (CC) of the min-max map, without the min and max in the graph.

**Schedule.** Two phases. (1) ``readout_epochs`` with the encoder frozen: its features are
computed once (for every image and its flip) and only the readout and the prior are trained on
them, which is cheap. (2) ``epochs`` end to end (skipped when ``freeze_encoder``): all encoder
parameters are trained with ``lr_encoder``, the readout with ``lr``; BatchNorm statistics stay
frozen (see :mod:`saliency_utils.models.saliency_model`). Adam, cosine learning-rate decay within
each phase, or,
with ``lr_decay=g``, the learning rates times ``g`` after every epoch of each phase (the CVPR
2019 authors' demo: x0.8 every 10,000 SALICON images, i.e. every epoch).

**Determinism.** Seeds for everything (``seed``), ``torch.use_deterministic_algorithms`` during
training (``warn_only`` on CUDA, where a few kernels have no deterministic version), and batches
drawn from a seeded generator: the same configuration gives the same weights on the same
machine and software (CPU results may differ across CPU types and thread counts).

**Cache.** :func:`load_or_train` keys checkpoints by a hash of the whole :class:`TrainConfig`,
:data:`models.saliency_model.MODEL_VERSION` and :data:`TRAINING_VERSION`:
``<cache>/models/saliency-<backbone>-<hash>.pt`` holds the state dict, the configuration (JSON)
and the training history, written with ``torch.save`` and read back with
``torch.load(weights_only=True)``; a ``.json`` file beside it has the same configuration and
history for reading. A GPU is used when present, never required.

**Validation.** With ``n_val > 0`` (every preset) the loss on the validation images is recorded
after every epoch, the final phase keeps the weights of its epoch of lowest validation loss
(``history["kept_epoch"]``), and :func:`choose_postprocessing` chooses the map's exponent and
mirror averaging on the validation images by :data:`POSTPROCESSING_RULE`
(``history["postprocessing"]``); the checkpoint carries the choice, and
:meth:`~saliency_utils.models.saliency_model.SaliencyModel.predict` applies it by default. The loss is
compared on validation too (:data:`LOSS_CANDIDATES`, :func:`compare_losses`), then, with the loss
fixed, one-factor alternatives of the schedule's length, the readout's depth and the resolution
(:data:`SETTING_CANDIDATES`, :func:`compare_settings`). The readout's layers, the frozen-encoder
epochs, the learning rates and the batch size were not chosen on validation (earlier versions of
the book set them looking at OSIE test scores; chapter 3 says so).

**Evaluation** is :func:`saliency_utils.evaluate.scoring.score_maps` with
:func:`saliency_utils.evaluate.scoring.model_maps` (OSIE test images, MIT1003 stimuli, FIGRIM; IG
against the centre bias of :func:`osie_centre_bias`), and
:func:`saliency_utils.evaluate.model_quality.evaluate_model` for the density scores and the anchors.

**Speed on CPU.** Phase 2 dominates: about 6-10 training images/s at 240x320 on 2 cores (about
1.5 times slower at the offline preset's 288x384).
PyTorch's OpenMP threads spin while waiting; when another process keeps the cores busy that
makes 2 threads 10-20 times slower than 1. Set ``OMP_WAIT_POLICY=PASSIVE`` in the environment
(before Python starts) or pass ``threads=1`` when the machine is shared.

Modules: :mod:`.config` (configuration and presets), :mod:`.data` (training data and targets),
:mod:`.losses`, :mod:`.loop` (:func:`train`), :mod:`.checkpoints` (the cache of trained models,
:func:`load_or_train`) and :mod:`.selection` (choices made on the validation images). Every
public name is importable from this package.
"""
from __future__ import annotations

from saliency_utils.training.saliency.config import (TRAINING_VERSION, TrainConfig, NEW_KEY_FIELDS,
    SELECTION_BASES, PRESETS, SMOKE_SIZE_FIELDS, CheckpointError)
from saliency_utils.training.saliency.data import (models_dir, train_ids, val_ids, training_data,
    training_targets)
from saliency_utils.training.saliency.losses import (kl_loss, saliency_loss)
from saliency_utils.training.saliency.loop import (seed_all, deterministic, build_model,
    encoder_parameters, lr_factor, epoch_batches, batch_targets, validation_loss, batch_images,
    prefetched, FEATURE_CACHE_BYTES, train)
from saliency_utils.training.saliency.checkpoints import (key_hash, keyed_model_path, config_hash,
    checkpoint_path, save_checkpoint, write_state, read_state, load_checkpoint, load_or_train)
from saliency_utils.training.saliency.selection import (osie_centre_bias, summarise, EXPONENT_GRID,
    POSTPROCESSING_RULE, choose_postprocessing, rank_candidates, metric_ranks, LOSS_CANDIDATES,
    LOSS_RULE, loss_candidates, compare_losses, compare_on_validation, SETTING_CANDIDATES,
    UNCHANGED, SETTINGS_RULE, setting_candidates, selection_base, compare_settings,
    apply_postprocessing)

__all__ = [
    "TRAINING_VERSION", "TrainConfig", "NEW_KEY_FIELDS", "SELECTION_BASES", "PRESETS",
    "SMOKE_SIZE_FIELDS", "CheckpointError", "models_dir", "train_ids", "val_ids", "training_data",
    "training_targets", "kl_loss", "saliency_loss", "seed_all", "deterministic", "build_model",
    "encoder_parameters", "lr_factor", "epoch_batches", "batch_targets", "validation_loss",
    "batch_images", "prefetched", "FEATURE_CACHE_BYTES", "train", "key_hash", "keyed_model_path",
    "config_hash", "checkpoint_path", "save_checkpoint", "write_state", "read_state",
    "load_checkpoint", "load_or_train", "osie_centre_bias", "summarise", "EXPONENT_GRID",
    "POSTPROCESSING_RULE", "choose_postprocessing", "rank_candidates", "metric_ranks",
    "LOSS_CANDIDATES", "LOSS_RULE", "loss_candidates", "compare_losses", "compare_on_validation",
    "SETTING_CANDIDATES", "UNCHANGED", "SETTINGS_RULE", "setting_candidates", "selection_base",
    "compare_settings", "apply_postprocessing",
]
