"""Reading benchmarks/results.json for the benchmarks appendix: partial files, bad files."""
import json
import math
from pathlib import Path

import numpy as np
import pytest

from saliency_utils.book import benchreport
from saliency_utils.book.benchreport import NOT_MEASURED

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
    from saliency_utils.book.benchreport import build_verdict

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


# ------------------------------------------------------------------------------ paper estimate
SC = {"fast": {"tflops": 1.0, "call_ms": 10.0, "speedup": 50.0},
      "slow": {"tflops": 0.5, "call_ms": 20.0, "speedup": 10.0}}
UNITS = {"net": {"kind": "net", "cpu_s": 2.0, "gflop": 10.0, "host_s": 0.5},
         "gpu": {"kind": "gpu", "cpu_s": 5.0, "host_s": 1.0},
         "cpu": {"kind": "cpu", "cpu_s": 3.0}}


def test_term_seconds_models_network_gpu_and_host_work():
    t = {"count": 100, "batch": 10}
    # network: 100 x 10 GFLOP at 1 TFLOP/s = 1 s, 10 calls x 10 ms, host 100 x 0.5 s
    assert benchreport.term_seconds(t, UNITS["net"], SC["fast"]) == pytest.approx(1.0 + 0.1 + 50.0)
    assert benchreport.term_seconds(t, UNITS["net"], SC["slow"]) == pytest.approx(2.0 + 0.2 + 50.0)
    # on the CPU: measured seconds, network and host
    assert benchreport.term_seconds(t, UNITS["net"], None) == pytest.approx(250.0)
    # other GPU work: CPU time / speed-up, plus host
    assert benchreport.term_seconds(t, UNITS["gpu"], SC["fast"]) == pytest.approx(10.0 + 100.0)
    # host-only work is the same everywhere, shared by parallel threads
    for sc in (None, SC["fast"]):
        assert benchreport.term_seconds({**t, "parallel": 2}, UNITS["cpu"], sc) == pytest.approx(150.0)
    # a partial last batch is a call
    assert benchreport.term_seconds({"count": 11, "batch": 10}, {**UNITS["net"], "host_s": 0},
                                    SC["fast"]) == pytest.approx(0.11 + 0.02)


def test_term_seconds_rejects_bad_terms_and_units():
    with pytest.raises(ValueError, match="negative"):
        benchreport.term_seconds({"count": -1}, UNITS["cpu"], None)
    with pytest.raises(ValueError, match="kind"):
        benchreport.term_seconds({"count": 1}, {"kind": "tpu", "cpu_s": 1.0}, None)


def test_paper_estimate_sums_terms_per_chapter_and_names_the_dominant_one():
    terms = [{"chapter": "a", "what": "small", "unit": "cpu", "count": 1},
             {"chapter": "a", "what": "big", "unit": "net", "count": 100, "batch": 10},
             {"chapter": "b", "what": "only", "unit": "gpu", "count": 2}]
    est = benchreport.paper_estimate(terms, UNITS, SC)
    assert list(est) == ["a", "b"]
    assert est["a"]["cpu"] == pytest.approx(3.0 + 250.0)
    assert est["a"]["fast"] == pytest.approx(3.0 + 51.1)
    assert est["a"]["slow"] == pytest.approx(3.0 + 52.2)
    assert est["a"]["dominant"] == "big"
    assert est["b"]["slow"] == pytest.approx(2 * (0.5 + 1.0))
    with pytest.raises(KeyError, match="'missing' of a / x was not measured"):
        benchreport.paper_estimate([{"chapter": "a", "what": "x", "unit": "missing", "count": 1}], UNITS)


def test_paper_estimate_table_and_markdown():
    assert benchreport.paper_estimate_table(None).empty
    assert benchreport.paper_estimate_table({}).empty
    chapters = {"a": {"cpu": 7200.0, "fast": 30.0, "slow": 600.0, "dominant": "big"},
                "b": {"cpu": 3 * 86400.0, "fast": 5400.0, "slow": 4 * 3600.0, "dominant": "x"}}
    est = {"chapters": chapters, "omitted": {"a": "figures"}}
    t = benchreport.paper_estimate_table({"paper_estimate": est})
    assert list(t.index) == ["a", "b", "all"]
    assert t.loc["a", "one GPU (estimate)"] == "30 s – 10 min"
    assert t.loc["a", "this CPU (estimate)"] == "2.0 h"
    assert t.loc["b", "this CPU (estimate)"] == "3.0 days"
    assert t.loc["a", "left out"] == "figures"
    assert t.loc["all", "one GPU (estimate)"] == "1.5 h – 4.2 h"
    md = benchreport.paper_estimate_markdown(est)
    assert md[0].startswith("| chapter |") and len(md) == 2 + 3
    assert "| a | 30 s – 10 min | 2.0 h | big |" in md


ROOT = Path(__file__).resolve().parents[1]


def test_readme_table_is_the_results_files_estimate(benchmark_script):
    """The README's estimate table is written from benchmarks/results.json by the script, and
    its paragraph quotes the GPU scenarios the estimate used."""
    pe = benchmark_script("paper_estimate")
    readme = (ROOT / "README.md").read_text()
    res = json.loads((ROOT / "benchmarks" / "results.json").read_text())
    est = res.get("paper_estimate")
    if est is None:
        pytest.skip("no paper-profile estimate in results.json yet")
    assert pe.readme_with_estimate(readme, est) == readme
    for name, sc in est["scenarios"].items():
        assert sc == benchreport.GPU_SCENARIOS[name]
        assert f"{sc['tflops']:g} TFLOP/s" in readme and f"{sc['call_ms']:g} ms per batch" in readme


def test_readme_with_estimate_replaces_only_between_the_markers(benchmark_script):
    pe = benchmark_script("paper_estimate")
    est = {"chapters": {"a": {"cpu": 10.0, "fast": 1.0, "slow": 2.0, "dominant": "x"}}}
    text = f"intro\n{pe.README_START}\nold\n{pe.README_END}\noutro\n"
    new = pe.readme_with_estimate(text, est)
    assert new.startswith(f"intro\n{pe.README_START}\n| chapter |")
    assert new.endswith(f"{pe.README_END}\noutro\n") and "old" not in new
    assert "| a | 1 s – 2 s | 10 s | x |" in new
    with pytest.raises(ValueError, match="markers"):
        pe.readme_with_estimate("no markers", est)


def test_workload_counts_follow_the_paper_settings(benchmark_script):
    """The estimate's workload is counted from the `paper` settings (not typed in): every
    chapter of the book with work is there, every count is positive, and a setting changes its
    term."""
    from saliency_utils.book import profiles

    pe = benchmark_script("paper_estimate")
    terms, omitted = pe.workload()
    chapters = {t["chapter"] for t in terms}
    assert chapters | {"appendix_calibration", "appendix_benchmarks"} == set(profiles.CHAPTERS) | {"models"}
    assert all(t["count"] > 0 and t["batch"] >= 1 for t in terms)
    assert set(omitted) >= chapters
    sg = [t for t in terms if t["chapter"] == "ch6_cross_paper" and t["what"] == "SmoothGrad"][0]
    cfg = profiles.settings("ch6_cross_paper", "paper")
    assert sg["count"] == cfg["sg_samples"] * (100 + 100 + 1300)


def test_build_table_keeps_conditions_out_of_the_rows():
    run = {"seconds": 9.0, "steps": {"models": 1.0, "chapters": 7.0, "render": 1.0},
           "chapters": {"ch": {"seconds": 7.0, "status": "ok"}}}
    res = {"build": {"offline": {"when": "today", "note": "idle machine", "cold": run}}}
    t = benchreport.build_table(res, ["smoke", "offline"])
    assert "note" not in t.columns and len(t) == 6
    assert t.loc[("offline", "cold"), "total (s)"] == 9.0
    assert t.loc[("smoke", "cold"), "status"] == NOT_MEASURED
    assert benchreport.build_notes(res, ["smoke", "offline"]) == ["offline (measured today): idle machine"]
    assert benchreport.build_notes(None, ["offline"]) == []


def test_cuda_check_criteria():
    """benchmarks/cuda_check.py's pass rules (the script itself needs CUDA)."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "cuda_check.py"
    spec = importlib.util.spec_from_file_location("cuda_check", path)
    cc = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(cc)
    rng = np.random.default_rng(0)
    a = rng.random((2, 20, 20))
    same = cc.gated(a + 1e-4 * rng.standard_normal(a.shape), a)
    assert cc.passed(same)
    flipped = a.copy()
    flipped[:, 3, 3] += 0.05  # one pixel routed differently: large at that pixel, small in L2
    assert cc.passed(cc.gated(flipped, a)) and cc.gated(flipped, a)["max_rel_diff (not judged)"] > cc.TOL
    assert not cc.passed(cc.gated(rng.random(a.shape), a))  # another map
    assert cc.passed({"max_rel_diff": 1e-5, "tol": cc.TOL})
    assert not cc.passed({"max_rel_diff": 0.1, "tol": cc.TOL})
    assert cc.passed({"value": "cuda:0", "expected": "cuda"})
    assert not cc.passed({"value": "cpu", "expected": "cuda"})
    assert not cc.passed({"error": "boom"}) and cc.passed({"note": "skipped: no data"})
    with pytest.raises(ValueError, match="shapes differ"):
        cc.rel_diff(np.ones(3), np.ones(4))
