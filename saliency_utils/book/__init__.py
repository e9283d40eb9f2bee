"""Book tooling and chapter glue; its extra dependencies are the ``book`` extra of
``pyproject.toml`` (papermill, nbformat, Jupyter Book, ipywidgets). The library subpackages
(``data``, ``models``, ``training``, ``explain``, ``evaluate``, ``analysis``) never import from
here; :mod:`saliency_utils.claims` imports :mod:`.report` lazily, to glue its verdicts.

Run profiles and every chapter's settings (:mod:`.profiles`); the papermill pipeline and the
render (:mod:`.pipeline`) with its dependency-keyed execution cache (:mod:`.buildcache`), the
datasets a chapter needs (:mod:`.datadeps`) and the trained models the chapters share
(:mod:`.models`); the rendered-site check in headless Chromium (:mod:`.sitecheck`); the
benchmarks page (:mod:`.benchreport`); glue, tables, the chapters' one timer
(``report.Timings``) and figures (:mod:`.report`, :mod:`.plotting`) and browsable views
(:mod:`.explorers`); chapter-only glue: chapter 5's log-Gabor analysis of one network in one
call (:mod:`.loggabor_analysis`) and chapter 6's cross-paper comparison (:mod:`.crosspaper`).
"""
