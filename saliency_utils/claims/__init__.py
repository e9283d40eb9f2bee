"""The claims registry: every claim of the five papers and every question of the cross-paper
chapter, declared once, with the rule that decides it.

One module per paper (``simonyan2014``, ``li2019``, ``he2017``, ``he2019``, ``malladi2021``) and
one for the cross-paper chapter (``crosspaper``) each export ``CLAIMS``, a tuple of
:class:`~saliency_utils.claims.core.Claim`. A chapter computes per-unit values and calls
``claims.get(id).decide(values)``; :func:`verdict_table` and :func:`glue_verdicts` put the
verdicts on the page and into the intro's scorecard, with the rule text rendered from the rule
object; :func:`calibration_table` simulates every rule under the null and under a planted effect
(the calibration appendix). How a rule decides is in :mod:`saliency_utils.claims.core`.
"""
from __future__ import annotations

from typing import Iterable, Sequence

from . import crosspaper, he2017, he2019, li2019, malladi2021, simonyan2014
from .core import (INCONCLUSIVE, NOT_REPRODUCED, NOT_TESTED, PARTLY, REPRODUCED, VERDICTS,
                   Calibration, Claim, NullRate, Rule, RuleChange, Test, Verdict, calibrate,
                   null_pass_rate, simulate_correlation, simulate_normal, simulate_sign, with_n)

__all__ = ["REGISTRY", "get", "claims_of", "verdict_table", "show", "glue_verdicts",
           "history_markdown", "calibration_table", "Claim", "Rule", "RuleChange", "Test",
           "Verdict", "Calibration", "calibrate", "NullRate", "null_pass_rate",
           "simulate_normal", "simulate_sign", "simulate_correlation", "with_n", "VERDICTS",
           "REPRODUCED", "PARTLY", "NOT_REPRODUCED", "INCONCLUSIVE", "NOT_TESTED", "CHAPTERS"]

#: Registry module -> (chapter notebook stem, glue prefix).
CHAPTERS = {
    "simonyan2014": ("ch1_gradient_saliency", "ch1"),
    "li2019": ("ch2_lrp_salient_relevance", "ch2"),
    "he2017": ("ch3_centre_surround", "ch3"),
    "he2019": ("ch4_task_vs_domain", "ch4"),
    "malladi2021": ("ch5_loggabor_explanation", "ch5"),
    "crosspaper": ("ch6_cross_paper", "ch6"),
}
_MODULES = (simonyan2014, li2019, he2017, he2019, malladi2021, crosspaper)


def _build() -> dict[str, Claim]:
    reg: dict[str, Claim] = {}
    for mod in _MODULES:
        stem = mod.__name__.rsplit(".", 1)[1]
        for c in mod.CLAIMS:
            if not c.id.startswith(stem + "."):
                raise ValueError(f"claim {c.id!r} of {stem} must be named '{stem}.<name>'")
            if c.id in reg:
                raise ValueError(f"claim {c.id!r} is declared twice")
            reg[c.id] = c
    return reg


#: Every claim of the book, by id.
REGISTRY: dict[str, Claim] = _build()


def get(claim_id: str) -> Claim:
    """The claim declared under ``claim_id`` (e.g. ``"li2019.sr_localises"``)."""
    try:
        return REGISTRY[claim_id]
    except KeyError:
        raise KeyError(f"no claim {claim_id!r} in the registry; known: "
                       f"{', '.join(sorted(REGISTRY))}") from None


def claims_of(module: str) -> list[Claim]:
    """The claims of one registry module (``"simonyan2014"``, ..., ``"crosspaper"``)."""
    return [c for c in REGISTRY.values() if c.id.startswith(module + ".")]


def _verdict_text(verdict: str) -> str:
    """The verdict as the page shows it: with the random-weights label while the chapter runs
    with random weights (:data:`saliency_utils.book.report.CODE_PATH_ONLY`)."""
    from saliency_utils.book import report

    return (f"{verdict} ({report.RANDOM_WEIGHTS_LABEL})" if report.CODE_PATH_ONLY
            else verdict)


def verdict_table(verdicts: Sequence[Verdict]):
    """The chapter's verdict table (pandas): claim, verdict, estimate [CI], n, rule, power,
    note. Everything in it comes from the verdict objects and the registry; under random weights
    each verdict says "(random weights: code path only)"."""
    import pandas as pd

    df = pd.DataFrame([v.row() for v in verdicts])
    if len(df):
        df["verdict"] = [_verdict_text(v) for v in df["verdict"]]
    return df


def show(verdicts: Sequence[Verdict]):
    """Display the verdict table in a notebook (left-aligned, HTML-escaped)."""
    from IPython.display import display

    from saliency_utils.book import report

    df = verdict_table(verdicts)
    styled = (df.style.hide(axis="index").format(escape="html")
              .set_properties(**{"text-align": "left", "vertical-align": "top"}))
    if report.CODE_PATH_ONLY:
        styled = styled.set_caption(f"Verdicts: {report.RANDOM_WEIGHTS_LABEL}; not results")
    display(styled)
    return df


def glue_verdicts(prefix: str, verdicts: Sequence[Verdict], network: str) -> int:
    """Glue every verdict for the intro's scorecard: for verdict ``i`` (from 1) the keys
    ``<prefix>_{id,claim,verdict,estimate,n,rule,power}_<i>`` (``rule``: the one-line
    :meth:`~saliency_utils.claims.core.Claim.rule_short`) and ``<prefix>_network``. Under
    random weights (:data:`saliency_utils.book.report.CODE_PATH_ONLY`) the verdicts and the network
    carry "random weights: code path only".
    Returns the number of verdicts; raises ``ValueError`` for none."""
    from saliency_utils.book.report import Text, glue, mark

    if not verdicts:
        raise ValueError("no verdicts to glue: the scorecard would silently lose the chapter")
    for i, v in enumerate(verdicts, 1):
        row = v.row()
        glue(f"{prefix}_id_{i}", Text(v.claim.id))
        glue(f"{prefix}_claim_{i}", Text(v.claim.text))
        glue(f"{prefix}_verdict_{i}", Text(_verdict_text(v.verdict), strong=True))
        glue(f"{prefix}_estimate_{i}", Text(row["estimate [CI]"]))
        glue(f"{prefix}_n_{i}", Text(row["n"]))
        glue(f"{prefix}_rule_{i}", Text(v.claim.rule_short()))
        glue(f"{prefix}_power_{i}", Text(row["power"]))
    glue(f"{prefix}_network", Text(mark(network)))
    return len(verdicts)


def history_markdown(verdicts: Iterable[Verdict]) -> str:
    """A Markdown table of the rules changed after a result was seen (date, old rule, old
    result, why, and today's verdict), or a sentence saying there are none."""
    rows = []
    for v in verdicts:
        for h in v.claim.history:
            rows.append(f"| {v.claim.id} | {h.date} | {_md(h.old_rule)} | {_md(h.old_result)} | "
                        f"{_md(h.why)} | **{v.verdict}** |")
    if not rows:
        return "No rule of this chapter was changed after a result was seen."
    return ("| claim | changed | old rule | old result | why | verdict now |\n"
            "|---|---|---|---|---|---|\n" + "\n".join(rows))


def _md(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _calibrate_by_id(claim_id: str, n, n_sim: int, seed: int):
    return calibrate(REGISTRY[claim_id], n=n, n_sim=n_sim, seed=seed)


def calibration_table(n_sim: int = 400, n: int | None = None, seed: int = 0, workers: int = 1):
    """Calibrate every tested claim of the registry (see :func:`calibrate`): a pandas table of
    claim, rule, n, false-pass rate under the null, power at the planted effect, the rate of
    'not reproduced' under the planted effect, and the simulation. ``workers > 1`` calibrates
    the claims in that many forked processes; each claim draws from its own generator seeded
    with ``seed``, so the table is the same for any number of workers."""
    import pandas as pd

    ids = [cid for cid, c in REGISTRY.items() if c.tests]
    if workers > 1 and len(ids) > 1:
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(int(workers), mp_context=mp.get_context("fork")) as pool:
            cals = list(pool.map(_calibrate_by_id, ids, [n] * len(ids), [n_sim] * len(ids),
                                 [seed] * len(ids)))
    else:
        cals = [_calibrate_by_id(cid, n, n_sim, seed) for cid in ids]
    rows = []
    for cid, cal in zip(ids, cals):
        c = REGISTRY[cid]
        rows.append({"claim": c.id, "rule": c.rule_short(), "n": cal.n,
                     "false pass under the null": cal.false_pass,
                     "power (reproduced or partly)": cal.power,
                     "power (reproduced)": cal.power_full,
                     "'not reproduced' under the effect": cal.false_fail,
                     "simulated evidence": cal.simulation, "simulations": cal.n_sim})
    return pd.DataFrame(rows, columns=CALIBRATION_COLUMNS)


#: Columns of :func:`calibration_table`.
CALIBRATION_COLUMNS = ["claim", "rule", "n", "false pass under the null",
                       "power (reproduced or partly)", "power (reproduced)",
                       "'not reproduced' under the effect", "simulated evidence", "simulations"]
