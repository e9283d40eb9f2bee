"""Claims of He, Tavakoli, Borji, Mi & Pugeault, CVPR 2019 (arXiv 1903.02501):
categories, pop-out, task vs domain (chapter 4).

The chapter computes per-unit values with the helpers below (pure functions of its tables, so
that the wiring is unit-tested) and calls ``claims.get(id).decide(values)``:

* categories (heads and text on held-out images with detector masks, :mod:`saliency_utils.
  region_detectors`; vehicles on FIGRIM's human polygons): per **image** that contains the
  category, the cross-fitted excess IoU (:class:`saliency_utils.analysis.dissection.ImageExcess`: in each
  layer, the unit chosen on the other half of the images, its IoU with the image's own mask
  minus its mean IoU with the other images' masks of the category), averaged over the dissected
  layers: :func:`image_values`; heads over text: per image, that value of the saliency-fine-tuned
  encoder minus that of the pre-trained one (each with its own unit choice):
  :func:`image_change`. A part is measured only where at least :data:`MIN_HELDOUT` images
  contain its category (:func:`too_few_heldout`), otherwise it is inconclusive with the n it
  lacks. The rule's behaviour on the real data without an effect is checked by re-pairing the
  masks with the images at random and running the same procedure
  (:func:`saliency_utils.claims.core.null_pass_rate`);
* pop-out: per **image** or **array**, the mean score of the deep saliency models minus the mean
  score of the classical models on the same image or array (families fixed in advance, no
  model chosen on the data): :func:`family_difference`;
* task vs domain (:mod:`saliency_utils.training.controlled`): per **seed**, the change of the deep
  layers (:func:`deep_layers`, :func:`deep_change`: 1 - linear CKA with the pre-trained
  encoder) of the saliency model minus the seed-to-seed floor, minus the domain-only control's
  and minus the other task's: :func:`task_domain_values`.
"""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

from .core import Claim, Rule, RuleChange, Test, simulate_normal

__all__ = ["CLAIMS", "MIN_HELDOUT", "too_few_heldout", "image_values",
           "image_change", "null_samples", "ALPHA", "DEEP_MODELS", "family_difference",
           "unit_table", "deep_layers", "deep_change", "task_domain_values", "OTHER_NOT_LEARNED",
           "IMAGE_MARGIN", "IMAGE_SD"]

#: The deep saliency models of the pop-out claim (the paper's two variants); the map with the
#: learned prior divided out is a diagnostic, not a model, and is not part of the family.
DEEP_MODELS = ("fine-tuned encoder", "fixed encoder")

#: A category part is measured only where at least this many images that no model was trained on
#: contain the category (heads, text: detector masks on the held-out images; vehicles: FIGRIM's
#: human polygons): the number issue 17 set before the run, so that a verdict rests on the
#: category's typical appearance rather than a few images.
MIN_HELDOUT = 100

#: The smallest per-image excess IoU that matters (the category parts' margin): half of Bau et
#: al.'s detector cut-off (IoU 0.04). A unit whose IoU with an image's own category mask beats
#: its IoU with other images' masks of the category by less than half of what makes a detector
#: cannot count as encoding the category (a convention, set before the per-image run).
IMAGE_MARGIN = 0.02
#: Planning SD of one image's value (the mean over layers of the cross-fitted excess IoU): a
#: guess, not taken from our runs (the observed SD replaces it for power and sample size).
IMAGE_SD = 0.05
#: Family-wise level of the permutation test of a unit (max-T over the layer's units).
ALPHA = 0.05

_DATE = "2026-12-03"
_DATE_HO = "2026-12-04"
#: The paper's section numbers are not checked in the PDF (papers.md §8): claims cite the abstract.
_SECTION = "abstract, finding {}"
#: Offline images containing each category (detector masks on the 300 held-out images; FIGRIM's
#: 30 annotated images for vehicles), counted before the per-image rule was written
_N_HELD = {"head": 111, "text": 122, "vehicle": 6}
_N_NATURAL, _N_ARRAYS = 100, 100  # offline: n_osie + n_mit images, 25 arrays x 4 features
_N_SEEDS = 3  # offline: seeds per condition of the task-vs-domain experiment


# --------------------------------------------------------------------------- per-unit values
def too_few_heldout(images_containing: Mapping[str, int], category: str,
                    more: str = "more held-out images (e.g. the full MIT1003 set, MIT1003_DIR)"
                    ) -> str:
    """Why a category part is not measured (``""`` if it is): fewer than :data:`MIN_HELDOUT`
    images contain ``category``; ``more``: what would give enough."""
    n = int(images_containing[category])
    if n >= MIN_HELDOUT:
        return ""
    return (f"only {n} images no model was trained on contain {category}; {MIN_HELDOUT} are "
            f"needed, so this part is inconclusive: {more} would decide it")


def _check_layers(excess: Mapping[str, object]) -> list:
    ex = list(excess.values())
    if not ex:
        raise ValueError("no layers")
    return ex


def image_values(excess: Mapping[str, object], category: str, pairing: int = 0) -> np.ndarray:
    """Per image that contains ``category`` (in ``pairing``: 0 is the real one, higher numbers
    the random re-pairings of masks and images): the cross-fitted excess IoU of
    :class:`saliency_utils.analysis.dissection.ImageExcess`, averaged over the layers of ``excess``
    (``{layer: ImageExcess}``, the same images and pairings in every layer). Images whose fold
    had no unit choice (the other fold contains no such image) are left out."""
    ex = _check_layers(excess)
    ci = [list(e.categories).index(category) for e in ex]
    has = ex[0].contains[pairing, ci[0]]
    if any(not np.array_equal(e.contains[pairing, c], has) or not np.array_equal(e.folds, ex[0].folds)
           for e, c in zip(ex, ci)):
        raise ValueError("the layers' evidence covers different images, masks or folds")
    v = np.stack([e.crossfit[pairing, c] for e, c in zip(ex, ci)])[:, has]
    return v[:, np.all(np.isfinite(v), axis=0)].mean(axis=0)


def image_change(pre: Mapping[str, object], tuned: Mapping[str, object], category: str,
                 pairing: int = 0) -> np.ndarray:
    """Per image: :func:`image_values` of the fine-tuned minus the pre-trained encoder (the same
    layers, images, masks and pairings; each network chooses its own units)."""
    if list(pre) != list(tuned):
        raise ValueError("the two networks' evidence must list the same layers")
    a, b = _check_layers(pre)[0], _check_layers(tuned)[0]
    ci = list(a.categories).index(category)
    if not np.array_equal(a.contains[pairing, ci], b.contains[pairing, ci]):
        raise ValueError("the two networks' evidence covers different images or masks")
    return image_values(tuned, category, pairing) - image_values(pre, category, pairing)


def null_samples(values_of, excess: Mapping[str, object]) -> list[np.ndarray]:
    """The per-image values recomputed on every random re-pairing of masks and images:
    ``values_of(pairing)`` for pairings 1 .. n_null of ``excess`` (``{layer: ImageExcess}``),
    e.g. ``lambda p: image_values(ex, "head", p)``: samples of the real data without an effect,
    for :func:`saliency_utils.claims.core.null_pass_rate`."""
    n_p = _check_layers(excess)[0].crossfit.shape[0]
    return [values_of(p) for p in range(1, n_p)]


def unit_table(rows) -> "object":
    """Per-unit scores as a DataFrame, from a list of dicts or a DataFrame."""
    import pandas as pd

    return rows.reset_index(drop=True) if isinstance(rows, pd.DataFrame) else pd.DataFrame(list(rows))


def family_difference(per_model: Mapping[str, object], first: Sequence[str],
                      second: Sequence[str], metric: str) -> np.ndarray:
    """Per unit (image or array): mean ``metric`` of the models in ``first`` minus the mean of
    the models in ``second``. ``per_model``: ``{model: per-unit scores}`` (list of dicts or
    DataFrame, the same units in the same order for every model)."""
    missing = [m for m in (*first, *second) if m not in per_model]
    if missing or not first or not second:
        raise ValueError(f"models missing from the scores: {missing}; have {list(per_model)}")
    tabs = {m: unit_table(per_model[m]) for m in (*first, *second)}
    n = {len(t) for t in tabs.values()}
    if len(n) != 1:
        raise ValueError(f"the models were scored on different numbers of units: {n}")
    for key in ("image", "array"):
        ids = [tuple(t[key]) for t in tabs.values() if key in t]
        if ids and any(i != ids[0] for i in ids):
            raise ValueError(f"the models' {key} lists differ: the comparison must be paired")

    def fam(models):
        return np.mean([np.asarray(tabs[m][metric], dtype=float) for m in models], axis=0)

    return fam(first) - fam(second)


def deep_layers(layers: Sequence[str]) -> list[str]:
    """The deep layers of the task-vs-domain claims: the deepest third of the chapter's layers,
    at least two (offline: stage6, stage7, head; paper: conv5_2, conv5_3). Fixed before the
    experiment's first run."""
    layers = list(layers)
    if len(layers) < 2:
        raise ValueError("the task-vs-domain claims need at least two layers")
    return layers[-max(2, round(len(layers) / 3)):]


def deep_change(cka_per_layer: Mapping[str, float], layers: Sequence[str]) -> float:
    """Mean of 1 - CKA over :func:`deep_layers` of ``layers``."""
    return float(np.mean([1.0 - float(cka_per_layer[l]) for l in deep_layers(layers)]))


#: Why the other-task part is not measured when the control did not learn its task.
OTHER_NOT_LEARNED = ("the other task's held-out accuracy is not above chance, so that control did "
                     "not learn a task and cannot show how far another task moves the encoder")


def task_domain_values(change: Mapping[str, Sequence[float]], floor: Sequence[float],
                       other: str, other_learned: bool = True) -> dict:
    """Per-seed values of the two task-vs-domain claims. ``change``: condition -> per seed, the
    deep layers' change from the pre-trained encoder (:func:`deep_change`); ``floor``: per seed
    k, the deep layers' 1 - CKA between the saliency models of seeds k and k + 1 (cyclically);
    ``other``: the other-task condition (``"scene"`` or ``"flip"``). Seeds are paired: a seed
    gives every condition the same readout initialisation, batch order and flips.

    ``other_learned``: whether the other task was learned (the chapter: its held-out accuracy's
    interval lies above chance). A control that did not learn its task cannot show that
    another *task* moves the encoder less than saliency does, so its part is then left out:
    pass it to ``decide`` as ``unmeasured`` (:data:`OTHER_NOT_LEARNED`); the part is
    inconclusive and the claim at most partly reproduced."""
    sal = np.asarray(change["saliency"], float)
    for c in ("distill", other):
        if len(change[c]) != len(sal):
            raise ValueError(f"condition {c!r} has {len(change[c])} seeds, saliency {len(sal)}: "
                             "the comparison is paired by seed")
    if len(floor) != len(sal):
        raise ValueError("one between-seed value per saliency seed is needed")
    return {"he2019.saliency_changes_deep": sal - np.asarray(floor, float),
            "he2019.task_not_domain": {
                "domain": sal - np.asarray(change["distill"], float),
                **({"other task": sal - np.asarray(change[other], float)} if other_learned
                   else {})}}


# --------------------------------------------------------------------------- claims
_IMG_WHERE = ("cross-fitted excess IoU averaged over the dissected layers (in each layer, the unit "
              "with the highest mean excess on the other half of the images; excess: IoU with the "
              "image's own mask minus the mean IoU with the other images' masks)")
_IMG_WHY = ("IoU 0.02, half of Bau et al.'s detector cut-off 0.04: a smaller excess over other "
            "images' masks cannot count as a detector of the category (a convention, set before "
            "the per-image run; the paper's counts are not checked, papers.md §8). Planning SD "
            "0.05 per image: a guess, not from our runs")


def _image_test(part: str, category: str, source: str, n: int, direction: int = 1,
                change: bool = False) -> Test:
    what = (f"mean per image containing {category} of the change, saliency-fine-tuned − "
            f"pre-trained encoder (each with its own unit choice), of the " if change
            else f"mean per image containing {category} of the ")
    return Test(part, what + _IMG_WHERE + f", {source}", "image",
                Rule(null=0.0, margin=IMAGE_MARGIN, direction=direction),
                simulate_normal(IMAGE_SD), n_offline=n, sd=IMAGE_SD, fmt="{:+.4f}",
                why=_IMG_WHY)


_HELD = ("on held-out images (OSIE validation and test, MIT1003) with detector masks, masks "
         "re-paired at random as the real-data null")
_FIGRIM = "on FIGRIM's annotated images with its human polygons"
_DATE_IMG = "2026-12-05"
_OLD_RULE_LAYER = ("per dissected layer (n = 8): the number of units significant against the "
                   "permutation null (max-T at 0.05), mean over layers, CI above 0 (margin 1 "
                   "detector); vehicles: per layer, detectors on FIGRIM minus detectors against "
                   "one shuffle of the masks")
_WHY_IMG = ("a layer is no unit of sampling: one network has 8 dissected layers, so the "
            "'about 233 layers for 80 % power' the page gave could never be reached, and a count "
            "per layer mixes layers of 16 to 1280 units. The unit is now the image (the sample "
            "the claim generalises over), with the best unit of each layer chosen on the other "
            "half of the images so that the choice does not bias the value, and the whole "
            "procedure is run on masks re-paired at random to show its false-pass rate on the "
            "real data. Written before the per-image run")


_OLD_RULE_1 = ("reproduced: every category with masks has more detectors than chance (masks of "
               "other images) in ≥ 2 layers; partly: at least half of the categories")
_WHY_1 = ("without any effect a layer's count beats a single shuffled chance draw up to half the "
          "time, so '≥ 2 layers' passed almost surely; now "
          "the mean excess over chance per layer needs a CI above 0 (Bonferroni over the parts); "
          "'person' is no longer one of the claim's categories, and heads are a claim of their "
          "own because their masks need images the offline bundle does not have (one OSIE-SR "
          "image)")
_OLD_RULE_HO = ("the same rule on the mean excess per layer of detectors over one shuffled-mask "
                "chance draw, with human masks (FIGRIM polygons, one OSIE-SR image) on images "
                "that include a training image")
_WHY_HO = ("issue 17: category evidence on images no model was trained on, at scale. Head and "
           "text masks now come from detectors run on 300 held-out images (validated against "
           "the human annotations on the page), each unit is tested against 1000 re-pairings of "
           "masks and images with max-T control over the layer, and a part needs at least "
           f"{MIN_HELDOUT} images containing its category. Written before the held-out run")

CATEGORIES_ENCODED = Claim(
    id="he2019.categories_encoded", paper="He et al. 2019",
    section=_SECTION.format(1),
    text="Text/symbol and vehicle are encoded in several layers of the pre-trained network",
    label="ch4-categories",
    tests=(_image_test("text_sign", "text", _HELD, _N_HELD["text"]),
           _image_test("vehicle", "a vehicle", _FIGRIM, _N_HELD["vehicle"])),
    history=(RuleChange(_DATE, old_rule=_OLD_RULE_1,
                        old_result="partly (offline run of 2026-11-24, with head and person)",
                        why=_WHY_1),
             RuleChange(_DATE_HO, old_rule="text_sign part: " + _OLD_RULE_HO,
                        old_result="inconclusive (offline run of 2026-12-04)",
                        why=_WHY_HO + ". Vehicles have no detector and keep the FIGRIM rule"),
             RuleChange(_DATE_IMG, old_rule=_OLD_RULE_LAYER,
                        old_result="partly (offline run of 2026-12-05: text part reproduced, "
                                   "+6.62 [+0.05, +13.20] detectors per layer; vehicle part "
                                   "inconclusive)", why=_WHY_IMG)),
)

HEAD_ENCODED = Claim(
    id="he2019.head_encoded", paper="He et al. 2019",
    section=_SECTION.format(1),
    text="Heads are encoded in several layers of the pre-trained network",
    label="ch4-categories",
    tests=(_image_test("head", "a head", _HELD, _N_HELD["head"]),),
    history=(RuleChange(_DATE, old_rule=_OLD_RULE_1,
                        old_result="partly (offline run of 2026-11-24, one claim with the other "
                                   "categories)", why=_WHY_1),
             RuleChange(_DATE_HO, old_rule=_OLD_RULE_HO,
                        old_result="not tested here (offline run of 2026-12-04: one image with "
                                   "head masks)", why=_WHY_HO),
             RuleChange(_DATE_IMG, old_rule=_OLD_RULE_LAYER,
                        old_result="inconclusive (offline run of 2026-12-05: +3.25 detectors per "
                                   "layer, CI includes 0)", why=_WHY_IMG)),
)


HEADS_OVER_TEXT = Claim(
    id="he2019.heads_over_text", paper="He et al. 2019",
    section=_SECTION.format(2),
    text="Saliency fine-tuning adds head detectors and removes text detectors",
    label="ch4-heads-text",
    tests=(_image_test("head", "a head", _HELD, _N_HELD["head"], change=True),
           _image_test("text", "text", _HELD, _N_HELD["text"], direction=-1, change=True)),
    history=(RuleChange(
        _DATE,
        old_rule="reproduced: more person/head detectors AND fewer text/sign detectors after "
                 "fine-tuning; partly: the person/head change exceeds the text/sign change",
        old_result="partly (offline run of 2026-11-24)",
        why="'partly' passed whenever d_head > d_text (half the time without any effect) and "
            "counted persons as heads; now heads alone, each direction needs a CI that "
            "excludes no change, relative to each network's own chance reference"),
        RuleChange(_DATE_HO, old_rule="the same rule on the change of the excess over one "
                                      "shuffled-mask chance draw, with human masks",
                   old_result="not tested here (offline run of 2026-12-04: one image with head "
                              "masks)", why=_WHY_HO),
        RuleChange(_DATE_IMG, old_rule="per layer: the change of the held-out detector count, "
                                       "fine-tuned − pre-trained, " + _OLD_RULE_LAYER,
                   old_result="inconclusive (offline run of 2026-12-05: head +5.1 and text +4.6 "
                              "detectors per layer, neither CI decisive)", why=_WHY_IMG)),
)


_NSS_WHY = ("0.1 NSS: the gap between neighbouring models on the MIT benchmark, the smallest "
            "difference a reader would call better (convention; the paper implies a much "
            "larger gap). The two natural data sets are one sample of images (the claim is "
            "about natural images in general). Planning SD 0.5 NSS per image: a guess for "
            "per-image NSS differences between models, not taken from our runs")

_OLD_RULE_3 = ("reproduced: deep NSS higher on both natural sets AND a classical model matches or "
               "beats the deep ones on the arrays (GSI or found rate); partly: one of the two")
_WHY_3 = ("the old rule compared the best model of each kind chosen on the test data, passed on a "
          "tie (cls_found >= deep_found) and had no uncertainty; now paired per-image and "
          "per-array differences between model families fixed in advance, with CIs. The finding "
          "is split into its two halves: as one claim, 'partly' would have said nothing more "
          "than 'deep models beat classical ones on natural images', which is not in doubt")

DEEP_WINS_NATURAL = Claim(
    id="he2019.deep_wins_natural", paper="He et al. 2019",
    section=_SECTION.format(3),
    text="Deep saliency models beat classical ones on natural images",
    label="ch4-popout",
    tests=(Test("natural", "mean paired NSS difference per natural image (OSIE test and "
                           "MIT1003), deep − classical (family means)", "image",
                Rule(null=0.0, margin=0.1), simulate_normal(0.5), n_offline=_N_NATURAL, sd=0.5,
                why=_NSS_WHY),),
    history=(RuleChange(_DATE, old_rule=_OLD_RULE_3,
                        old_result="reproduced (offline run of 2026-11-24; one claim with the "
                                   "pop-out half)", why=_WHY_3),),
)

CLASSICAL_WINS_POPOUT = Claim(
    id="he2019.classical_wins_popout", paper="He et al. 2019",
    section=_SECTION.format(3),
    text="Classical models beat deep ones on synthetic pop-out search arrays",
    label="ch4-popout",
    tests=(Test("arrays", "mean paired GSI difference per search array, classical − deep "
                          "(family means)", "array", Rule(null=0.0, margin=0.1),
                simulate_normal(0.3), n_offline=_N_ARRAYS, sd=0.3,
                why="0.1 GSI (5 % of its range [-1, 1]): the smallest gain in target-vs-"
                    "distractor contrast a reader would call better (convention; the paper "
                    "gives no number we could check). Planning SD 0.3: a guess, not from our "
                    "runs"),),
    history=(RuleChange(_DATE, old_rule=_OLD_RULE_3,
                        old_result="reproduced (offline run of 2026-11-24: best GSI deep 0.11 vs "
                                   "classical 0.58)", why=_WHY_3),),
)


_DATE_TD = "2026-12-04"
_DATE_SCENE = "2026-12-05"  # the book's scene labels replace the mirror-image control
_TD_SD = 0.03
_TD_WHY = ("0.05 in 1 - CKA (5 % of the scale from an identical to an unrelated "
           "representation): the smallest change a reader would call a change of the layers "
           "(a convention, set before the experiment's first run; the paper's CKA values are not "
           "checked, papers.md §8). Planning SD 0.03 per seed: a guess, not from our runs")


def _td_test(name: str, measure: str) -> Test:
    return Test(name, measure, "seed", Rule(null=0.0, margin=0.05), simulate_normal(_TD_SD),
                n_offline=_N_SEEDS, sd=_TD_SD, why=_TD_WHY)


SALIENCY_CHANGES_DEEP = Claim(
    id="he2019.saliency_changes_deep", paper="He et al. 2019",
    section=_SECTION.format(4),
    text="Saliency fine-tuning changes the deep layers of the encoder beyond the seed-to-seed "
         "floor",
    label="ch4-task-domain",
    tests=(_td_test("seed floor", "mean per seed of the deep layers' 1 - CKA with the pre-trained "
                                  "encoder, minus their 1 - CKA with the next seed's saliency "
                                  "model"),),
    history=(RuleChange(
        _DATE_TD, old_rule="(none: the precondition of the task-vs-domain claim, new with the "
                           "controlled experiment)",
        old_result="not tested (no seeds before)",
        why="the controlled experiment (issue 17) has three seeds per condition, so whether "
            "saliency training moves the deep layers further than two of its own runs differ "
            "can be asked; rule written before the experiment's first run. The three "
            "between-seed pairs share models (seed k with seed k + 1, cyclically), so this "
            "part's interval treats correlated values as independent"),),
)

TASK_NOT_DOMAIN = Claim(
    id="he2019.task_not_domain", paper="He et al. 2019",
    section=_SECTION.format(4),
    text="The change of the encoder is due to the saliency task, not to the image domain",
    label="ch4-task-domain",
    tests=(
        _td_test("domain", "mean paired difference per seed in the deep layers' 1 - CKA with "
                           "the pre-trained encoder, saliency - domain only (distillation of the "
                           "pre-trained network's outputs on the same images)"),
        _td_test("other task", "mean paired difference per seed in the deep layers' 1 - CKA "
                               "with the pre-trained encoder, saliency - another task on the "
                               "same images (scene classification: the book's labels of the "
                               "OSIE images or a user CSV; mirror-image classification where "
                               "the training images have no scene labels)"),
    ),
    history=(
        RuleChange(
            _DATE,
            old_rule="reproduced: saliency tuning changes ≥ 75 % of the layers more than "
                     "classification tuning; partly: more on average",
            old_result="not reproduced (offline run of 2026-11-24, rotation control)",
            why="'partly' passed on a larger mean, and the rotation control confounds task, "
                "domain, warm-up and seed: the comparison is kept on the page as description "
                "only"),
        RuleChange(
            _DATE_TD,
            old_rule="not tested here (the rotation control changes the domain, the warm-up "
                     "and has one seed)",
            old_result="not tested here (offline run of 2026-12-04, before the experiment)",
            why="replaced by the controlled experiment of issue 17: every condition shares the "
                "images, warm-up, schedule, flips and batch order and differs in the objective, "
                "with three seeds each; rule written before the experiment's first run. Added "
                "after the training logs showed the mirror-image control near chance in "
                "training, before any comparison was computed: the other-task part is measured "
                "only if that control learned its task on held-out images"),
        RuleChange(
            _DATE_SCENE,
            old_rule="the other task is mirror-image classification (no scene labels offline), "
                     "its part measured only if it beats chance (0.5) on held-out images",
            old_result="partly reproduced (offline run of 2026-12-04: domain part reproduced; the "
                       "mirror-image control did not learn, held-out accuracy 0.507 [0.486, "
                       "0.527] on 50 test images, so the other-task part was not measured)",
            why="the paper's control, scene classification, is now possible offline: the book "
                "labelled all 700 OSIE images itself (saliency_utils/data/osie_scene_labels.csv, "
                "two independent labellers and a third pass, documented beside it), and scene "
                "replaces the mirror-image task in the offline profile. The labels were made and "
                "this change written before any scene model was trained; the learned check is "
                "the held-out accuracy against always answering the most frequent training "
                "class, paired over the test images (95 % CI above 0)"),
    ),
)

CLAIMS: tuple[Claim, ...] = (CATEGORIES_ENCODED, HEAD_ENCODED, HEADS_OVER_TEXT, DEEP_WINS_NATURAL,
                             CLASSICAL_WINS_POPOUT, SALIENCY_CHANGES_DEEP, TASK_NOT_DOMAIN)
