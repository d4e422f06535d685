"""Datasets: the offline sets, tfds via data_source (mocked), image folders, and the resumable loader."""

import numpy as np
import pytest
from PIL import Image

from gan_jax import data
from gan_jax.data import offline
from gan_jax.data.pipeline import resize_uint8


def test_offline_mnist_splits():
    x_train, y_train = offline.mnist("train")
    x_test, y_test = offline.mnist("test")
    assert x_train.shape == (4500, 28, 28, 1) and x_test.shape == (500, 28, 28, 1) and x_train.dtype == np.uint8
    assert np.bincount(y_test).tolist() == [50] * 10
    assert len(set(y_train[:50].tolist())) == 10  # shuffled: a prefix holds every class
    # no test digit appears in the training split
    train_rows = {row.tobytes() for row in x_train.reshape(4500, -1)}
    assert not any(row.tobytes() in train_rows for row in x_test.reshape(500, -1))
    assert 0.10 < (x_train > 127).mean() < 0.25  # real strokes, not noise


def test_load_resizes_and_scales():
    src = data.load("mnist", img_size=32, channels=1)
    batch = src.get(np.arange(5))
    assert batch["image"].shape == (5, 32, 32, 1) and batch["image"].dtype == np.float32
    assert batch["image"].min() == -1.0 and 0.9 < batch["image"].max() <= 1.0
    rgb = data.load("digits", img_size=16, channels=3).get(np.arange(2))["image"]
    assert rgb.shape == (2, 16, 16, 3)
    np.testing.assert_array_equal(rgb[..., 0], rgb[..., 2])  # gray replicated to RGB


def test_unknown_dataset_names_the_choices():
    with pytest.raises(data.DatasetError, match="unknown dataset 'mnits'.*mnist"):
        data.load("mnits", img_size=28, channels=1)


def test_tfds_not_prepared_says_how_to_prepare(tmp_path):
    with pytest.raises(data.DatasetError, match="not prepared.*tfds build mnist"):
        data.load("tfds:mnist", img_size=28, channels=1, data_dir=str(tmp_path))


def test_tfds_data_source_with_mock_data(monkeypatch):
    import tensorflow_datasets as tfds

    monkeypatch.setattr(tfds.core.DatasetBuilder, "is_prepared", lambda self: True)
    with tfds.testing.mock_data(num_examples=12):
        src = data.load("tfds:mnist", "labelled", img_size=32, channels=1)
        assert len(src) == 12
        batch = src.get(np.array([3, 1, 7]))
    assert batch["image"].shape == (3, 32, 32, 1) and batch["label"].shape == (3,)
    assert -1.0 <= batch["image"].min() and batch["image"].max() <= 1.0


def _write(path, array):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)


def test_image_folder_with_class_subfolders(tmp_path):
    rng = np.random.default_rng(0)
    for cls in ("cats", "dogs"):
        for i in range(3):
            _write(tmp_path / cls / f"{i}.png", rng.integers(0, 255, (20, 24, 3), dtype=np.uint8))
    _write(tmp_path / "dogs" / "gray.png", rng.integers(0, 255, (10, 10), dtype=np.uint8))  # converted
    src = data.load(str(tmp_path), img_size=8, channels=3)
    assert len(src) == 7 and src.classes == ["cats", "dogs"]
    batch = src.get(np.arange(7))
    assert batch["image"].shape == (7, 8, 8, 3) and batch["label"].tolist() == [0, 0, 0, 1, 1, 1, 1]


def test_image_folder_errors_name_the_problem(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(data.DatasetError, match="holds no images"):
        data.load(str(tmp_path / "empty"), img_size=8, channels=1)
    _write(tmp_path / "bad" / "ok.png", np.zeros((4, 4), np.uint8))
    (tmp_path / "bad" / "broken.png").write_bytes(b"this is not a png")
    with pytest.raises(data.DatasetError, match=r"(?s)1 unreadable image file.*broken\.png"):
        data.load(str(tmp_path / "bad"), img_size=8, channels=1)
    _write(tmp_path / "flat" / "a.png", np.zeros((4, 4), np.uint8))
    with pytest.raises(data.DatasetError, match="has no labels"):
        data.load(str(tmp_path / "flat"), "labelled", img_size=8, channels=1)


def test_loader_is_deterministic_resumable_and_covers_each_epoch():
    src = data.ArraySource(np.arange(10, dtype=np.uint8).reshape(10, 1, 1, 1), np.arange(10))
    loader = data.Loader(src, batch_size=3, seed=7)
    assert loader.steps_per_epoch == 3
    first = [next(loader)["label"].tolist() for _ in range(7)]
    loader.close()
    epoch0 = sum(first[:3], [])
    assert len(set(epoch0)) == 9  # no repeats inside an epoch (one example dropped)
    assert first[:3] != first[3:6]  # reshuffled each epoch
    again = data.Loader(src, batch_size=3, seed=7, start=4)
    assert [next(again)["label"].tolist() for _ in range(3)] == first[4:7]
    again.close()
    other = data.Loader(src, batch_size=3, seed=8, prefetch=0)
    assert [next(other)["label"].tolist() for _ in range(3)] != first[:3]


def test_loader_rejects_tiny_datasets():
    src = data.ArraySource(np.zeros((2, 1, 1, 1), np.uint8))
    with pytest.raises(ValueError, match="fewer than one batch"):
        data.Loader(src, batch_size=4, seed=0)


def test_resize_matches_pil_bilinear():
    img = np.random.default_rng(0).integers(0, 255, (1, 28, 28, 1), dtype=np.uint8)
    expected = np.asarray(Image.fromarray(img[0, ..., 0]).resize((32, 32), Image.BILINEAR))
    np.testing.assert_array_equal(resize_uint8(img, 32, 1)[0, ..., 0], expected)
