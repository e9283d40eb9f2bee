"""Write chapter notebooks from a compact cell list (used to author notebooks; the committed
.ipynb files are the source of truth and carry no outputs)."""
from __future__ import annotations

import nbformat

COLAB_SETUP = '''# Colab only: install the helper package and fetch this chapter's data (sha256-verified).
import sys
if "google.colab" in sys.modules:
    %pip install -q "saliency-utils @ git+https://github.com/deep-saliency-book/deep-saliency-book@main"
    from saliency_utils.data import ensure_dataset
    for _name in DATASETS:
        ensure_dataset(_name)'''


def build(cells, path, datasets):
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    first = nbformat.v4.new_code_cell(f"DATASETS = {datasets!r}\n" + COLAB_SETUP)
    first.metadata["tags"] = ["remove-cell"]
    out = [first]
    for kind, src, *tags in cells:
        c = nbformat.v4.new_markdown_cell(src) if kind == "md" else nbformat.v4.new_code_cell(src)
        if tags:
            c.metadata["tags"] = list(tags[0])
        out.append(c)
    # the title must be the first markdown cell: put it before the setup cell
    if out[1].cell_type == "markdown":
        out[0], out[1] = out[1], out[0]
    nb.cells = out
    nbformat.validate(nb)
    nbformat.write(nb, path)
