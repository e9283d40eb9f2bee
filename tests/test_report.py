import pytest

from saliency_utils.book import report


def test_claims_glue_verdicts_keys(monkeypatch):
    import numpy as np

    from saliency_utils import claims

    seen = {}
    monkeypatch.setattr(report, "glue", lambda k, v, display=False: seen.__setitem__(k, repr(v)))
    c = claims.Claim("test.c", "p", "§1", "claim A", (claims.Test(
        "x", "mean x", "image", claims.Rule(0.0, 0.1), claims.simulate_normal(1.0), 50, 1.0),))
    nt = claims.Claim("test.nt", "p", "§2", "claim B", not_tested="no weights")
    vs = [c.decide(np.random.default_rng(0).normal(1.0, 1.0, 50), power=False), nt.decide()]
    assert claims.glue_verdicts("ch9", vs, "net on data") == 2
    assert seen["ch9_id_1"] == "test.c" and seen["ch9_claim_2"] == "claim B"
    assert seen["ch9_verdict_1"] == "reproduced" and seen["ch9_verdict_2"] == "not tested here"
    assert seen["ch9_estimate_1"].startswith("x: +") and seen["ch9_n_1"] == "50"
    assert seen["ch9_rule_1"] == "x: > 0, margin 0.1 (95 % CI)" and seen["ch9_network"] == "net on data"
    assert "not tested here" in seen["ch9_rule_2"]
    with pytest.raises(ValueError, match="no verdicts"):
        claims.glue_verdicts("x", [], "n")


def test_mean_table():
    t = report.mean_table({"m": [{"NSS": 1.0}, {"NSS": 2.0}]})
    assert t.loc["m", "NSS"] == 1.5 and t.loc["m", "images"] == 2
    with pytest.raises(ValueError):
        report.mean_table({"m": []})


def test_text_pastes_plain_and_escaped_html():
    t = report.Text("a < b", strong=True)
    assert repr(t) == "a < b" and t._repr_html_() == "<strong>a &lt; b</strong>"


def test_random_weights_label_everything_the_helpers_make(monkeypatch, capsys):
    import matplotlib.pyplot as plt
    import numpy as np

    from saliency_utils import claims
    from saliency_utils.book import plotting

    label = report.RANDOM_WEIGHTS_LABEL
    assert report.weights_banner("ch1_gradient_saliency", "smoke") is False
    assert capsys.readouterr().out == "" and report.mark("cap") == "cap"
    try:
        assert report.weights_banner("ch1_gradient_saliency", "paper-smoke") is True
        assert label.upper() in capsys.readouterr().out
        fig = plt.figure()
        plotting.caption(fig, "VGG-16 maps")
        texts = [t.get_text() for t in fig.texts]
        plt.close(fig)
        assert label in texts and f"[{label}] VGG-16 maps" in texts
        assert report.mean_table({"m": [{"NSS": 1.0}]}).columns.name == label
        seen = {}
        monkeypatch.setattr(report, "glue", lambda k, v, display=False: seen.__setitem__(k, repr(v)))
        c = claims.Claim("test.c", "p", "§1", "claim A", (claims.Test(
            "x", "mean x", "image", claims.Rule(0.0, 0.1), claims.simulate_normal(1.0), 50, 1.0),))
        v = c.decide(np.random.default_rng(0).normal(1.0, 1.0, 50), power=False)
        claims.glue_verdicts("ch9", [v], "vgg16")
        assert seen["ch9_verdict_1"] == f"reproduced ({label})"
        assert seen["ch9_network"] == f"[{label}] vgg16"
        assert claims.verdict_table([v])["verdict"][0] == f"reproduced ({label})"
        assert v.verdict == "reproduced"  # the verdict object itself is unchanged
    finally:
        report.set_code_path_only(False)
    fig = plt.figure()
    assert label not in [t.get_text() for t in fig.texts]  # the figure hook is gone again
    plt.close(fig)


def test_timings_add_up_blocks_spans_and_keep_the_order(monkeypatch):
    clock = iter([0.0, 1.0, 3.0, 10.0, 10.5, 20.0, 26.0, 30.0])
    monkeypatch.setattr(report.time, "perf_counter", lambda: next(clock))
    t = report.Timings({"loop": 0.0})          # starts at 0
    with t("setup"):                           # 1 -> 3
        pass
    for _ in range(1):
        with t("loop"):                        # 10 -> 10.5
            pass
    t.start("across cells")                    # 20
    assert t.stop("across cells") == 6.0       # 26
    assert dict(t) == {"loop": 0.5, "setup": 2.0, "across cells": 6.0}
    assert list(t) == ["loop", "setup", "across cells"]
    assert t.total() == 30.0
    with pytest.raises(ValueError, match="was not started"):
        t.stop("never")


def test_a_timed_block_that_fails_still_counts_and_raises():
    t = report.Timings()
    with pytest.raises(RuntimeError):
        with t("failing"):
            raise RuntimeError("boom")
    assert t["failing"] >= 0
    t.start("x")
    with pytest.raises(ValueError, match="already being timed"):
        t.start("x")
