"""python -m gan_jax.translate: a tiny trained pix2pix run, a fake super-resolution (SCALE) model upscaled tile by tile,
and the options a model's translate signature does not take."""

import types

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from PIL import Image

from gan_jax import runs, train, translate


def write_png(path, array):
    Image.fromarray(array).save(path)
    return str(path)


def nearest_x4(state, images, rng=None):
    """A fake super-resolution model: each pixel becomes a 4x4 block, plus the state's offset."""
    return jnp.repeat(jnp.repeat(images, 4, axis=1), 4, axis=2) * 0.5 + state["offset"]


def test_tiles_cover_the_image_and_blend_to_the_untiled_result():
    assert translate.tile_starts(10, 16, 4) == [0]
    assert translate.tile_starts(40, 16, 4) == [0, 12, 24]  # the last tile ends at 40
    image = np.random.default_rng(0).uniform(-1, 1, (1, 37, 45, 3)).astype(np.float32)
    fn = lambda x: nearest_x4({"offset": 0.1}, x)
    tiled = translate.upscale_tiled(fn, image, 4, tile=16, overlap=4)
    np.testing.assert_allclose(tiled, np.asarray(fn(image))[0], atol=1e-6)
    with pytest.raises(ValueError, match="overlap"):
        translate.upscale_tiled(fn, image, 4, tile=8, overlap=8)


def test_cli_upscales_a_large_image_with_a_scale_model(tmp_path, monkeypatch):
    fake = types.ModuleType("gan_jax.models.fake_sr")
    fake.SCALE, fake.translate = 4, nearest_x4
    monkeypatch.setattr(runs, "load_run", lambda run, step=None: (fake, types.SimpleNamespace(channels=3),
                                                                  {"offset": jnp.float32(0.0)}, {"step": 1}))
    image = np.random.default_rng(1).integers(0, 256, (30, 50, 3), dtype=np.uint8)
    path = write_png(tmp_path / "lr.png", image)
    assert translate.main(["--run", str(tmp_path), "--input", path, "--tile", "16", "--overlap", "4",
                           "--out", str(tmp_path / "out")]) == 0
    out = np.asarray(Image.open(tmp_path / "out" / "lr_x4.png"))
    expected = np.repeat(np.repeat(image, 4, 0), 4, 1).astype(np.float32)
    expected = np.round(((expected / 127.5 - 1) * 0.5 + 1) * 127.5)  # the fake model halves the contrast
    assert out.shape == (120, 200, 3) and np.abs(out - expected).max() <= 1
    assert translate.main(["--run", str(tmp_path), "--input", path, "--direction", "BtoA"]) == 1
    assert translate.main(["--run", str(tmp_path), "--input", str(tmp_path / "missing.png")]) == 1


def test_cli_on_a_tiny_pix2pix_run(tmp_path, capsys):
    run = str(tmp_path / "run")
    assert train.main(["--model", "pix2pix", "--img_height", "32", "--img_width", "32", "--unet_depth", "5",
                       "--steps", "1", "--out", run, "--no_progress", "--checkpoint_interval", "1"]) == 0
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    write_png(inputs / "a.png", np.full((20, 30, 3), 200, np.uint8))
    write_png(inputs / "b.png", np.zeros((64, 64), np.uint8))  # grayscale: converted to the model's channels
    capsys.readouterr()
    assert translate.main(["--run", run, "--input", str(inputs), "--keep_size"]) == 0
    written = capsys.readouterr().out.split()
    assert [p.rsplit("/", 1)[1] for p in written] == ["a_out.png", "b_out.png"]
    assert Image.open(written[0]).size == (30, 20)  # --keep_size: back to the input's size
    assert translate.main(["--run", run, "--input", str(inputs / "a.png"), "--out", str(tmp_path / "o")]) == 0
    assert Image.open(tmp_path / "o" / "a_out.png").size == (32, 32)  # the model's size
    assert translate.main(["--run", run, "--input", str(inputs / "a.png"), "--direction", "BtoA"]) == 1
    assert "translates one way only" in capsys.readouterr().err
    assert translate.main(["--run", run, "--input", str(inputs / "a.png"), "--n_styles", "3"]) == 1
    assert "not multimodal" in capsys.readouterr().err
    assert translate.main(["--run", run, "--input", str(inputs / "a.png"), "--attrs", "Male"]) == 1
    assert "not conditioned on attributes" in capsys.readouterr().err
    assert translate.main(["--run", run, "--input", str(inputs / "a.png"), "--style_from", str(inputs / "b.png")]) == 1
    assert "no --style_from" in capsys.readouterr().err


def test_munit_translates_with_the_styles_of_given_images(tmp_path, capsys):
    run = str(tmp_path / "run")
    assert train.main(["--model", "munit", "--img_height", "32", "--img_width", "32", "--d_scales", "1", "--dim", "8",
                       "--steps", "1", "--out", run, "--no_progress", "--checkpoint_interval", "1"]) == 0
    refs = tmp_path / "refs"
    refs.mkdir()
    write_png(tmp_path / "a.png", np.full((32, 32, 3), 120, np.uint8))
    write_png(refs / "warm.png", np.tile(np.array([250, 120, 20], np.uint8), (40, 40, 1)))  # resized to 32
    write_png(refs / "cold.png", np.tile(np.array([20, 60, 250], np.uint8), (32, 32, 1)))
    capsys.readouterr()
    assert translate.main(["--run", run, "--input", str(tmp_path / "a.png"), "--style_from", str(refs)]) == 0
    written = capsys.readouterr().out.split()
    assert [p.rsplit("/", 1)[1] for p in written] == ["a_cold.png", "a_warm.png"]  # one per reference, folder order
    cold, warm = (np.asarray(Image.open(p), np.float32) for p in written)
    assert np.abs(cold - warm).mean() > 0  # two styles, two outputs
    assert translate.main(["--run", run, "--input", str(tmp_path / "a.png"), "--style_from", str(refs),
                           "--n_styles", "2"]) == 1
    assert "not both" in capsys.readouterr().err


def test_stargan_translates_to_named_attributes_keeping_the_rest(tmp_path):
    from gan_jax.models import stargan

    config = stargan.Config(img_height=16, img_width=16, n_strided=2, residual_blocks=1, batch_size=2)
    state = stargan.init(jax.random.key(0), config)
    path = write_png(tmp_path / "face.png", np.random.default_rng(0).integers(0, 256, (16, 16, 3), dtype=np.uint8))
    names = config.selected_attrs
    flipped = translate.translate_files(stargan, config, state, [path], str(tmp_path / "all"))
    assert [p.rsplit("/", 1)[1] for p in flipped] == [f"face_{n}.png" for n in names]  # one per attribute, flipped
    written = translate.translate_files(stargan, config, state, [path], str(tmp_path / "one"),
                                        attrs=f"{names[1]},{names[3]}=0")
    assert [p.rsplit("/", 1)[1] for p in written] == ["face_attrs.png"]
    x = translate.to_model(translate.read_image(path, 3))
    target = np.asarray(stargan.classify(state, x) > 0, np.float32)  # the rest: as its classifier reads them
    target[:, 1], target[:, 3] = 1.0, 0.0
    expected = translate.to_uint8(np.asarray(stargan.translate(state, x, attrs=target))[0])
    assert np.abs(np.asarray(Image.open(written[0])).astype(int) - expected.astype(int)).max() <= 1
    with pytest.raises(ValueError, match="unknown attribute 'Bald'"):
        translate.translate_files(stargan, config, state, [path], str(tmp_path / "x"), attrs="Bald")
    with pytest.raises(ValueError, match="must be 0 or 1"):
        translate.translate_files(stargan, config, state, [path], str(tmp_path / "x"), attrs=f"{names[0]}=2")
