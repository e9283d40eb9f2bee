"""Head and text regions of any image, from detectors whose weights ship inside their wheels.

Chapter 4 needs category masks on images that no model was trained on, and the bundle's human
annotations (FIGRIM's LabelMe polygons on 30 images, one OSIE-SR image) are too few. Two
maintained detectors, run offline:

* **heads**: the MTCNN face detector of ``facenet-pytorch`` (Zhang et al. 2016; P-, R- and
  O-Net weights in the wheel, default cascade thresholds and minimum face size of 20 px). A
  face is kept when its probability is at least :data:`HEAD["min_prob"]`; its box is widened to
  the head (:data:`HEAD`: hair above, ears at the sides, chin below), because the paper's
  category is the person's head, not the face. Faces seen from behind or too small are missed:
  the validation in the chapter measures how often.
* **text**: the PP-OCRv4 text detector (DB, Liao et al. 2020) of ``rapidocr-onnxruntime``,
  with that package's own pre- and post-processing and its default settings (threshold 0.3,
  box score 0.5, unclip ratio 1.6), followed by the package's recogniser: as in its default
  pipeline, a region is kept only when the recognised string's confidence is at least 0.5
  (``text_score``), which removes most detections on textures (validated in the chapter).
  Symbols without letters (arrows,
  pictograms, most logos) are not text to it, so its masks are the paper's "text", not "symbol".

Both wheels pin old versions of torch, numpy and OpenCV that the book does not use, and are
installed without their dependencies (``requirements-nodeps.txt``); the dependencies the code
actually needs are in the lock. Every setting is fixed here, before any result was seen, and is
part of the cache key.

Detections (boxes and scores, not masks) are cached per data set and settings under
``<cache>/regions`` (:func:`detect`); :func:`masks` turns them into boolean masks on any grid.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Callable, Mapping, Sequence

import numpy as np

__all__ = ["NO_DEPS_WHEELS", "HEAD", "TEXT", "CATEGORIES", "Detections", "detect_image", "detect", "masks",
           "mask_from_detections", "validate", "head_agreement", "ratio_ci", "detector_versions",
           "settings_key"]

#: The two wheels with the detector weights, installed without their dependencies (they pin old
#: torch / numpy / opencv-python versions); ``requirements-nodeps.txt`` lists the same pins.
NO_DEPS_WHEELS = ("facenet-pytorch==2.6.0", "rapidocr-onnxruntime==1.4.4")

#: Settings of the head masks: MTCNN faces with probability >= ``min_prob``; the head box is the
#: face box widened by ``widen`` of its width on each side, raised by ``up`` of its height above
#: and ``down`` below (a face box spans brows to chin; a head adds hair, ears and some chin).
#: Conventions fixed before the first run, not tuned.
HEAD = {"min_prob": 0.9, "min_face_px": 20, "widen": 0.15, "up": 0.35, "down": 0.05}
#: Settings of the text masks: rapidocr's defaults for PP-OCRv4 detection.
TEXT = {"thresh": 0.3, "box_thresh": 0.5, "unclip_ratio": 1.6, "limit_side_len": 736,
        "text_score": 0.5}
#: The categories these detectors give, named as in :data:`saliency_utils.analysis.dissection.CATEGORIES`
#: (the text detector finds text, the "text" half of the chapter's text/sign category).
CATEGORIES = ("head", "text/sign")


def detector_versions() -> dict:
    """The installed versions of the two detector wheels (part of the cache key). Raises
    ``ImportError`` with the install command if one is missing."""
    out = {}
    for dist in ("facenet-pytorch", "rapidocr-onnxruntime", "onnxruntime"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            raise ImportError(
                f"{dist} is not installed: the head and text detectors need it. Install the "
                "book's environment (make setup), or: pip install onnxruntime pyclipper shapely "
                f"six && pip install --no-deps {' '.join(NO_DEPS_WHEELS)}") from None
    return out


@dataclass
class Detections:
    """One image's detections: ``heads`` N x 5 (x0, y0, x1, y1, probability of the *face*
    box, in image pixels), ``text`` a list of 4 x 2 quadrilaterals (x, y), ``shape`` (h, w)."""
    shape: tuple
    heads: np.ndarray
    text: list

    def to_json(self) -> dict:
        return {"shape": list(self.shape), "heads": np.asarray(self.heads, float).tolist(),
                "text": [np.asarray(q, float).tolist() for q in self.text]}

    @classmethod
    def from_json(cls, d: dict) -> "Detections":
        return cls(tuple(d["shape"]), np.asarray(d["heads"], float).reshape(-1, 5),
                   [np.asarray(q, float).reshape(-1, 2) for q in d["text"]])


class _Detectors:
    """The two detectors, loaded once per process."""
    _faces = None
    _text = None

    @classmethod
    def faces(cls):
        if cls._faces is None:
            detector_versions()
            from facenet_pytorch import MTCNN

            cls._faces = MTCNN(keep_all=True, device="cpu", min_face_size=HEAD["min_face_px"])
        return cls._faces

    @classmethod
    def text(cls):
        if cls._text is None:
            detector_versions()
            from rapidocr_onnxruntime import RapidOCR

            cls._text = RapidOCR(det_thresh=TEXT["thresh"], det_box_thresh=TEXT["box_thresh"],
                                 det_unclip_ratio=TEXT["unclip_ratio"],
                                 det_limit_side_len=TEXT["limit_side_len"],
                                 text_score=TEXT["text_score"],
                                 intra_op_num_threads=2, inter_op_num_threads=1)
        return cls._text


def _head_boxes(faces, probs, shape) -> np.ndarray:
    if faces is None:
        return np.zeros((0, 5))
    h, w = shape
    out = []
    for (x0, y0, x1, y1), p in zip(np.asarray(faces, float), np.asarray(probs, float)):
        if p < HEAD["min_prob"]:
            continue
        bw, bh = x1 - x0, y1 - y0
        out.append([max(0.0, x0 - HEAD["widen"] * bw), max(0.0, y0 - HEAD["up"] * bh),
                    min(float(w), x1 + HEAD["widen"] * bw), min(float(h), y1 + HEAD["down"] * bh), p])
    return np.asarray(out, float).reshape(-1, 5)


def detect_image(image: np.ndarray) -> Detections:
    """Heads and text of one RGB ``uint8`` image (H x W x 3)."""
    import torch

    im = np.asarray(image)
    if im.ndim != 3 or im.shape[2] != 3 or im.dtype != np.uint8:
        raise ValueError(f"detect_image needs an H x W x 3 uint8 RGB image, got {im.shape} {im.dtype}")
    with torch.no_grad():
        faces, probs = _Detectors.faces().detect(im)
    heads = _head_boxes(faces, probs, im.shape[:2])
    # rapidocr reads arrays as OpenCV images (BGR)
    res, _ = _Detectors.text()(np.ascontiguousarray(im[..., ::-1]), use_det=True, use_cls=False,
                               use_rec=True)
    text = [np.asarray(r[0], float).reshape(4, 2) for r in (res or [])]
    return Detections(tuple(im.shape[:2]), heads, text)


def settings_key() -> dict:
    """Every setting and version that shapes the detections (part of every cache key that
    depends on them)."""
    return {"head": HEAD, "text": TEXT, "versions": detector_versions(), "format": 1}


def _cache_path(dataset: str) -> Path:
    from saliency_utils.data import store
    from saliency_utils.training.saliency import key_hash

    return store.cache_dir() / "regions" / f"{dataset}-{key_hash(settings_key())}.json"


def detect(dataset: str, ids: Sequence[str], load_image: Callable[[str], np.ndarray],
           progress: Callable[[int, int], None] | None = None) -> dict[str, Detections]:
    """:func:`detect_image` of every image ``ids`` of ``dataset``, cached on disk (one JSON file
    per data set and settings; images already there are not run again; written atomically)."""
    from saliency_utils.fileio import atomic_write_text

    path = _cache_path(dataset)
    cached = {}
    if path.exists():
        try:
            cached = json.loads(path.read_text())
        except json.JSONDecodeError as e:
            raise ValueError(f"the region cache {path} is corrupt ({e}); delete it and rerun") from None
    todo = [i for i in ids if str(i) not in cached]
    for k, i in enumerate(todo):
        cached[str(i)] = detect_image(load_image(i)).to_json()
        if progress:
            progress(k + 1, len(todo))
    if todo:
        atomic_write_text(path, json.dumps(cached))
    return {str(i): Detections.from_json(cached[str(i)]) for i in ids}


def mask_from_detections(det: Detections, category: str, grid=None) -> np.ndarray:
    """Boolean mask of ``category`` (``"head"`` or ``"text/sign"``) at the image's resolution,
    or on ``grid`` (h, w): the same boxes scaled to that grid."""
    import cv2

    h, w = det.shape
    gh, gw = grid or (h, w)
    sy, sx = gh / h, gw / w
    out = np.zeros((gh, gw), np.uint8)
    if category == "head":
        for x0, y0, x1, y1, _ in det.heads:
            r0, r1 = int(np.floor(y0 * sy)), int(np.ceil(y1 * sy))
            c0, c1 = int(np.floor(x0 * sx)), int(np.ceil(x1 * sx))
            out[max(r0, 0):max(r1, r0 + 1), max(c0, 0):max(c1, c0 + 1)] = 1
    elif category == "text/sign":
        for q in det.text:
            pts = np.round(np.asarray(q) * [sx, sy]).astype(np.int32)
            cv2.fillPoly(out, [pts], 1)
    else:
        raise ValueError(f"the detectors give {CATEGORIES}, not {category!r}")
    return out.astype(bool)


def masks(detections: Mapping[str, Detections], grid=None) -> dict[str, dict[str, np.ndarray]]:
    """``{image id: {category: mask}}`` for every image (:func:`mask_from_detections`)."""
    return {i: {c: mask_from_detections(d, c, grid) for c in CATEGORIES}
            for i, d in detections.items()}


def validate(detections: Sequence[Detections], human: Sequence[Mapping[str, np.ndarray | None]],
             category: str, human_category: str | None = None) -> dict:
    """Pixel agreement of detector masks with human masks of ``human_category`` (default: the
    same name) on the images where the human annotation exists: precision (share of detected
    pixels inside the human region), recall (share of human-region pixels detected), pooled over
    images, and per image the counts needed for a bootstrap. Human masks may have any
    resolution; detections are drawn on it."""
    hc = human_category or category
    rows = []
    for det, hm in zip(detections, human):
        m = hm.get(hc)
        if m is None:
            continue
        m = np.asarray(m, bool)
        d = mask_from_detections(det, category, m.shape)
        rows.append((int((d & m).sum()), int(d.sum()), int(m.sum())))
    r = np.asarray(rows, float).reshape(-1, 3)
    with np.errstate(invalid="ignore", divide="ignore"):
        return {"images": len(r), "precision": r[:, 0].sum() / r[:, 1].sum() if r[:, 1].sum() else np.nan,
                "recall": r[:, 0].sum() / r[:, 2].sum() if r[:, 2].sum() else np.nan,
                "per_image": r}


def head_agreement(det: Detections, persons: Sequence[np.ndarray], min_height: int = 60) -> tuple:
    """Object-level agreement of detected heads with human-drawn person regions (FIGRIM has
    people, not heads): ``(heads, heads inside a person, persons, persons with a head)``. A
    head is inside a person when its box centre lies in one of the ``persons`` masks (at the
    image's resolution); only persons at least ``min_height`` pixels tall count for the second
    pair (a smaller person's face is below the detector's 20-pixel minimum)."""
    union = np.zeros(det.shape, bool)
    for m in persons:
        union |= np.asarray(m, bool)
    centres = [(int(min(max((y0 + y1) / 2, 0), det.shape[0] - 1)),
                int(min(max((x0 + x1) / 2, 0), det.shape[1] - 1))) for x0, y0, x1, y1, _ in det.heads]
    inside = sum(bool(union[r, c]) for r, c in centres)
    tall = [np.asarray(m, bool) for m in persons
            if np.asarray(m, bool).any() and np.ptp(np.nonzero(np.asarray(m, bool))[0]) + 1 >= min_height]
    found = sum(any(m[r, c] for r, c in centres) for m in tall)
    return len(centres), inside, len(tall), found


def ratio_ci(rows, num: int, den: int, seed: int = 0):
    """Pooled ratio ``sum(rows[:, num]) / sum(rows[:, den])`` with a bootstrap CI over the rows
    (images): :func:`saliency_utils.evaluate.stats.bootstrap_ci`."""
    from saliency_utils.evaluate.stats import bootstrap_ci

    r = np.asarray(rows, float)
    if r.ndim != 2 or not len(r) or r[:, den].sum() <= 0:
        raise ValueError("need at least one image with a non-zero denominator")
    return bootstrap_ci(r, lambda v: v[:, num].sum() / max(v[:, den].sum(), 1e-12), seed=seed,
                        method="percentile")
