"""The saliency model: a log-density at the input size, frozen encoder, named layers, prior.

Random-weight backbones (``weights=None``) keep these tests fast and offline; a single thread
is used for them (tiny inputs gain nothing from more, and it keeps them fast when another
process keeps the cores busy).
"""
import numpy as np
import pytest
import torch

from saliency_utils.saliency_model import CentreBiasPrior, SaliencyModel


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def lite():
    torch.manual_seed(0)
    return SaliencyModel("efficientnet_lite0", weights=None,
                         readout_layers=("stage3", "stage5", "head"), readout_hidden=8,
                         input_size=(64, 96), device="cpu")


@pytest.mark.parametrize("size", [(64, 96), (70, 91), (33, 40)])
def test_output_is_a_log_density_of_the_input_size(lite, size):
    x = torch.randn(2, 3, *size)
    with torch.no_grad():
        logp = lite(x)
    assert logp.shape == (2, *size)
    assert torch.isfinite(logp).all()
    sums = logp.double().exp().flatten(1).sum(1)
    assert torch.allclose(sums, torch.ones(2, dtype=torch.float64), atol=1e-5)


def test_vgg16_paper_encoder_and_single_conv_readout():
    torch.manual_seed(0)
    m = SaliencyModel("vgg16", weights=None, readout_hidden=0, centre_bias="none", device="cpu")
    assert m.prior is None
    assert [type(c).__name__ for c in m.readout] == ["Conv2d"]
    assert m.readout.conv.kernel_size == (1, 1) and m.readout.conv.in_channels == 512
    assert "conv5_3" in m.layers and "pool5" not in m.layers and "fc6" not in m.layers
    assert len(m.encoder.features) == 30  # conv1_1 ... relu5_3, no pool5
    with torch.no_grad():
        logp = m(torch.randn(1, 3, 48, 80))
    assert logp.shape == (1, 48, 80)
    assert abs(logp.double().exp().sum().item() - 1) < 1e-6


def test_frozen_encoder_gets_no_gradient():
    torch.manual_seed(0)
    m = SaliencyModel("efficientnet_lite0", weights=None, freeze_encoder=True,
                      input_size=(64, 64), device="cpu")
    m.train()
    loss = -m(torch.randn(2, 3, 64, 64))[:, 20:40, 20:40].mean()
    loss.backward()
    assert all(not p.requires_grad and p.grad is None for p in m.encoder.parameters())
    assert all(p.grad is not None for p in m.readout.parameters())
    assert all(p.grad is not None for p in m.prior.parameters())


def test_trainable_encoder_gets_gradient_and_batchnorm_stays_frozen(lite):
    lite.train()
    bn = lite.encoder._bn0
    before = bn.running_mean.clone()
    lite.zero_grad()
    (-lite(torch.randn(2, 3, 64, 96))[:, :10, :10].mean()).backward()
    assert lite.encoder._conv_stem.weight.grad is not None
    assert not bn.training and torch.equal(bn.running_mean, before)
    assert lite.readout.training
    lite.zero_grad()
    lite.eval()


def test_named_layers_and_hooks(lite):
    acts = lite.activations(torch.randn(1, 3, 64, 96),
                            ["stage3", "stage5", "head", "readout_input", "readout_hidden",
                             "readout"])
    assert acts["stage3"].shape[1] == 40 and acts["stage5"].shape[1] == 112
    assert acts["head"].shape[1] == 1280
    # readout input: all readout layers upsampled to the finest (stride 8) and concatenated
    assert acts["readout_input"].shape == (1, 40 + 112 + 1280, 8, 12)
    assert acts["readout_hidden"].shape == (1, 8, 8, 12)
    assert acts["readout"].shape == (1, 1, 8, 12)
    assert lite.module("stage3") is lite.encoder._blocks[4]
    assert lite.layers["block0"] == "encoder._blocks.0"
    with pytest.raises(KeyError, match="unknown layer"):
        lite.module("nope")


def test_unknown_readout_layer_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown readout layer"):
        SaliencyModel("efficientnet_lite0", weights=None, readout_layers=("conv5_3",),
                      device="cpu")


def test_predict_gives_a_density_at_the_image_size(lite):
    rng = np.random.default_rng(0)
    for img in [rng.integers(0, 256, (45, 77, 3), dtype=np.uint8),
                rng.integers(0, 256, (50, 30), dtype=np.uint8),
                rng.integers(0, 256, (31, 64, 4), dtype=np.uint8)]:
        p = lite.predict(img)
        assert p.shape == img.shape[:2]
        assert np.all(p >= 0) and abs(p.sum() - 1) < 1e-9
    assert lite.input_shape_for((600, 800)) == (64, 96)  # area of 64x96, 4:3, multiples of 16
    assert lite.input_shape_for((800, 600)) == (96, 64)
    big = SaliencyModel("efficientnet_lite0", weights=None, input_size=(240, 320), device="cpu")
    assert big.input_shape_for((600, 800)) == (240, 320)  # OSIE: exactly the training size
    assert big.input_shape_for((768, 1024)) == (240, 320)
    assert big.input_shape_for((1024, 768)) == (320, 240)
    assert big.input_shape_for((5, 3000)) == (32, 2400)  # same pixel count


def test_centre_bias_prior_is_a_centred_density():
    prior = CentreBiasPrior((0.2, 0.25))
    with torch.no_grad():
        lp = prior((31, 41))[0, 0].double()
    assert abs(lp.exp().sum().item() - 1) < 1e-5
    assert torch.allclose(lp, lp.flip(0), atol=1e-5) and torch.allclose(lp, lp.flip(1), atol=1e-5)
    assert lp.argmax().item() == 15 * 41 + 20


def test_flip_average_is_mirror_symmetric(lite):
    img = np.random.default_rng(1).integers(0, 256, (48, 64, 3), dtype=np.uint8)
    p = lite.predict(img)
    q = lite.predict(img[:, ::-1])
    assert np.allclose(q, p[:, ::-1], rtol=1e-4, atol=1e-9)
    single = lite.predict(img, flip_average=False)
    assert single.shape == p.shape and not np.array_equal(single, p)
