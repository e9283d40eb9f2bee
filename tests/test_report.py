import pandas as pd
import pytest

from saliency_utils import report


def test_glue_verdicts_keys(monkeypatch):
    seen = {}
    monkeypatch.setattr(report, "glue", lambda k, v, display=False: seen.__setitem__(k, repr(v)))
    table = pd.DataFrame([("claim A", "x = 1", "reproduced", "rule"),
                          ("claim B", "y = 2", "partly", "rule")],
                         columns=["claim", "number", "verdict", "rule"])
    assert report.glue_verdicts("ch9", table, "net on data") == 2
    assert seen == {"ch9_claim_1": "claim A", "ch9_number_1": "x = 1", "ch9_verdict_1": "reproduced",
                    "ch9_claim_2": "claim B", "ch9_number_2": "y = 2", "ch9_verdict_2": "partly",
                    "ch9_network": "net on data"}


def test_glue_verdicts_bad_tables():
    with pytest.raises(ValueError):
        report.glue_verdicts("x", pd.DataFrame(columns=["a", "b", "c"]), "n")
    with pytest.raises(ValueError):
        report.glue_verdicts("x", pd.DataFrame({"a": [1], "b": [2]}), "n")


def test_mean_table():
    t = report.mean_table({"m": [{"NSS": 1.0}, {"NSS": 2.0}]})
    assert t.loc["m", "NSS"] == 1.5 and t.loc["m", "images"] == 2
    with pytest.raises(ValueError):
        report.mean_table({"m": []})


def test_text_pastes_plain_and_escaped_html():
    t = report.Text("a < b", strong=True)
    assert repr(t) == "a < b" and t._repr_html_() == "<strong>a &lt; b</strong>"
