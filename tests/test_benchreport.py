"""Reading benchmarks/results.json for the benchmarks appendix: partial files, bad files."""
import json
import math
from pathlib import Path

import pytest

from saliency_utils import benchreport
from saliency_utils.benchreport import NOT_MEASURED

ROOT = Path(__file__).resolve().parents[1]

RES = {
    "when": "2026-01-02 03:04 UTC",
    "machine": {"python": "3.11.7", "torch": "2.14.1", "cpus": 2, "cuda": False,
                "platform": "Linux"},
    "note": "shared machine",
    "metrics": {"maps": 3, "image size": "small", "maps_per_second": {"NSS": 10.5, "CC": 2}},
    "chapters": {"smoke": {"ch_a": {"seconds": 12.5, "status": "ok", "peak_rss_mib": 800.0},
                           "old_ch": {"seconds": 3, "status": "FAILED", "peak_rss_mib": None}}},
}


def _write(tmp_path, obj):
    p = tmp_path / "results.json"
    p.write_text(obj if isinstance(obj, str) else json.dumps(obj))
    return p


def test_missing_file_means_nothing_measured(tmp_path):
    res = benchreport.load_results(tmp_path / "nope.json")
    assert res is None
    t = benchreport.chapter_table(res, ["ch_a"], ["smoke", "offline"])
    assert list(t["status"]) == [NOT_MEASURED, NOT_MEASURED]
    assert t["wall time (s)"].isna().all()
    assert benchreport.metric_table(res).empty
    assert benchreport.conditions(res).loc["measured (UTC)", "value"] == NOT_MEASURED


def test_chapter_table_fills_unmeasured_profiles_and_keeps_extra_chapters(tmp_path):
    res = benchreport.load_results(_write(tmp_path, RES))
    t = benchreport.chapter_table(res, ["ch_a", "ch_b"], ["smoke", "offline"])
    assert t.loc[("ch_a", "smoke"), "wall time (s)"] == 12.5
    assert t.loc[("ch_a", "smoke"), "peak RSS (MiB)"] == 800.0
    assert t.loc[("ch_a", "offline"), "status"] == NOT_MEASURED
    assert math.isnan(t.loc[("ch_b", "smoke"), "wall time (s)"])
    assert t.loc[("ch_b", "smoke"), "status"] == NOT_MEASURED
    # a measured chapter that is not in the book any more is still shown, after the book's
    assert t.index[-2:].tolist() == [("old_ch", "smoke"), ("old_ch", "offline")]
    assert t.loc[("old_ch", "smoke"), "status"] == "FAILED"
    assert math.isnan(t.loc[("old_ch", "smoke"), "peak RSS (MiB)"])
    assert t.index.get_level_values(0).tolist()[:4] == ["ch_a", "ch_a", "ch_b", "ch_b"]


def test_metric_table_and_conditions(tmp_path):
    res = benchreport.load_results(_write(tmp_path, RES))
    mt = benchreport.metric_table(res)
    assert mt.index.tolist() == ["NSS", "CC"] and mt["maps/s"].tolist() == [10.5, 2.0]
    c = benchreport.conditions(res)["value"]
    assert c["CPU cores"] == "2" and c["CUDA GPU"] == "no" and c["note"] == "shared machine"


def test_rows_carry_their_own_date_when_the_file_has_one(tmp_path):
    res = json.loads(json.dumps(RES))
    res["chapters"]["offline"] = {"ch_a": {"seconds": 500, "status": "ok", "peak_rss_mib": 2000,
                                           "when": "2026-02-03 04:05 UTC"}}
    t = benchreport.chapter_table(res, ["ch_a"], ["smoke", "offline"])
    assert t.loc[("ch_a", "offline"), "measured"] == "2026-02-03 04:05 UTC"
    assert t.loc[("ch_a", "smoke"), "measured"] == RES["when"]  # no own date: the run's
    assert "measured" not in benchreport.chapter_table(RES, ["ch_a"], ["smoke"]).columns
    # the offline 8-minute target: met, or by how much it is missed; none for smoke
    assert t.loc[("ch_a", "offline"), "target"] == "over by 20 s"
    assert t.loc[("ch_a", "smoke"), "target"] == ""
    res["chapters"]["offline"]["ch_a"]["seconds"] = 480
    assert benchreport.chapter_table(res, ["ch_a"], ["offline"]).loc[("ch_a", "offline"),
                                                                     "target"] == "met"
    assert "target" not in benchreport.chapter_table(RES, ["ch_a"], ["smoke"]).columns


def test_throughput_table(tmp_path):
    assert benchreport.throughput_table(RES).empty
    res = {**RES, "throughput": {"ch1 maps": {"value": 41.5, "unit": "maps/s", "what": "64 images"},
                                 "old": "12 maps/s"}}
    t = benchreport.throughput_table(res)
    assert t.loc["ch1 maps"].tolist() == [41.5, "maps/s", "64 images"]
    assert math.isnan(t.loc["old", "value"]) and t.loc["old", "what"] == "12 maps/s"
    with pytest.raises(ValueError, match="no 'value'"):
        benchreport.throughput_table({"throughput": {"x": {"unit": "s"}}})


@pytest.mark.parametrize("bad, match", [
    ("{not json", "not valid JSON"),
    ("[1, 2]", "JSON object"),
    (json.dumps({"chapters": {"smoke": [1]}}), "profile -> chapter"),
    (json.dumps({"metrics": {"maps": 3}}), "maps_per_second"),
])
def test_malformed_files_are_rejected(tmp_path, bad, match):
    with pytest.raises(ValueError, match=match):
        benchreport.load_results(_write(tmp_path, bad))


def test_empty_inputs_are_rejected():
    with pytest.raises(ValueError, match="no profile"):
        benchreport.chapter_table(None, ["a"], [])
    with pytest.raises(ValueError, match="no chapter"):
        benchreport.chapter_table(None, [], ["smoke"])


def test_the_committed_results_file_reads():
    path = ROOT / "benchmarks" / "results.json"
    if not path.is_file():
        pytest.skip("no benchmarks/results.json committed yet")
    res = benchreport.load_results(path)
    t = benchreport.chapter_table(res, ["appendix_data"], ["smoke"])
    assert ("appendix_data", "smoke") in t.index


def test_build_verdicts_say_met_or_by_how_much_a_target_is_missed():
    from saliency_utils.benchreport import build_verdict

    run = lambda total, ch=100.0: {"seconds": total, "steps": {"models": 10.0, "chapters": total - 20.0,  # noqa: E731
                                                               "render": 10.0},
                                   "chapters": {"ch": {"seconds": ch}}}
    b = {"cold": run(3622.5), "warm": run(21.2), "incremental": run(105.0), "edited chapter": "ch"}
    assert build_verdict("cold", b) == "missed by 922 s (longest step: chapters, 3602 s)"
    assert build_verdict("warm", b) == "met"
    assert build_verdict("incremental", b) == "met"  # 105 <= 100 (the chapter, cold) + 10 (render)
    b["incremental"] = run(140.0)
    assert build_verdict("incremental", b).startswith("missed by 30 s")
    assert build_verdict("cold", {}) == "" and build_verdict("incremental", {"incremental": run(5)}) == ""
