"""Data kinds ``paired`` and ``unpaired``: offline sets, PyTorch-GAN's folder layouts, augmentation, clear errors."""

import dataclasses

import numpy as np
import pytest
from PIL import Image

from gan_jax import data
from gan_jax.data import translation
from gan_jax.data.kinds import unpaired


@dataclasses.dataclass(frozen=True)
class Cfg:
    img_height: int = 16
    img_width: int = 16
    which_direction: str = "AtoB"
    minimum: int = 1

    def min_size(self):
        return self.minimum


def write(path, array):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)


def side_by_side(i, h=12):
    """A pair whose left half is flat i*10 and right half flat 255 - i*10, with a marker column on the left."""
    left = np.full((h, h, 3), i * 10, np.uint8)
    left[:, 0] = 255  # shows left-right flips
    return np.concatenate([left, np.full((h, h, 3), 255 - i * 10, np.uint8)], axis=1)


def test_offline_paired_is_sketch_to_photo_deterministic_and_held_out():
    src = data.load("offline", "paired", img_size=16, channels=3, config=Cfg())
    test = data.load("offline", "paired", img_size=16, channels=3, split="test", config=Cfg())
    assert (len(src), len(test)) == (400, 100)
    batch = src.get(np.arange(6))
    assert batch["image_a"].shape == batch["image_b"].shape == (6, 16, 16, 3)
    assert batch["image_a"].dtype == np.float32
    # sketches: only black and white, mostly white; targets: colour photos
    assert set(np.unique(batch["image_a"])) <= {-1.0, 1.0} and batch["image_a"].mean() > 0.4
    assert np.abs(batch["image_b"][..., 0] - batch["image_b"][..., 2]).mean() > 0.05
    np.testing.assert_array_equal(batch["image_b"], src.get(np.arange(6))["image_b"])
    gray = data.load("offline_gray", "paired", img_size=16, channels=3, config=Cfg()).get(np.arange(6))
    np.testing.assert_array_equal(gray["image_b"], batch["image_b"])  # the same photos, another input
    np.testing.assert_array_equal(gray["image_a"][..., 0], gray["image_a"][..., 2])
    assert translation.photo_names("test") == ["coffee.png", "chelsea.png"]
    assert not set(translation.photo_names("train")) & set(translation.TEST_PHOTOS)


def test_edge_map_marks_a_step_edge():
    img = np.zeros((1, 20, 20, 3), np.uint8)
    img[:, :, 10:] = 200
    edges = translation.edge_map(img)[0, ..., 0]
    assert set(np.unique(edges)) == {0, 255}
    strokes = np.argwhere(edges == 0)[:, 1]
    assert strokes.min() >= 8 and strokes.max() <= 11  # only around the step at column 10
    assert (translation.edge_map(np.full((1, 8, 8, 3), 90, np.uint8)) == 255).all()  # flat: no strokes


def test_posterize_levels():
    ramp = np.arange(256, dtype=np.uint8)[None, None, :, None].repeat(3, -1)
    out = translation.posterize(ramp)
    assert [len(np.unique(out[..., c])) for c in range(3)] == [4, 4, 4]
    assert out[..., 0].mean() > out[..., 2].mean()  # warm


def test_posterize_tints_each_image_its_own():
    photos = np.random.default_rng(0).integers(0, 256, (3, 5, 5, 3)).astype(np.uint8)
    tints = translation.random_tints(3, [1, 2])
    np.testing.assert_array_equal(tints, translation.random_tints(3, [1, 2]))  # deterministic in the seed
    assert np.all(tints >= np.array(translation.WARM) * np.exp(-0.35) - 1e-6)
    assert np.all(tints <= np.array(translation.WARM) * np.exp(0.35) + 1e-6)
    out = translation.posterize(photos, tint=tints)
    for i in range(3):
        np.testing.assert_array_equal(out[i], translation.posterize(photos[i:i + 1], tint=tints[i])[0])
    np.testing.assert_array_equal(translation.posterize(photos), translation.posterize(photos, tint=translation.WARM))
    gray = np.full((3, 2, 2, 3), 120, np.uint8)  # one gray, three casts: three colours
    casts = translation.posterize(gray, tint=[[1.3, 1, 1], [1, 1.3, 1], [1, 1, 1.3]])[:, 0, 0]
    assert len({tuple(c) for c in casts}) == 3


def test_pix2pix_folder_halves_direction_flip_and_splits(tmp_path):
    root = tmp_path / "facades"
    for split, n in (("train", 5), ("test", 2), ("val", 3)):
        for i in range(n):
            write(root / split / f"{i}.png", side_by_side(i + (10 if split != "train" else 0)))
    src = data.load(str(root), "paired", img_size=12, channels=3, config=Cfg(12, 12))
    assert len(src) == 7  # train/ + test/, as pix2pix/datasets.py (val/ is held out)
    assert len(data.load(str(root), "paired", img_size=12, channels=3, split="test", config=Cfg(12, 12))) == 3
    batch = src.get(np.array([1]))
    to_uint8 = lambda x: np.round((x + 1) * 127.5).astype(int)
    assert to_uint8(batch["image_a"])[0, 5, 5, 0] == 10 and to_uint8(batch["image_b"])[0, 5, 5, 0] == 245
    swapped = data.load(str(root), "paired", img_size=12, channels=3, config=Cfg(12, 12, "BtoA")).get(np.array([1]))
    np.testing.assert_array_equal(swapped["image_a"], batch["image_b"])
    np.testing.assert_array_equal(swapped["image_b"], batch["image_a"])
    # a random flip mirrors both halves together
    flips = [src.get(np.array([1]), rng=np.random.default_rng(s)) for s in range(8)]
    mirrored = [b for b in flips if b["image_a"][0, 0, -1, 0] > 0.9]
    assert 0 < len(mirrored) < 8
    for b in flips:
        assert (b["image_a"][0, 0, -1, 0] > 0.9) == (b["image_a"][0, 0, 0, 0] < 0.9)
    assert src.random_augment and not data.load(str(root), "paired", img_size=12, channels=3, split="test",
                                                config=Cfg(12, 12)).random_augment


def test_aligned_a_b_folders_and_mismatched_sizes(tmp_path):
    root = tmp_path / "pairs"
    for i in range(3):
        write(root / "train" / "A" / f"{i}.png", np.full((8, 8, 3), 20 * i, np.uint8))
        write(root / "train" / "B" / f"{i}.png", np.full((8, 8, 3), 200 - 20 * i, np.uint8))
    batch = data.load(str(root), "paired", img_size=8, channels=3, config=Cfg(8, 8)).get(np.arange(3))
    np.testing.assert_allclose(batch["image_a"][:, 0, 0, 0], np.array([0, 20, 40]) / 127.5 - 1, atol=1e-6)
    write(root / "train" / "B" / "1.png", np.zeros((8, 10, 3), np.uint8))
    with pytest.raises(data.DatasetError, match="mismatched A/B sizes"):
        data.load(str(root), "paired", img_size=8, channels=3, config=Cfg(8, 8))
    write(root / "train" / "A" / "9.png", np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(data.DatasetError, match="no B file of the same name"):
        data.load(str(root), "paired", img_size=8, channels=3, config=Cfg(8, 8))


def test_paired_errors(tmp_path):
    root = tmp_path / "bad"
    write(root / "train" / "0.png", np.zeros((10, 15, 3), np.uint8))
    with pytest.raises(data.DatasetError, match=r"15x10 \(WxH\).*two square halves"):
        data.load(str(root), "paired", img_size=8, channels=3, config=Cfg(8, 8))
    write(root / "train" / "0.png", side_by_side(0, h=12))
    with pytest.raises(data.DatasetError, match="12x12.*smaller than this model's minimum side of 32"):
        data.load(str(root), "paired", img_size=8, channels=3, config=Cfg(8, 8, minimum=32))
    (tmp_path / "empty").mkdir()
    with pytest.raises(data.DatasetError, match="expected .*train/.*gan_jax.data.download facades"):
        data.load(str(tmp_path / "empty"), "paired", img_size=8, channels=3, config=Cfg(8, 8))
    with pytest.raises(data.DatasetError, match="which_direction"):
        data.load("offline", "paired", img_size=8, channels=3, config=Cfg(8, 8, "left"))
    with pytest.raises(data.DatasetError, match="unknown dataset"):
        data.load("facades", "paired", img_size=8, channels=3, config=Cfg(8, 8))


def test_offline_unpaired_domains_differ_and_are_unpaired():
    cfg = Cfg()
    src = data.load("offline", "unpaired", img_size=16, channels=3, config=cfg)
    assert len(src) == 400 and src.load_size == (17, 17)
    batch = src.get(np.arange(50))
    assert batch["image_a"].shape == batch["image_b"].shape == (50, 16, 16, 3)
    levels = lambda x: len(np.unique(np.round((x + 1) * 127.5)))
    assert levels(batch["image_b"][..., 2]) <= 4 < levels(batch["image_a"][..., 2])  # posters vs photos
    test = data.load("offline", "unpaired", img_size=16, channels=3, split="test", config=cfg)
    np.testing.assert_array_equal(test.get(np.arange(5))["image_a"], test.get(np.arange(5))["image_a"])
    a, b = unpaired.offline_domains("test", (16, 16), 3)
    assert not np.array_equal(translation.posterize(a), b)  # B is other crops, not A's posters


def test_offline_tints_posters_carry_a_cast_apart_from_their_content():
    """``offline_tints``: offline's A and B crops, each B poster with its own colour cast, still on the 4 levels."""
    a, b = unpaired.offline_domains("test", (16, 16), 3)
    a_t, b_t = unpaired.offline_domains("test", (16, 16), 3, tints=True)
    np.testing.assert_array_equal(a, a_t)
    assert set(np.unique(b_t).tolist()) == {32, 96, 160, 224} and not np.array_equal(b, b_t)
    # the same crops, each posterised with its cast: how much redder than offline's a poster is follows its cast
    balance = lambda x: np.log((x[..., 0].mean((1, 2)) + 1) / (x[..., 2].mean((1, 2)) + 1))
    tints = translation.random_tints(100, [unpaired.SEED, 1, 2])
    cast = np.log(tints[:, 0] / tints[:, 2]) - np.log(translation.WARM[0] / translation.WARM[2])
    assert np.corrcoef(balance(b_t) - balance(b), cast)[0, 1] > 0.8
    src = data.load("offline_tints", "unpaired", img_size=16, channels=3, split="test", config=Cfg())
    for poster in src.get(np.arange(3))["image_b"]:  # B in a fixed permutation: each one of the tinted posters
        assert np.abs(b_t / 127.5 - 1.0 - poster).max(axis=(1, 2, 3)).min() < 1e-6
    with pytest.raises(data.DatasetError, match="'offline', 'offline_tints'"):
        data.load("offline_tint", "unpaired", img_size=16, channels=3, config=Cfg())


def test_cyclegan_folders_of_unequal_size_both_layouts(tmp_path):
    for layout in ("pytorch_gan", "zip"):
        root = tmp_path / layout
        sub = (lambda s, d: root / s / d) if layout == "pytorch_gan" else (lambda s, d: root / f"{s}{d}")
        for i in range(5):
            write(sub("train", "A") / f"a{i}.png", np.full((10, 10, 3), i, np.uint8))
        for i in range(3):
            write(sub("train", "B") / f"b{i}.png", np.full((10, 10, 3), 100 + i, np.uint8))
        src = data.load(str(root), "unpaired", img_size=8, channels=3, config=Cfg(8, 8))
        assert len(src) == 5  # max(|A|, |B|)
        plain = src.get(np.arange(5))
        values = lambda x: sorted(set(np.round((x[:, 4, 4, 0] + 1) * 127.5).astype(int).tolist()))
        assert values(plain["image_a"]) == [0, 1, 2, 3, 4] and values(plain["image_b"]) == [100, 101, 102]
        # training draws B at random (from the loader's generator), A in order
        drawn = src.get(np.arange(5), rng=np.random.default_rng(0))
        assert values(drawn["image_a"]) == [0, 1, 2, 3, 4] and set(values(drawn["image_b"])) <= {100, 101, 102}
    with pytest.raises(data.DatasetError, match="test/A and test/B.*download"):
        data.load(str(tmp_path / "zip"), "unpaired", img_size=8, channels=3, split="test", config=Cfg(8, 8))
    with pytest.raises(data.DatasetError, match="minimum side of 64"):
        data.load(str(tmp_path / "zip"), "unpaired", img_size=8, channels=3, config=Cfg(8, 8, minimum=64))


def test_random_crop_flip():
    imgs = np.arange(2 * 5 * 6, dtype=np.uint8).reshape(2, 5, 6, 1)
    rng = np.random.default_rng(0)
    outs = [translation.random_crop_flip(imgs, (4, 4), rng) for _ in range(20)]
    assert all(o.shape == (2, 4, 4, 1) for o in outs)
    windows = {imgs[i, y:y + 4, x:x + 4, 0].tobytes() for i in range(2) for y in range(2) for x in range(3)}
    windows |= {imgs[i, y:y + 4, x:x + 4, 0][:, ::-1].tobytes() for i in range(2) for y in range(2) for x in range(3)}
    seen = {o[i, ..., 0].tobytes() for o in outs for i in range(2)}
    assert seen <= windows and len(seen) > 4
    same = translation.random_crop_flip(np.stack([imgs[0], imgs[0]]), (4, 4), rng, same=True)
    np.testing.assert_array_equal(same[0], same[1])


def test_tfds_cycle_gan_not_prepared_is_a_clear_error(tmp_path):
    with pytest.raises(data.DatasetError, match="not prepared.*tfds build cycle_gan/horse2zebra"):
        data.load("tfds:cycle_gan/horse2zebra", "unpaired", img_size=8, channels=3, data_dir=str(tmp_path),
                  config=Cfg(8, 8))


def test_unpaired_reads_the_halves_of_a_pix2pix_folder(tmp_path):
    root = tmp_path / "edges2shoes"
    for i in range(4):
        write(root / "train" / f"{i}.png", side_by_side(i))
    batch = data.load(str(root), "unpaired", img_size=12, channels=3, config=Cfg(12, 12)).get(np.arange(4))
    to_uint8 = lambda x: sorted(np.round((x[:, 5, 5, 0] + 1) * 127.5).astype(int).tolist())
    assert to_uint8(batch["image_a"]) == [0, 10, 20, 30] and to_uint8(batch["image_b"]) == [225, 235, 245, 255]
