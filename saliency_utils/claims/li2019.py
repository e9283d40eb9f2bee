"""Claims of Li, Tian, Mueller & Chen 2019 (arXiv 1712.08268): LRP and Salient Relevance maps (chapter 2).

The paper's evidence is qualitative (figures of selected images); every margin below is therefore
a stated convention, fixed before the chapter's numbers were seen, and says so in ``why``. The
planning SDs are guesses or come from the chapter's offline run of 2026-11-24 (said where).

The chapter turns its per-image scores into the per-unit values of each part with the helpers at
the end of this module (:func:`conservation_deviation`, :func:`log2_ratio`, :func:`paired`), so
that their wiring is unit-tested (``tests/test_claims_ch2.py``).
"""
from __future__ import annotations

import numpy as np

from .core import Claim, Rule, RuleChange, Test, simulate_normal, simulate_sign

PAPER = "Li et al. 2019"
#: Offline profile sizes (saliency_utils.book.profiles, ch2 'offline'): images of the per-composite
#: conservation table, validation images with boxes (all of them), images with deletion/insertion
#: curves, images with the context-aware saliency controls (CA of the image and of the gradient).
N_CONSERVATION, N_IMAGES, N_CURVES, N_CONTROLS = 16, 1300, 200, 400
REVIEW = "2026-12-03"
#: Issue 18, item 4: the faithfulness rule's third part (blurred deletion), 200 images, 20 steps.
FAITHFUL_REVIEW = "2026-12-05"
#: Conservation tolerance: the largest mean per-image deviation |Σ R_input / logit − 1| that still
#: counts as "the pixels receive the explained score" (a convention, see the claim's ``why``).
TOLERANCE = 0.1
POINTS = ("5 points (0.05): the book's convention for the smallest gain in a hit rate or share "
          "that a reader would call better; the paper gives no number")


def _loc_tests(other: str, n: int = N_IMAGES) -> tuple[Test, ...]:
    """The three localisation parts of SR against ``other`` (paired over the same ``n`` images)."""
    return (
        Test("pointing", f"mean paired difference in pointing-game hits (0/1), SR − {other}",
             "image", Rule(null=0.0, margin=0.05), simulate_sign(p_tie=0.7), n_offline=n,
             sd=0.55, why=POINTS + "; SD: paired 0/1 hits with about 70 % ties (a guess)"),
        Test("energy", f"mean paired difference in the share of the map's mass inside the boxes, "
             f"SR − {other}", "image", Rule(null=0.0, margin=0.05), simulate_normal(0.15),
             n_offline=n, sd=0.15, why=POINTS + "; SD 0.15: a guess"),
        Test("box", f"mean paired difference in GT-known box success (box of the largest region "
             f"above 0.2·max reaches IoU ≥ 0.5; 0/1), SR − {other}", "image",
             Rule(null=0.0, margin=0.05), simulate_sign(p_tie=0.8), n_offline=n, sd=0.45,
             why=POINTS + "; SD: paired 0/1 successes with about 80 % ties (a guess)"),
    )


CONSERVATION = Claim(
    id="li2019.conservation", paper=PAPER, section="§3 (LRP, after Bach et al. 2015)",
    text="LRP with the authors' rules passes the explained score on to the pixels "
         "(conservation: the input's relevance sums to the explained logit)",
    label="ch2-conservation",
    tests=(Test("deviation", "mean per-image deviation |Σ R_input / explained logit − 1| "
                "(authors' rules, predicted class, every scored image)", "image",
                Rule(null=TOLERANCE, margin=TOLERANCE / 2, direction=-1),
                simulate_normal(0.3), n_offline=N_IMAGES, sd=0.3, fmt="{:.3f}",
                why="an equivalence claim: the pixels receive the explained logit within a "
                    "tolerance of 10 % (a deviation of 0.1, a convention: LRP-ε with biases "
                    "conserves only approximately). The null is the tolerance, so 'reproduced' "
                    "needs the CI of the mean deviation below 0.1 (and reaching 0.05, half the "
                    "tolerance, the margin); 'partly': below 0.1 but above 0.05; 'not "
                    "reproduced': the CI lies above 0.05 and reaches 0.1. The per-image "
                    "deviation is stricter than the deviation of the mean share (over- and "
                    "undershoots do not cancel). SD 0.3: a guess from the range of the 16 "
                    "shares of the offline run of 2026-12-03 (−0.51 to 0.70)"),),
    history=(
        RuleChange(
            REVIEW,
            old_rule="reproduced: layer rules exact (< 1e-3) AND the pixels receive 50-150 % of "
                     "the logit (median); partly: layer rules exact only",
            old_result="partly (offline run of 2026-11-24)",
            why="review (issue 13): 'partly' came from an identity, each layer compared with the "
                "sum its own rule computes, which holds by construction. The claim is now judged "
                "on what it says (does the input receive the explained score?); the layer-wise "
                "comparison stays on the page as a check of the implementation"),
        RuleChange(
            REVIEW,
            old_rule="the same per-image deviation on the first 16 images (predicted class), "
                     "null 1 (the pixels receive none of the score), margin 0.9: reproduced if "
                     "its CI lies below 1 and reaches 0.1, partly if it lies below 1 but above "
                     "0.1",
            old_result="not recorded (the offline run of 2026-12-03 predates the verdict; its "
                       "table: Σ R_input / logit median 0.10, mean 0.016, range −0.51 to 0.70 "
                       "over 16 images)",
            why="review (issue 18): with the null at 'none of the score', any share that is "
                "significantly above zero (say 5 % of the logit) would have been 'partly "
                "reproduced' at a larger n, which is not conservation in the claim's sense. The "
                "claim is an equivalence, so the null is now the tolerance. The deviation now "
                "comes from the scoring loop (every image, predicted class as the authors; the "
                "misclassified images get a second pass) instead of 16 images. The layer-wise "
                "identities left the page: they are unit tests (tests/test_lrp.py)"),
    ),
)

SR_COMPACT = Claim(
    id="li2019.sr_compact", paper=PAPER, section="§3-4, figures of LRP and SR maps",
    text="SR maps mark compact attention areas where LRP maps are pixel-sparse, beyond what "
         "smoothing the LRP map does",
    label="ch2-localisation",
    tests=(Test("regions", "mean paired difference in log₂(number of regions formed by the top "
                "10 % of the map's pixels), SR − blurred LRP (Gaussian σ 7 px)", "image",
                Rule(null=0.0, margin=0.5, direction=-1), simulate_normal(1.0),
                n_offline=N_IMAGES, sd=1.0,
                why="0.5 in log₂ units: √2 ≈ 1.4 times fewer regions, the smallest change we "
                    "would call more compact (a convention; the paper's 'areas, not pixels' "
                    "implies far more). The control has the same kind of smoothing with a fixed "
                    "σ (chapter 1's, not tuned). SD 1 (a factor of 2 between images): a guess"),),
    history=(RuleChange(
        REVIEW,
        old_rule="reproduced: SR's top pixels form fewer regions than LRP's in ≥ 90 % of images; "
                 "partly: in ≥ 50 %",
        old_result="not recorded",
        why="review (issue 13): any smoothing lowers the region count, so a comparison with the "
            "raw LRP map passes for every smooth map; the comparison is now with the LRP map "
            "blurred by a fixed Gaussian (SR − raw LRP is still shown), on a CI instead of a "
            "share of images"),),
)

SR_ON_OBJECT = Claim(
    id="li2019.sr_on_object", paper=PAPER, section="§4, figures of SR maps",
    text="SR maps show the object the network recognises, beyond a centre prior",
    label="ch2-localisation",
    tests=(
        Test("pointing", "mean paired difference in pointing-game hits (0/1), SR − image centre",
             "image", Rule(null=0.0, margin=0.05), simulate_sign(p_tie=0.6), n_offline=N_IMAGES,
             sd=0.63, why=POINTS + "; SD: paired 0/1 hits with about 60 % ties (a guess)"),
        Test("energy", "mean paired difference in the share of the map's mass inside the boxes, "
             "SR − centre prior (isotropic Gaussian at the image centre, σ a quarter of the side)",
             "image", Rule(null=0.0, margin=0.05), simulate_normal(0.15), n_offline=N_IMAGES,
             sd=0.15, why=POINTS + "; the prior's σ is a convention, not fitted; SD 0.15: a guess"),
    ),
    history=(RuleChange(
        REVIEW,
        old_rule="reproduced: SR beats the image centre in the pointing game AND has more energy "
                 "in boxes than their area; partly: one of the two",
        old_result="not recorded",
        why="review (issue 13): the old rule compared point estimates (it passes half the time "
            "without an effect) and the energy part compared with a uniform map, not a centre "
            "prior; now paired CIs against the centre prior"),),
)

RIGHT_WRONG = Claim(
    id="li2019.right_wrong", paper=PAPER, section="§4, figures (VGG-16 right, AlexNet wrong)",
    text="SR maps lie on the object when the network is right and elsewhere when it is wrong",
    label="ch2-figures",
    not_tested="the chapter measures it (section 4: the predicted-class SR map's share of mass "
               "inside the true object's boxes and its pointing-game hits, correctly against "
               "wrongly classified images, a two-sample bootstrap CI over all scored images) but "
               "gives no verdict: wrongly classified images are also harder images (small, "
               "occluded, ambiguous objects), so a difference cannot be laid at the map's door. "
               "What would test it: the same comparison within strata of image difficulty (e.g. "
               "box size), or on the same images for a right and a wrong network (the paper's "
               "VGG-16 / AlexNet selection)",
)

SR_LOCALISES = Claim(
    id="li2019.sr_localises", paper=PAPER, section="§4, figures (implied)",
    text="SR maps localise the object better than the raw LRP map",
    label="ch2-localisation",
    tests=_loc_tests("LRP"),
    history=(RuleChange(
        REVIEW,
        old_rule="reproduced: SR significantly better on pointing, energy AND GT-known error "
                 "(box > 0.2·max); partly: better on some, worse on none",
        old_result="reproduced (offline run of 2026-11-24)",
        why="rewritten for the claims registry: the three parts are Bonferroni-controlled, each "
            "needs an effect of the margin's size for 'reproduced', and 'not reproduced' needs "
            "an equivalence bound or a significant opposite effect"),),
)

SR_BEYOND_BLUR = Claim(
    id="li2019.sr_beyond_blur", paper="ours (control for Li et al. 2019)",
    section="control of §4's comparison",
    text="(ours) SR maps localise the object better than the LRP map blurred with a fixed "
         "Gaussian: the gain needs the context-aware step, not just smoothing",
    label="ch2-localisation",
    tests=_loc_tests("blurred LRP"),
    history=(RuleChange(
        REVIEW,
        old_rule="reproduced: SR significantly better than blurred LRP on all three scores; "
                 "partly: better on some, worse on none",
        old_result="SR not better than blurred LRP for boxes (offline run of 2026-11-24; verdict "
                   "word not recorded)",
        why="rewritten for the claims registry (Bonferroni over the parts, margins, equivalence "
            "bound for 'not reproduced')"),),
)

SR_BEYOND_IMAGE = Claim(
    id="li2019.sr_beyond_image", paper="ours (control for Li et al. 2019)",
    section="control of §4's comparison",
    text="(ours) SR maps localise the object better than the context-aware saliency of the "
         "image itself, computed with the same settings: the gain comes from the relevance, not "
         "from the image's contrast",
    label="ch2-localisation",
    tests=_loc_tests("CA of the image", N_CONTROLS),
)

SR_FAITHFUL = Claim(
    id="li2019.sr_faithful", paper=PAPER, section="§1, §5 (implied: SR explains the decision)",
    text="SR maps are a more faithful explanation of the decision than LRP maps "
         "(deletion / insertion)",
    label="ch2-localisation",
    tests=(
        Test("deletion", "mean paired difference in deletion AUC, SR − LRP (lower is more "
             "faithful)", "image", Rule(null=0.0, margin=0.02, direction=-1),
             simulate_normal(0.065), n_offline=N_CURVES, sd=0.065,
             why="0.02 of AUC (two points on the 0-1 scale of p(class) × fraction removed): a "
                 "convention for the smallest difference that would change which map a reader "
                 "trusts. SD 0.065: from the offline run of 2026-11-24 (interval "
                 "[0.012, 0.048] at 48 images)"),
        Test("deletion (blur)", "mean paired difference in deletion AUC when the removed "
             "pixels are blurred instead of set to the mean colour (the insertion curve's "
             "blurred copy), SR − LRP (lower is more faithful)", "image",
             Rule(null=0.0, margin=0.02, direction=-1, version=FAITHFUL_REVIEW),
             simulate_normal(0.065), n_offline=N_CURVES, sd=0.065,
             why="the same convention as deletion; SD: assumed equal to deletion's. A flat "
                 "colour creates sharp edges the network may respond to, so that a map can win "
                 "by where it puts edges; a map that wins under both kinds of removal does not "
                 "owe its win to that artefact"),
        Test("insertion", "mean paired difference in insertion AUC, SR − LRP (higher is more "
             "faithful)", "image", Rule(null=0.0, margin=0.02), simulate_normal(0.065),
             n_offline=N_CURVES, sd=0.065,
             why="the same convention as deletion; SD: assumed equal to deletion's"),
    ),
    history=(RuleChange(
        REVIEW,
        old_rule="reproduced: significantly lower deletion AND higher insertion AUC; partly: one "
                 "of the two",
        old_result="not reproduced (by deletion SR less faithful, ΔAUC +0.030 CI [0.012, 0.048])",
        why="rewritten for the claims registry: 'not reproduced' now needs the paper's effect "
            "excluded (an equivalence bound or a significant opposite effect), Bonferroni over "
            "the two curves"),
        RuleChange(
            FAITHFUL_REVIEW,
            old_rule="two parts, deletion to the mean colour and insertion, on the first 48 "
                     "images with 8 steps (97.5 % CIs)",
            old_result="not recorded (the offline page of that rule was not kept; the review of "
                       "2026-12-03 recorded deletion +0.030 [0.012, 0.048], SR less faithful)",
            why="issue 18, item 4, written before the run that decides it: 200 images and 20 "
                "steps, and a third part, deletion by blurring, so that a verdict cannot rest on "
                "the edges a flat-colour deletion creates (Bonferroni over the three parts)"),
    ),
)

VGG_OVER_ALEXNET = Claim(
    id="li2019.vgg_over_alexnet", paper=PAPER, section="§4, AlexNet vs VGG-16 figures",
    text="VGG-16's SR maps cover the objects better than AlexNet's",
    label="ch2-networks",
    # written 2026-12-03, before any run with the paper networks' ImageNet weights (none has run
    # where this book is built); the three parts of the other localisation claims, between
    # networks instead of between maps. Tested in the `paper` profile only (both networks); the
    # offline profile's page says "not tested here" and why (EfficientNet-Lite0 only).
    tests=tuple(
        Test(t.name, t.measure.replace("SR − AlexNet", "VGG-16 SR map − AlexNet SR map"),
             t.unit, t.rule, t.simulate, t.n_offline, t.sd, t.estimator, t.fmt,
             t.why + "; n: the paper profile's images (every validation image with boxes), the "
             "only profile that runs both networks")
        for t in _loc_tests("AlexNet")),
)

CLAIMS = (CONSERVATION, SR_COMPACT, SR_ON_OBJECT, RIGHT_WRONG, SR_LOCALISES, SR_BEYOND_BLUR,
          SR_BEYOND_IMAGE, SR_FAITHFUL, VGG_OVER_ALEXNET)


# --------------------------------------------------------------------------- per-unit values
def conservation_deviation(total, explained) -> np.ndarray:
    """Per image: ``|Σ R_input / explained logit − 1|``. Raises for a zero explained logit."""
    total, explained = np.asarray(total, float), np.asarray(explained, float)
    if total.shape != explained.shape or total.ndim != 1:
        raise ValueError(f"need one total and one explained logit per image, got shapes "
                         f"{total.shape} and {explained.shape}")
    if np.any(explained == 0):
        raise ValueError("an explained logit is 0: the share of it that reaches the pixels is "
                         "undefined")
    return np.abs(total / explained - 1.0)


def paired(a, b) -> np.ndarray:
    """Per-unit paired differences ``a − b`` (booleans count as 0/1); raises on NaN or a shape
    mismatch."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"paired values need the same 1-D shape, got {a.shape} and {b.shape}")
    if np.isnan(a).any() or np.isnan(b).any():
        raise ValueError("NaN among paired values: decide how an unscorable image counts first")
    return a - b


def log2_ratio(a, b) -> tuple[np.ndarray, int]:
    """Per unit ``log₂(a / b)`` of two positive counts, over the units where both are finite;
    returns the values and the number of units dropped (e.g. maps that could not be scored)."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"paired counts need the same 1-D shape, got {a.shape} and {b.shape}")
    ok = np.isfinite(a) & np.isfinite(b)
    if np.any((a[ok] <= 0) | (b[ok] <= 0)):
        raise ValueError("region counts must be positive")
    return np.log2(a[ok] / b[ok]), int((~ok).sum())
