"""Classification fine-tuning on the saliency training images (smoke size)."""
import numpy as np
import pytest
import torch

from saliency_utils.training import classification as tt
from saliency_utils.training import saliency as training


def test_rotation_batch():
    x = torch.arange(2 * 3 * 4 * 4, dtype=torch.float32).reshape(2, 3, 4, 4)
    r = tt.rotation_batch(x, torch.tensor([0, 1]))
    assert torch.equal(r[0], x[0])
    assert torch.equal(r[1], torch.rot90(x[1], 1, dims=(-2, -1)))
    with pytest.raises(ValueError):
        tt.rotation_batch(torch.zeros(1, 3, 4, 5), torch.tensor([1]))


def test_deterministic_cached_and_changes_the_encoder(model_cache):
    cfg = tt.TaskConfig(base=training.PRESETS["smoke"])
    a = tt.load_or_train_task(cfg, progress=False)
    assert not a.from_cache
    b = tt.load_or_train_task(cfg, progress=False)
    assert b.from_cache
    m2, _ = tt.train_task(cfg, progress=False)
    for k, v in a.state_dict().items():
        assert torch.equal(v.cpu(), b.state_dict()[k].cpu()), k
        assert torch.equal(v.cpu(), m2.state_dict()[k].cpu()), k
    fresh = tt.TaskModel(cfg.base, 4)
    w0 = dict(fresh.net.encoder.named_parameters())
    changed = [n for n, p in a.net.encoder.named_parameters()
               if not n.startswith("_fc.") and not torch.equal(p.cpu(), w0[n].cpu())]
    assert len(changed) > 10
    assert a.history["classes"] == ["0", "90", "180", "270"]
    acc = tt.task_accuracy(a, [np.zeros((60, 80, 3), np.uint8) + 100] * 4)
    assert 0 <= acc <= 1


def test_csv_labels(tmp_path, model_cache):
    ids = training.train_ids(training.PRESETS["smoke"])
    p = tmp_path / "labels.csv"
    p.write_text("image,label\n" + "".join(f"{i},{'indoor' if k % 2 else 'outdoor'}\n"
                                            for k, i in enumerate(ids)))
    assert tt.read_labels_csv(p)[ids[1]] == "indoor"
    cfg = tt.TaskConfig(base=training.PRESETS["smoke"], task="csv", labels_csv=str(p))
    m, h = tt.train_task(cfg, progress=False)
    assert h["classes"] == ["indoor", "outdoor"] and m.n_classes == 2
    bad = tmp_path / "bad.csv"
    bad.write_text("img,cls\n1001,a\n")
    with pytest.raises(ValueError):
        tt.read_labels_csv(bad)
    with pytest.raises(ValueError):
        tt.TaskConfig(task="csv")
    short = tmp_path / "short.csv"
    short.write_text(f"image,label\n{ids[0]},a\n{ids[1]},b\n")
    with pytest.raises(ValueError):
        tt.train_task(tt.TaskConfig(base=training.PRESETS["smoke"], task="csv",
                                    labels_csv=str(short)), progress=False)
