"""Command line: ``python -m saliency_utils <command>``.

Commands:
  models   train every model the chapters share, once each (``--profile``, ``--only``)
  execute  run every chapter headless with papermill (``--profile``, ``--out``, ``--only``);
           cached chapters whose dependencies did not change are copied (``--force``: rerun)
  render   build the HTML book from executed chapters (``--executed``, ``--out``)
  data     resolve / download / verify a dataset of the offline bundle (``--verify``)
  predict  one saliency PNG per image of a folder (``--images``, ``--out``, ``--checkpoint``)
  evaluate score saliency maps (``--maps``, or the book's model) and the centre-bias anchor on
           any eye-tracking set given as images plus fixations (``--images``, ``--fixations``,
           ``--out``; ``python -m saliency_utils evaluate --help`` documents the formats)
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m saliency_utils", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)

    e = sub.add_parser("execute", help="execute chapters with papermill")
    e.add_argument("--profile", default="offline")
    e.add_argument("--out", type=Path, default=None)
    e.add_argument("--only", nargs="*", help="chapter names (notebook stems) to run")
    e.add_argument("--force", action="store_true",
                   help="re-execute every chapter (ignore the execution cache)")
    e.add_argument("--cache", type=Path, default=None,
                   help="execution cache folder (default: <out>/.cache)")
    e.add_argument("--no-models", action="store_true",
                   help="skip the model step (chapters then train missing models themselves)")
    e.add_argument("--root", type=Path, default=None,
                   help="book sources (_toc.yml, notebooks/); default: this checkout")
    e.add_argument("--log-output", action="store_true",
                   help="show what the chapters print while they run (their progress lines)")

    m = sub.add_parser("models", help="train the models the chapters share (once each)")
    m.add_argument("--profile", default="offline")
    m.add_argument("--only", nargs="*", help="chapter names (notebook stems) whose models")
    m.add_argument("--report", type=Path, default=None,
                   help="write what was trained or found, with seconds, as JSON here")

    r = sub.add_parser("render", help="render executed chapters with Jupyter Book")
    r.add_argument("--executed", type=Path, required=True)
    r.add_argument("--out", type=Path, default=Path("_build"))
    r.add_argument("--root", type=Path, default=None,
                   help="book sources (_toc.yml, book/); default: this checkout")

    d = sub.add_parser("data", help="resolve (and download if allowed) a dataset")
    d.add_argument("dataset", nargs="?", help="dataset name; omit to list them")
    d.add_argument("--pattern", default=None, help="glob of files within the dataset")
    d.add_argument("--verify", action="store_true", help="check sha256 of every file")

    pr = sub.add_parser("predict", help="saliency maps (8-bit grey PNGs) for a folder of images",
                        description="One 8-bit grey PNG per image (same base name and size; "
                        "names that would clash get the full input name). The folders are "
                        "checked and the inputs listed before the model is loaded. Unreadable "
                        "inputs (broken files, dangling links) are reported and skipped. Exit "
                        "status 0: all written, 1: some inputs skipped, 2: usage or I/O error "
                        "(nothing done). Default model: the offline preset, trained on first use "
                        "and cached.")
    pr.add_argument("--images", type=Path, required=True,
                    help="folder of images (JPEG, PNG, BMP, TIFF, WebP, GIF, PNM)")
    pr.add_argument("--out", type=Path, required=True,
                    help="output folder (created; must be writable and differ from --images)")
    pr.add_argument("--checkpoint", type=Path, default=None,
                    help="model checkpoint (.pt from saliency_utils.training.saliency); default: the "
                    "offline preset's cached model")
    pr.add_argument("--quiet", action="store_true", help="no progress bar")

    from saliency_utils.evaluate import cli as evaluate_cli

    ev = sub.add_parser("evaluate", help="score saliency maps and the centre bias on images plus "
                        "fixations (means with 95 % CIs, per-image CSV)",
                        formatter_class=argparse.RawDescriptionHelpFormatter,
                        description="Score saliency maps (yours, --maps, or the book's saliency "
                        "model's) and a Gaussian centre-bias anchor on the same images against "
                        "human fixations; print each metric's mean with a 95 % confidence "
                        "interval over images and the paired difference maps minus centre "
                        "bias; write per-image scores to --out. Everything is checked before "
                        "a model is loaded.", epilog=evaluate_cli.FORMAT)
    evaluate_cli.add_arguments(ev)

    args = p.parse_args(argv)
    if args.cmd == "execute":
        from saliency_utils.book.pipeline import execute

        out = args.out or Path("_build/executed") / args.profile
        return 1 if execute(args.profile, out, only=args.only, root=args.root,
                            force=args.force, cache=args.cache,
                            models=not args.no_models, log_output=args.log_output) else 0
    if args.cmd == "models":
        from saliency_utils.book.models import train_models
        from saliency_utils.book.profiles import PROFILES

        if args.profile not in PROFILES:
            p.error(f"unknown profile {args.profile!r}; choose one of {', '.join(PROFILES)}")
        report = train_models(args.profile, args.only)
        if args.report:
            import json

            args.report.parent.mkdir(parents=True, exist_ok=True)
            args.report.write_text(json.dumps(report, indent=2))
        return 0
    if args.cmd == "render":
        from saliency_utils.book.pipeline import render

        return render(args.executed, args.out, root=args.root)
    if args.cmd == "data":
        from . import data

        if not args.dataset:
            for name, desc in data.DATASETS.items():
                print(f"{name:<24} {desc['description']}")
            return 0
        folder = data.ensure_dataset(args.dataset, pattern=args.pattern)
        print(folder)
        if args.verify:
            n = data.verify(args.dataset, pattern=args.pattern)
            print(f"{n} file(s) match the manifest's sha256")
        return 0
    if args.cmd == "predict":
        from saliency_utils.models.predict import main as predict_main

        return predict_main(args)
    if args.cmd == "evaluate":
        return evaluate_cli.main(args)
    return 2


if __name__ == "__main__":
    sys.exit(main())
