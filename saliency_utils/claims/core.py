"""Claims, decision rules and verdicts: the machinery behind every verdict of the book.

A :class:`Claim` is declared once (in the module of its paper, see :mod:`saliency_utils.claims`)
with one or more :class:`Test` parts. Each part names a measure, its unit of analysis, how the
per-unit values are turned into an :class:`~saliency_utils.evaluate.stats.Estimate` (``estimator``), the
effect the paper implies (``margin``, the smallest effect that would matter, in the measure's
units and in the claimed direction), a planning standard deviation and the sample size the
chapter uses offline. A chapter supplies **per-unit values**; the registry makes the estimate,
applies the :class:`Rule` and returns a :class:`Verdict`. The rule text on the page is rendered
from the rule object, never typed a second time.

The rule (one for every part): with ``L, U`` the confidence interval of the effect in the claimed
direction (``L = lo - null`` for a claimed increase, ``null - hi`` for a claimed decrease) and
``m`` the margin:

* ``L > 0`` and ``U >= m``: **reproduced** (an effect in the claimed direction);
* ``L > 0`` and ``U < m``: **partly reproduced** (an effect, but smaller than the paper implies);
* ``L <= 0`` and ``U < m``: **not reproduced** (the effect the paper implies is excluded: an
  equivalence bound, or a significant effect the other way);
* otherwise **inconclusive**, with the number of units that would decide it.

A claim with ``k > 1`` parts uses Bonferroni-adjusted intervals (level ``1 - 0.05 / k``) and is
reproduced if every part is, partly reproduced if at least one part shows its effect, not
reproduced if no part shows its effect and at least one is excluded, inconclusive otherwise.
A claim the offline setting cannot test returns **not tested here** with what would test it.

Every rule is calibrated (:func:`calibrate`): its evidence is simulated at the chapter's sample
size under the null and under a planted effect of the margin's size, and the false-pass rate
(reproduced or partly under the null) must stay at or below 5 %.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Callable, Mapping, Sequence

import numpy as np

from saliency_utils.evaluate import stats

__all__ = ["REPRODUCED", "PARTLY", "NOT_REPRODUCED", "INCONCLUSIVE", "NOT_TESTED", "VERDICTS",
           "Rule", "Test", "RuleChange", "Claim", "PartResult", "Verdict", "Calibration",
           "estimate", "calibrate", "with_n", "NullRate", "null_pass_rate", "simulate_normal",
           "simulate_sign", "simulate_correlation"]

REPRODUCED, PARTLY, NOT_REPRODUCED = "reproduced", "partly reproduced", "not reproduced"
INCONCLUSIVE, NOT_TESTED = "inconclusive", "not tested here"
VERDICTS = (REPRODUCED, PARTLY, NOT_REPRODUCED, INCONCLUSIVE, NOT_TESTED)

#: Family-wise error rate of one claim (two-sided intervals; a one-sided false pass is half).
ALPHA = 0.05


# --------------------------------------------------------------------------- simulation
def simulate_normal(sd: float) -> Callable:
    """Per-unit values ~ Normal(null + direction * effect, sd)."""
    def sim(rng: np.random.Generator, n: int, shift: float) -> np.ndarray:
        return rng.normal(shift, sd, n)
    sim.describe = f"normal, SD {sd:g}"
    return sim


def simulate_sign(p_tie: float) -> Callable:
    """Paired differences of two 0/1 outcomes (e.g. pointing-game hits): each unit is 0 with
    probability ``p_tie``, else +1 or -1 with a mean ``shift``."""
    def sim(rng: np.random.Generator, n: int, shift: float) -> np.ndarray:
        q = 1 - p_tie
        p_plus = min(max((q + shift) / 2, 0.0), q)
        u = rng.random(n)
        return np.where(u < p_plus, 1.0, np.where(u < q, -1.0, 0.0))
    sim.describe = f"paired 0/1 outcomes, {100 * p_tie:.0f} % ties"
    return sim


def simulate_correlation() -> Callable:
    """Pairs (x, y) with Spearman's ρ about ``shift`` (Gaussian copula)."""
    def sim(rng: np.random.Generator, n: int, shift: float) -> np.ndarray:
        r = float(np.clip(2 * math.sin(math.pi * shift / 6), -0.999, 0.999))  # Pearson for ρ_s
        x = rng.normal(size=n)
        y = r * x + math.sqrt(1 - r * r) * rng.normal(size=n)
        return np.column_stack([x, y])
    sim.describe = "bivariate normal pairs"
    return sim


# --------------------------------------------------------------------------- rule
@dataclass(frozen=True)
class Rule:
    """The decision rule of one part (see the module docstring). ``null``: the measure's value
    without an effect; ``margin``: the smallest effect that would matter (> 0, measured from
    ``null`` in the claimed ``direction``, +1 for an increase, -1 for a decrease)."""

    null: float
    margin: float
    direction: int = 1
    version: str = "2026-12-03"

    def __post_init__(self):
        if self.direction not in (1, -1):
            raise ValueError("direction must be +1 or -1")
        if not self.margin > 0:
            raise ValueError(f"the margin must be > 0 (in the claimed direction), got {self.margin}")

    def bounds(self, est: stats.Estimate) -> tuple[float, float]:
        """The interval of the effect in the claimed direction, relative to the null."""
        if self.direction == 1:
            return est.lo - self.null, est.hi - self.null
        return self.null - est.hi, self.null - est.lo

    def decide(self, est: stats.Estimate) -> str:
        if any(math.isnan(v) for v in (est.lo, est.hi)):
            return INCONCLUSIVE
        low, high = self.bounds(est)
        if low > 0:
            return REPRODUCED if high >= self.margin else PARTLY
        return NOT_REPRODUCED if high < self.margin else INCONCLUSIVE

    def text(self, measure: str, level: float = 0.95, fmt: str = "{:g}") -> str:
        """The rule in words, for the page and the scorecard."""
        word = "above" if self.direction == 1 else "below"
        bound = self.null + self.direction * self.margin
        f = fmt.format
        return (f"reproduced if the {100 * level:.4g} % CI of {measure} lies {word} {f(self.null)}; "
                f"partly if it does but excludes {f(bound)} (the smallest effect that matters); "
                f"not reproduced if it excludes {f(bound)} without lying {word} {f(self.null)}; "
                "otherwise inconclusive")


# --------------------------------------------------------------------------- test (a part)
ESTIMATORS = ("mean", "spearman", "max")


@dataclass(frozen=True)
class Test:
    """One measured part of a claim.

    ``measure``: what is estimated, in words (e.g. "mean paired difference in pointing-game
    hits, SR - LRP"); ``unit``: the unit of analysis ("image", "class", "unit", "layer");
    ``rule``: the :class:`Rule`; ``simulate``: ``(rng, n, shift) -> values``, the evidence
    simulated for the calibration (``shift`` is the measure's true value); ``n_offline``: the
    number of units the chapter uses in the offline profile; ``sd``: the planning SD of one
    unit's value (for the sample size a verdict would need); ``estimator``: ``"mean"`` (1-D
    per-unit values; BCa bootstrap CI, Student's t below 30 units), ``"spearman"`` (an
    ``(n, 2)`` array of pairs, Fisher-z CI), ``"max"`` (the largest per-unit value, for a
    deterministic check that must hold on every unit: the "interval" is the value itself, so
    with ``direction=-1`` the rule reproduces only if every unit lies below ``null`` and says
    not reproduced as soon as one does not) or a callable ``values -> float`` bootstrapped over
    the rows; ``why``: where the margin comes from."""

    name: str
    measure: str
    unit: str
    rule: Rule
    simulate: Callable
    n_offline: int
    sd: float | None = None
    estimator: str | Callable = "mean"
    fmt: str = "{:+.3f}"
    why: str = ""  # where the margin comes from (the paper's number, a convention, ...)

    def estimate(self, values, level: float = 0.95, seed: int = 0) -> stats.Estimate:
        return estimate(self.estimator, values, level, seed)

    def n_needed(self, sd: float | None = None, level: float = 0.95) -> int | None:
        """Units for 80 % power to show an effect of the margin's size (normal approximation;
        ``None`` where it does not apply)."""
        sd = self.sd if sd is None or not np.isfinite(sd) or sd <= 0 else sd
        if self.estimator != "mean" or not sd:
            return None
        return stats.n_for_power(sd, self.rule.margin, level=level)


def estimate(estimator, values, level: float = 0.95, seed: int = 0,
             n_boot: int = stats.N_BOOT) -> stats.Estimate:
    """Turn per-unit values into an estimate with its ``level`` CI."""
    if estimator == "mean":
        return stats.mean_ci(values, level=level, seed=seed, n_boot=n_boot)
    if estimator == "spearman":
        v = np.asarray(values, float)
        if v.ndim != 2 or v.shape[1] != 2:
            raise ValueError("the spearman estimator needs an (n, 2) array of pairs")
        return stats.spearman_ci(v[:, 0], v[:, 1], level=level, pvalue=False)
    if estimator == "max":
        v = np.asarray(values, float)
        if v.ndim != 1 or v.size == 0 or not np.all(np.isfinite(v)):
            raise ValueError("the max estimator needs a non-empty 1-D array of finite values")
        top = float(v.max())
        return stats.Estimate(top, top, top, int(v.size), level,
                              "largest per-unit value (a deterministic check: no sampling "
                              "interval)", values=v)
    if callable(estimator):
        return stats.bootstrap_ci(values, estimator, level=level, seed=seed, n_boot=n_boot)
    raise ValueError(f"unknown estimator {estimator!r}; use one of {ESTIMATORS} or a callable")


# --------------------------------------------------------------------------- claim
@dataclass(frozen=True)
class RuleChange:
    """A dated record of a rule changed after a result was seen."""

    date: str
    old_rule: str
    old_result: str
    why: str


@dataclass(frozen=True)
class PartResult:
    test: Test
    estimate: stats.Estimate | None
    verdict: str
    power: float | None = None

    def text(self) -> str:
        if self.estimate is None:
            return f"{self.test.name}: not measured"
        e = self.estimate
        if math.isnan(e.lo) or math.isnan(e.hi):
            return (f"{self.test.name}: {self.test.fmt.format(e.value)} [no interval: {e.method}] "
                    f"(n = {e.n})")
        return f"{self.test.name}: {e.text(self.test.fmt)} (n = {e.n})"


@dataclass(frozen=True)
class Verdict:
    """The registry's decision on one claim, with everything the page and scorecard show."""

    claim: "Claim"
    verdict: str
    parts: tuple[PartResult, ...]
    level: float
    note: str = ""

    @property
    def estimate_text(self) -> str:
        if self.verdict == NOT_TESTED:
            return "—"
        return "; ".join(p.text() for p in self.parts)

    @property
    def n_text(self) -> str:
        ns = sorted({p.estimate.n for p in self.parts if p.estimate is not None})
        return ", ".join(str(n) for n in ns) if ns else "—"

    @property
    def power_text(self) -> str:
        pw = [p.power for p in self.parts if p.power is not None]
        return "—" if not pw else ", ".join(f"{x:.2f}" for x in pw)

    @property
    def decides_with(self) -> str:
        """For an inconclusive verdict: the number of units that would decide it."""
        if self.verdict != INCONCLUSIVE:
            return ""
        need = [(p.test.name, p.test.n_needed(p.estimate.sd if p.estimate is not None else None,
                                              self.level))
                for p in self.parts if p.verdict == INCONCLUSIVE]
        need = [(k, n) for k, n in need if n]
        return "; ".join(f"{k}: about {n} {plural(self.claim.test(k).unit)} for 80 % power"
                         for k, n in need)

    def part(self, name: str) -> PartResult:
        """The result of the claim's part ``name`` (its test, estimate, verdict and power)."""
        self.claim.test(name)  # a clear error for a name the claim does not have
        return next(p for p in self.parts if p.test.name == name)

    def close_calls(self, frac: float = 0.1) -> list[tuple[str, str, float]]:
        """The measured parts whose verdict turns on a bound that lies within ``frac`` of the
        interval's width of the rule's threshold (the null, for whether an effect is shown; the
        margin, for whether it is as large as the paper implies): ``[(part, "null" or "margin",
        distance in the measure's units)]``. Such a verdict could change with a few more or
        other units, whatever its power."""
        out = []
        for p in self.parts:
            e = p.estimate
            if e is None or math.isnan(e.lo) or math.isnan(e.hi) or e.hi <= e.lo:
                continue
            low, high = p.test.rule.bounds(e)
            width = high - low
            for which, dist in (("null", low), ("margin", high - p.test.rule.margin)):
                if abs(dist) <= frac * width:
                    out.append((p.test.name, which, float(dist)))
        return out

    def row(self) -> dict:
        return {"claim": f"{self.claim.id}: {self.claim.text}", "verdict": self.verdict,
                "estimate [CI]": self.estimate_text, "n": self.n_text,
                "rule": self.claim.rule_text(), "power": self.power_text,
                "note": " ".join(x for x in (self.note, self.decides_with) if x)}


def plural(unit: str) -> str:
    """A unit of analysis in the plural ("image" -> "images", "class" -> "classes")."""
    return unit + ("es" if unit.endswith(("s", "x", "ch", "sh")) else "s")


@dataclass(frozen=True)
class Claim:
    """One claim of a paper (or a question of the cross-paper chapter), declared once."""

    id: str
    paper: str
    section: str
    text: str
    tests: tuple[Test, ...] = ()
    label: str = ""  # the MyST label of the chapter section that tests it
    not_tested: str = ""  # why the offline setting cannot test it, and what would
    history: tuple[RuleChange, ...] = ()

    def __post_init__(self):
        if not self.tests and not self.not_tested:
            raise ValueError(f"claim {self.id}: give tests, or say why it is not tested")
        names = [t.name for t in self.tests]
        if len(set(names)) != len(names):
            raise ValueError(f"claim {self.id}: part names must be unique, got {names}")

    def test(self, name: str) -> Test:
        """The part ``name`` of this claim (its measure, unit, estimator and rule)."""
        for t in self.tests:
            if t.name == name:
                return t
        raise ValueError(f"claim {self.id} has no part {name!r}; its parts: "
                         f"{[t.name for t in self.tests]}")

    @property
    def level(self) -> float:
        """Confidence level of each part's interval (Bonferroni over the parts)."""
        return 1 - ALPHA / max(1, len(self.tests))

    def rule_text(self) -> str:
        if not self.tests:
            return f"not tested here: {self.not_tested}"
        lv = self.level
        parts = [f"{t.name} ({plural(t.unit)}): " + t.rule.text(t.measure, lv) for t in self.tests]
        if len(parts) == 1:
            return parts[0]
        return (" | ".join(parts) + f" | Claim: reproduced if every part is; partly if at "
                "least one part shows its effect; not reproduced if none does and at least "
                f"one is excluded; otherwise inconclusive ({len(parts)} parts, Bonferroni: "
                f"{100 * lv:.4g} % CIs)")

    def rule_short(self) -> str:
        """The rule in one line, for the scorecard: each part's side and null, its margin, and
        the CI level (the chapter shows the full text of :meth:`rule_text`)."""
        if not self.tests:
            return "not tested here (the chapter says why and what would test it)"
        parts = [f"{t.name}: {'>' if t.rule.direction == 1 else '<'} {t.rule.null:g}, margin "
                 f"{t.rule.margin:g}" for t in self.tests]
        level = f" ({100 * self.level:.4g} % CI" + ("s, Bonferroni)" if len(parts) > 1 else ")")
        return "; ".join(parts) + level

    def combine(self, verdicts: Sequence[str]) -> str:
        if len(verdicts) == 1:
            return verdicts[0]
        if all(v == REPRODUCED for v in verdicts):
            return REPRODUCED
        if any(v in (REPRODUCED, PARTLY) for v in verdicts):
            return PARTLY
        if any(v == NOT_REPRODUCED for v in verdicts):
            return NOT_REPRODUCED
        return INCONCLUSIVE

    def decide(self, values: dict | Sequence | np.ndarray | None = None, *, note: str = "",
               power: bool = True, seed: int = 0, n_sim: int = 200,
               unmeasured: Mapping[str, str] | None = None) -> Verdict:
        """Decide from per-unit values: a dict ``{part name: values}`` (or the values alone for
        a one-part claim). ``power``: also estimate each part's power at the observed n (a
        simulation with the observed SD for mean estimators). ``unmeasured``: ``{part name:
        why}`` for parts this run could not measure (e.g. a control that failed its own
        check): such a part is inconclusive, so the claim is at most partly reproduced, and the
        reason is added to the note."""
        unmeasured = dict(unmeasured or {})
        if not self.tests:
            return Verdict(self, NOT_TESTED, (), self.level, note)  # the why is the rule text
        if values is None:
            raise ValueError(f"claim {self.id}: per-unit values are required")
        if not isinstance(values, dict):
            if len(self.tests) != 1:
                raise ValueError(f"claim {self.id} has {len(self.tests)} parts: pass a dict "
                                 f"keyed by {[t.name for t in self.tests]}")
            values = {self.tests[0].name: values}
        names = {t.name for t in self.tests}
        missing = names - set(values) - set(unmeasured)
        extra = (set(values) | set(unmeasured)) - names
        both = set(values) & set(unmeasured)
        if missing or extra or both:
            raise ValueError(f"claim {self.id}: missing parts {sorted(missing)}, "
                             f"unknown parts {sorted(extra)}, parts both given and unmeasured "
                             f"{sorted(both)}")
        results = []
        for t in self.tests:
            if t.name in unmeasured:
                results.append(PartResult(t, None, INCONCLUSIVE, None))
                continue
            est = t.estimate(values[t.name], self.level, seed)
            pw = None
            if power:  # at the observed n, with the observed SD where the estimator is a mean
                sim = t.simulate
                if t.estimator == "mean" and np.isfinite(est.sd) and est.sd > 0:
                    sim = simulate_normal(est.sd)
                pw = _rate(self, t, sim, est.n, t.rule.null + t.rule.direction * t.rule.margin,
                           (REPRODUCED, PARTLY), n_sim, seed)
            results.append(PartResult(t, est, t.rule.decide(est), pw))
        why = " ".join(f"{k}: not measured ({v})." for k, v in unmeasured.items())
        return Verdict(self, self.combine([r.verdict for r in results]), tuple(results),
                       self.level, " ".join(x for x in (note, why) if x))

    def not_tested_here(self, why: str) -> Verdict:
        """A verdict of 'not tested here' for a run that cannot test this claim."""
        return Verdict(self, NOT_TESTED, (), self.level, why)


# --------------------------------------------------------------------------- calibration
def _rate(claim: Claim, test: Test, sim: Callable, n: int, shift: float,
          outcomes: tuple[str, ...], n_sim: int, seed: int) -> float:
    """Share of ``n_sim`` simulated samples of one part whose verdict is in ``outcomes``."""
    rng = np.random.default_rng(seed + 7919)
    hits = 0
    for _ in range(n_sim):
        hits += _simulated_verdict(claim, test, sim, n, shift, rng) in outcomes
    return hits / n_sim


def _simulated_verdict(claim: Claim, test: Test, sim: Callable, n: int, shift: float,
                       rng: np.random.Generator) -> str:
    v = sim(rng, n, shift)
    try:
        est = estimate(test.estimator, v, claim.level, seed=int(rng.integers(1 << 31)),
                       n_boot=1000)
    except ValueError as e:  # only a constant simulated sample for a rank correlation
        if "constant" in str(e):
            return INCONCLUSIVE
        raise ValueError(f"claim {claim.id}, part {test.name!r}: its simulated evidence does not "
                         f"fit its estimator ({e})") from e
    return test.rule.decide(est)


@dataclass(frozen=True)
class Calibration:
    """How a claim's rule behaves on simulated evidence at ``n`` units per part."""

    claim_id: str
    n: str  # units per part, e.g. "1300" or "1300, 12"
    false_pass: float  # P(reproduced or partly | no effect in any part)
    power: float  # P(reproduced or partly | every part has the margin's effect)
    power_full: float  # P(reproduced | every part has the margin's effect)
    false_fail: float  # P(not reproduced | every part has the margin's effect)
    n_sim: int
    simulation: str


def calibrate(claim: Claim, n: int | dict | None = None, n_sim: int = 400,
              seed: int = 0) -> Calibration:
    """Simulate the claim's evidence ``n_sim`` times at ``n`` units per part (default: each
    part's ``n_offline``; a dict gives one n per part name) under the global null (no part has
    an effect) and with every part at its margin's effect; return the rates of the outcomes.
    The parts are simulated independently (Bonferroni holds under any dependence)."""
    if not claim.tests:
        raise ValueError(f"claim {claim.id} is not tested here: nothing to calibrate")
    ns = {t.name: (n.get(t.name, t.n_offline) if isinstance(n, dict) else (n or t.n_offline))
          for t in claim.tests}
    rng = np.random.default_rng(seed)
    counts = {"null": [], "effect": []}
    for scenario in counts:
        for _ in range(n_sim):
            vs = []
            for t in claim.tests:
                r = t.rule
                shift = r.null if scenario == "null" else r.null + r.direction * r.margin
                vs.append(_simulated_verdict(claim, t, t.simulate, ns[t.name], shift, rng))
            counts[scenario].append(claim.combine(vs))
    null, eff = np.array(counts["null"]), np.array(counts["effect"])
    passed = (REPRODUCED, PARTLY)
    return Calibration(claim.id, ", ".join(str(ns[t.name]) for t in claim.tests),
                       float(np.isin(null, passed).mean()), float(np.isin(eff, passed).mean()),
                       float((eff == REPRODUCED).mean()), float((eff == NOT_REPRODUCED).mean()),
                       n_sim, "; ".join(getattr(t.simulate, "describe", "custom")
                                        for t in claim.tests))


def with_n(test: Test, n: int) -> Test:
    """The same part planned for ``n`` units (e.g. a smoke run)."""
    return replace(test, n_offline=n)




@dataclass(frozen=True)
class NullRate:
    """How often one part's rule passes on real data without an effect (:func:`null_pass_rate`):
    ``passed`` of ``n`` samples, with its exact (Clopper-Pearson) 95 % CI."""

    claim_id: str
    part: str
    passed: int
    n: int
    lo: float
    hi: float

    @property
    def rate(self) -> float:
        return self.passed / self.n

    def text(self) -> str:
        return f"{self.rate:.3f} [{self.lo:.3f}, {self.hi:.3f}] ({self.passed} of {self.n})"


def null_pass_rate(claim: Claim, part: str, samples: Sequence, seed: int = 0) -> NullRate:
    """The share of ``samples`` (per-unit values computed on real data with the effect removed,
    e.g. category masks re-paired with the images at random) for which part ``part`` of
    ``claim`` says reproduced or partly at the claim's level: the rule's false-pass rate on the
    chapter's own data, beside the simulated :func:`calibrate`."""
    from scipy.stats import binomtest

    test = claim.test(part)
    if not len(samples):
        raise ValueError("no null samples")
    passed = 0
    for i, v in enumerate(samples):
        est = estimate(test.estimator, v, claim.level, seed=seed + i, n_boot=2000)
        passed += test.rule.decide(est) in (REPRODUCED, PARTLY)
    ci = binomtest(passed, len(samples)).proportion_ci(0.95, method="exact")
    return NullRate(claim.id, part, passed, len(samples), float(ci.low), float(ci.high))
