"""The data kinds of the super-resolution and attribute models: superres (LR/HR pairs) and attributes (stargan)."""

import numpy as np
import pytest
from PIL import Image

from gan_jax import data
from gan_jax.data.kinds import attributes, superres
from gan_jax.models import srgan, stargan


def _write(path, array):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)


# ---- superres ----

def test_offline_pairs_are_bicubic_quarters_and_deterministic():
    config = srgan.Config(hr_height=32, hr_width=48)
    src = data.load("offline", "superres", img_size=config.img_size, channels=3, config=config)
    assert len(src) == 600 and len(data.load("offline", "superres", img_size=32, channels=3, split="test",
                                             config=config)) == 100
    batch = src.get(np.arange(5))
    assert batch["hr"].shape == (5, 32, 48, 3) and batch["lr"].shape == (5, 8, 12, 3)
    assert batch["hr"].dtype == np.float32 and -1 <= batch["lr"].min() and batch["lr"].max() <= 1
    superres.offline_pairs.cache_clear()
    again = data.load("offline", "superres", img_size=32, channels=3, config=config).get(np.arange(5))
    np.testing.assert_array_equal(batch["hr"], again["hr"])
    # LR and HR come from the same content: the LR upsampled is close to the HR, much closer than another image
    up = np.asarray([np.asarray(Image.fromarray(((x + 1) * 127.5).round().astype(np.uint8)).resize((48, 32),
                                                                                                  Image.BICUBIC))
                     for x in batch["lr"]]) / 127.5 - 1
    assert np.abs(up - batch["hr"]).mean() < 0.5 * np.abs(up - batch["hr"][::-1]).mean()


def test_pair_is_pil_bicubic_of_the_original():
    img = np.random.default_rng(0).integers(0, 255, (40, 40, 3), dtype=np.uint8)
    lr, hr = superres.pair(img, (16, 16), 3)
    pil = Image.fromarray(img)
    np.testing.assert_array_equal(lr, np.asarray(pil.resize((4, 4), Image.BICUBIC)))
    np.testing.assert_array_equal(hr, np.asarray(pil.resize((16, 16), Image.BICUBIC)))


def test_offline_test_split_holds_out_whole_photos(monkeypatch):
    seen = []
    real = superres.photo_crops
    monkeypatch.setattr(superres, "photo_crops", lambda names, *a: seen.append(names) or real(names, *a))
    superres.offline_pairs.cache_clear()
    superres.offline_pairs("train", (16, 16), 3)
    superres.offline_pairs("test", (16, 16), 3)
    train, test = seen
    assert sorted(test) == sorted(superres.TEST_PHOTOS) and not set(train) & set(test)
    superres.offline_pairs.cache_clear()


def test_superres_folders_and_errors(tmp_path):
    rng = np.random.default_rng(0)
    for i in range(10):
        _write(tmp_path / "hr" / f"{i:03d}.png", rng.integers(0, 255, (20, 30, 3), dtype=np.uint8))
    train = data.load(str(tmp_path / "hr"), "superres", img_size=16, channels=3)
    test = data.load(str(tmp_path / "hr"), "superres", img_size=16, channels=3, split="test")
    assert (len(train), len(test)) == (9, 1) and test.files[0].endswith("009.png")
    assert test.get([0])["lr"].shape == (1, 4, 4, 3)
    for split, n in (("train", 3), ("test", 2)):
        for i in range(n):
            _write(tmp_path / "split" / split / f"{i}.png", rng.integers(0, 255, (8, 8, 3), dtype=np.uint8))
    assert len(data.load(str(tmp_path / "split"), "superres", img_size=16, channels=1, split="test")) == 2
    with pytest.raises(data.DatasetError, match="multiple of 4"):
        data.load("offline", "superres", img_size=18, channels=3)
    with pytest.raises(data.DatasetError, match="not prepared.*tfds build div2k"):
        data.load("tfds:div2k", "superres", img_size=16, channels=3, data_dir=str(tmp_path / "tfds"))
    with pytest.raises(data.DatasetError, match="unknown dataset"):
        data.load("div2k", "superres", img_size=16, channels=3)


# ---- attributes ----

def test_offline_attributes_are_applied_and_visible():
    images, attrs = attributes.offline_set("test", 24)
    assert images.shape == (200, 24, 24, 3) and attrs.shape == (200, 5)
    assert 0.35 < attrs.mean() < 0.65
    x = images.astype(np.float32)
    gray, warm, blurred, noisy, bright = (attrs[:, i] > 0.5 for i in range(5))
    is_gray = np.all(x[..., 0] == x[..., 1], axis=(1, 2)) & np.all(x[..., 1] == x[..., 2], axis=(1, 2))
    np.testing.assert_array_equal(is_gray, gray & ~warm)  # a warm tint colours a gray image; photos are not gray
    mean = x.mean(axis=(1, 2, 3))
    assert mean[bright].min() > mean[~bright].max() - 40 and mean[bright].mean() > mean[~bright].mean() + 80
    red_minus_blue = (x[..., 0] - x[..., 2]).mean(axis=(1, 2))
    assert red_minus_blue[warm & ~gray].mean() > red_minus_blue[~warm & ~gray].mean() + 20
    roughness = np.abs(np.diff(x, axis=2)).mean(axis=(1, 2, 3))
    assert roughness[noisy & ~blurred].mean() > roughness[~noisy & blurred].mean()
    again = attributes.offline_set.__wrapped__("test", 24)
    np.testing.assert_array_equal(again[0], images)


def test_attribute_selection_and_defaults():
    src = data.load("offline", "attributes", img_size=16, channels=3, config=stargan.Config())
    batch = src.get(np.arange(3))
    assert batch["image"].shape == (3, 16, 16, 3) and batch["attrs"].shape == (3, 5)
    config = stargan.Config(selected_attrs=("Bright", "Grayscale"))
    picked = data.load("offline", "attributes", img_size=16, channels=3, config=config).get(np.arange(3))
    np.testing.assert_array_equal(picked["attrs"], batch["attrs"][:, [4, 0]])
    assert stargan.Config().selected_attrs == attributes.OFFLINE_ATTRS  # the default dataset's attributes
    with pytest.raises(data.DatasetError, match="no attribute.*Smiling"):
        data.load("offline", "attributes", img_size=16, channels=3,
                  config=stargan.Config(selected_attrs=("Smiling",)))


def test_celeba_folder_layout(tmp_path):
    root = tmp_path / "img_align_celeba"
    rng = np.random.default_rng(0)
    names = ["Black_Hair", "Male", "Smiling"]
    lines = ["12", " ".join(names)]
    for i in range(12):
        _write(root / f"{i:06d}.jpg", rng.integers(0, 255, (20, 16, 3), dtype=np.uint8))
        lines.append(f"{i:06d}.jpg  {' '.join('1' if (i >> k) & 1 else '-1' for k in range(3))}")
    (root / "list_attr_celeba.txt").write_text("\n".join(lines) + "\n")
    config = stargan.Config(selected_attrs=("Smiling", "Black_Hair"))
    train = data.load(str(root), "attributes", img_size=8, channels=3, config=config)
    test = data.load(str(root), "attributes", img_size=8, channels=3, config=config, split="test")
    assert (len(train), len(test)) == (11, 1)  # a tenth held out (the script: the last 2,000 of CelebA)
    batch = train.get(np.arange(11))
    expected = [[(i >> 2) & 1, i & 1] for i in range(11)]
    np.testing.assert_array_equal(batch["attrs"], expected)
    assert batch["image"].shape == (11, 8, 8, 3)
    with pytest.raises(data.DatasetError, match="no attribute"):
        data.load(str(root), "attributes", img_size=8, channels=3, config=stargan.Config())
    (root / "list_attr_celeba.txt").write_text("12\nA B\n000000.jpg 1\n")
    with pytest.raises(data.DatasetError, match=":3: expected a file name and 2 values"):
        data.load(str(root), "attributes", img_size=8, channels=3, config=stargan.Config(selected_attrs=("A",)))
    with pytest.raises(data.DatasetError, match="not a CelebA folder"):
        data.load(str(tmp_path), "attributes", img_size=8, channels=3, config=config)
    with pytest.raises(data.DatasetError, match="not prepared.*celeb_a"):
        data.load("tfds:celeb_a", "attributes", img_size=8, channels=3, data_dir=str(tmp_path / "tfds"))
