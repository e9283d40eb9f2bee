"""Claims of He & Pugeault 2017 (arXiv 1801.04261):
what a network learns when fine-tuned for saliency (chapter 3).

The paper is a four-page workshop paper with qualitative figures and no numbers, so every
margin below is a stated convention, not the paper's own number. Planning SDs are assumptions
(the earlier offline run kept only its verdicts, not the per-unit values); a verdict's "units
that would decide it" is computed with the SD observed on the page.
"""
from __future__ import annotations

from .core import Claim, Rule, RuleChange, Test, simulate_correlation, simulate_normal, simulate_sign

#: Shown with the verdict of :data:`DEEP_LAYERS_CHANGE` (and on the page): what the test cannot
#: tell yet.
NO_CONTROL_NOTE = ("No control fine-tuning (the same network tuned for another task on the same "
                   "images) is compared yet, so this test cannot tell what saliency fine-tuning "
                   "does from what any fine-tuning of an ImageNet encoder does to its deep layers.")

_RHO_WHY = ("the paper says the deeper layers change most, a mostly monotone ordering with depth; "
            "it gives no number, so the margin is the usual convention for a large rank "
            "correlation, |ρ| = 0.5 (Cohen)")

DEEP_LAYERS_CHANGE = Claim(
    id="he2017.deep_layers_change", paper="He & Pugeault 2017",
    section="abstract, figures (section not checked in the PDF)",
    text="Fine-tuning for saliency transforms the deeper layers most",
    label="ch3-layer-change",
    tests=(
        Test("weights", "Spearman ρ between depth and the relative weight change "
             "‖W_ft − W_0‖/‖W_0‖ of each block", "block",
             Rule(null=0.0, margin=0.5), simulate_correlation(), n_offline=18,
             estimator="spearman", fmt="{:+.2f}",
             why=_RHO_WHY + "; 18 blocks in EfficientNet-Lite0 (stem, 16 MBConv blocks, head)"),
        Test("cka", "Spearman ρ between depth and the linear CKA of the pre-trained and the "
             "fine-tuned activations at the output of each block", "block",
             Rule(null=0.0, margin=0.5, direction=-1), simulate_correlation(), n_offline=18,
             estimator="spearman", fmt="{:+.2f}",
             why=_RHO_WHY + " (CKA falls where a layer changes); the same 18 blocks as the "
                 "weights"),
    ),
    history=(RuleChange(
        "2026-12-03",
        old_rule="reproduced: weight change rises AND CKA falls with depth (both p < 0.05); "
                 "partly: one of the two",
        old_result="reproduced (offline run of 2026-11-24: CKA 1.00 → 0.57 with depth, weight "
                   "change Spearman ρ 0.92)",
        why="rewritten for the claims registry: the two parts are Bonferroni-controlled, "
            "'not reproduced' needs the ρ of 0.5 the claim implies to be excluded, and the "
            "missing control fine-tuning is stated with the verdict; CKA is now measured at every "
            "block (18) instead of the 9 stage outputs, the same depth axis as the weight change "
            "(and enough layers for a rank-correlation interval)"),),
)

#: The layers the centre-surround claim pools: the two deepest encoder layers the chapter
#: measures (stage5 and head offline, conv4_3 and conv5_3 in the paper profile).
N_DEEP_LAYERS = 2

CENTRE_SURROUND_EMERGES = Claim(
    id="he2017.centre_surround_emerges", paper="He & Pugeault 2017",
    section="abstract, figures (section not checked in the PDF)",
    text="Antagonistic centre-surround receptive fields emerge in the deep layers",
    label="ch3-receptive-fields",
    tests=(
        Test("csi", "mean paired change (fine-tuned − pre-trained) of the centre-surround index "
             "of the same unit, pooled over the two deepest measured encoder layers", "unit",
             Rule(null=0.0, margin=0.1), simulate_normal(0.3), n_offline=N_DEEP_LAYERS * 12,
             sd=0.3, fmt="{:+.3f}",
             why="the paper gives no number; convention: the surround opposes the centre by a "
                 "further tenth of the centre's mean response (CSI +0.1), about the smallest "
                 "change visible in field plots scaled to their peak. Planning SD 0.3: an "
                 "assumption (the index lies mostly between −1 and 1; no per-unit values of the "
                 "earlier run were kept)"),
        Test("antagonistic", "mean paired change (fine-tuned − pre-trained) of the antagonistic "
             "DoG flag (1 if the fitted surround has the opposite sign and ≥ 25 % of the "
             "centre's volume) of the same unit, pooled over the two deepest measured encoder "
             "layers", "unit",
             Rule(null=0.0, margin=0.2), simulate_sign(p_tie=0.7), n_offline=N_DEEP_LAYERS * 12,
             sd=0.55, fmt="{:+.3f}",
             why="the paper gives no number; it shows centre-surround fields among a handful of "
                 "visualised deep units, which needs at least about one unit in five to have "
                 "one, and says they emerge (were not there before): +0.20 in the share of "
                 "antagonistic units (a convention). Planning: 30 % of units change their flag "
                 "(SD ≈ 0.55), an assumption"),
    ),
    history=(RuleChange(
        "2026-12-03",
        old_rule="reproduced: in one of the two deepest encoder layers the antagonistic "
                 "fraction or the CSI rises with p < 0.05; partly: it rises without significance",
        old_result="not reproduced (offline run of 2026-11-24, 12 units per layer)",
        why="the review (issue 13) found that the old 'partly' passed if any of four point "
            "estimates rose (about 94 % of runs "
            "without an effect), and its 'not reproduced' was absence of evidence at 12 units "
            "per layer (power about 0.15). Now: mean paired changes with CIs, pooled over the "
            "two deepest layers, Bonferroni over the two parts; 'not reproduced' needs the "
            "margin excluded, otherwise inconclusive with the units that would decide it"),),
)

CLAIMS: tuple[Claim, ...] = (DEEP_LAYERS_CHANGE, CENTRE_SURROUND_EMERGES)
