"""Detection datasets: the offline set, darknet label folders, COCO json, tfds (guard and mock data), the batch
source and the resumable loader."""

import json

import numpy as np
import pytest
from PIL import Image

from detection import data


def test_offline_set_is_deterministic_and_well_formed():
    ds = data.OfflineDetection("train", size=64, n=20, seed=3)
    a, b = ds[5], data.OfflineDetection("train", size=64, n=20, seed=3)[5]
    np.testing.assert_array_equal(a.image, b.image)
    np.testing.assert_array_equal(a.boxes, b.boxes)
    assert not np.array_equal(ds[5].image, ds[6].image)
    assert not np.array_equal(ds[5].image, data.OfflineDetection("train", size=64, n=20, seed=4)[5].image)
    for i in range(len(ds)):
        ex = ds[i]
        assert ex.image.shape == (64, 64, 3) and ex.image.dtype == np.uint8
        assert 1 <= len(ex.classes) <= 4 and ex.boxes.shape == (len(ex.classes), 4)
        assert np.all((ex.classes >= 0) & (ex.classes < 13))
        x0, x1 = ex.boxes[:, 0] - ex.boxes[:, 2] / 2, ex.boxes[:, 0] + ex.boxes[:, 2] / 2
        assert np.all(x0 >= -1e-6) and np.all(x1 <= 1 + 1e-6)
    assert ds.class_names[10:] == ("circle", "square", "triangle") and len(ds.class_names) == 13
    test = data.OfflineDetection("test", size=64, n=5)
    assert not np.array_equal(test[0].image, data.OfflineDetection("train", size=64, n=5)[0].image)


def test_offline_boxes_are_exact():
    """On a flat grey background every changed pixel belongs to an object: the box is the tight box of the
    pixels at least half-way to the object's colour."""
    ds = data.OfflineDetection("train", size=96, n=10, seed=0, max_objects=1)
    ds._photos = [np.full((100, 100, 3), 128, np.uint8)]
    for i in range(len(ds)):
        ex = ds[i]
        diff = np.abs(ex.image.astype(int) - 128).max(-1)
        ys, xs = np.nonzero(diff >= diff.max() / 2)
        b = ex.boxes[0] * 96
        box = [b[0] - b[2] / 2, b[1] - b[3] / 2, b[0] + b[2] / 2, b[1] + b[3] / 2]
        np.testing.assert_allclose([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], box, atol=1.01)


def _folder(tmp_path, lines_by_name):
    d = tmp_path / "set"
    d.mkdir(exist_ok=True)
    for name, lines in lines_by_name.items():
        Image.fromarray(np.zeros((40, 60), np.uint8)).save(d / f"{name}.png")  # grayscale: converted
        if lines is not None:
            (d / f"{name}.txt").write_text("\n".join(lines) + "\n")
    return d


def test_darknet_folder_reads_labels_and_converts_images(tmp_path):
    d = _folder(tmp_path, {"a": ["0 0.5 0.5 0.2 0.4", "2 0.95 0.1 0.2 0.3"], "b": None})
    Image.fromarray(np.zeros((30, 30, 4), np.uint8)).save(d / "c.png")  # RGBA, no labels
    ds = data.DarknetFolder(str(d), ["x", "y", "z"])
    assert len(ds) == 3
    a = ds[0]
    assert a.image.shape == (40, 60, 3)
    np.testing.assert_array_equal(a.classes, [0, 2])
    # the second box pokes past the right and top borders: clipped to the image
    np.testing.assert_allclose(a.boxes[1], [(0.85 + 1.0) / 2, (0.0 + 0.25) / 2, 0.15, 0.25], atol=1e-6)
    assert len(ds[1].classes) == 0 and ds[2].image.shape == (30, 30, 3)


@pytest.mark.parametrize("line,pattern", [
    ("3 0.5 0.5 0.2 0.2", r"a.txt:2: class id 3 is outside 0..2"),
    ("-1 0.5 0.5 0.2 0.2", r"a.txt:2: class id -1"),
    ("1 1.5 0.5 0.2 0.2", r"a.txt:2: box .* out of range"),
    ("1 0.5 0.5 0.0 0.2", r"a.txt:2: box .* out of range"),
    ("1 0.5 0.5 0.2 1.2", r"a.txt:2: box .* out of range"),
    ("1 0.5 0.5 0.2", r"a.txt:2: expected 'class cx cy w h'"),
    ("one 0.5 0.5 0.2 0.2", r"a.txt:2: cannot parse"),
])
def test_darknet_label_errors_name_file_and_line(tmp_path, line, pattern):
    d = _folder(tmp_path, {"a": ["0 0.5 0.5 0.2 0.2", line]})
    with pytest.raises(data.LabelError, match=pattern):
        data.DarknetFolder(str(d), ["x", "y", "z"])


def test_darknet_images_labels_layout_and_list_file(tmp_path):
    (tmp_path / "images").mkdir()
    (tmp_path / "labels").mkdir()
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "images" / "p.jpg")
    (tmp_path / "labels" / "p.txt").write_text("1 0.5 0.5 0.5 0.5\n")
    (tmp_path / "train.txt").write_text("images/p.jpg\n")
    ds = data.DarknetFolder(str(tmp_path / "train.txt"), ["a", "b"])
    np.testing.assert_array_equal(ds[0].classes, [1])


def test_coco_json(tmp_path):
    Image.fromarray(np.zeros((50, 100, 3), np.uint8)).save(tmp_path / "im.jpg")
    coco = {"images": [{"id": 7, "file_name": "im.jpg", "width": 100, "height": 50}],
            "categories": [{"id": 18, "name": "dog"}, {"id": 1, "name": "person"}],
            "annotations": [{"id": 1, "image_id": 7, "category_id": 18, "bbox": [10, 5, 20, 10], "iscrowd": 0},
                            {"id": 2, "image_id": 7, "category_id": 1, "bbox": [0, 0, 100, 50], "iscrowd": 1},
                            {"id": 3, "image_id": 7, "category_id": 1, "bbox": [90, 40, 20, 20]}]}
    (tmp_path / "ann.json").write_text(json.dumps(coco))
    ds = data.CocoJson(str(tmp_path / "ann.json"), str(tmp_path))
    assert ds.class_names == ("person", "dog") and ds.category_ids == (1, 18)
    ex = ds[0]
    np.testing.assert_array_equal(ex.classes, [1, 0])  # crowd left out
    np.testing.assert_allclose(ex.boxes[0], [0.2, 0.2, 0.2, 0.2])
    np.testing.assert_allclose(ex.boxes[1], [0.95, 0.9, 0.1, 0.2])  # clipped to the image
    coco["annotations"][0]["category_id"] = 99
    (tmp_path / "bad.json").write_text(json.dumps(coco))
    with pytest.raises(data.LabelError, match="unknown category_id 99"):
        data.CocoJson(str(tmp_path / "bad.json"), str(tmp_path))


def test_tfds_not_prepared_says_how_to_prepare(tmp_path):
    pytest.importorskip("tensorflow_datasets")
    with pytest.raises(FileNotFoundError, match=r"(?s)'voc/2007' is not prepared.*tfds build voc/2007"):
        data.TfdsDetection("voc", "train", data_dir=str(tmp_path))


def test_tfds_record_conversion():
    record = {"image": np.zeros((10, 20, 1), np.uint8), "image/filename": b"000005.jpg",
              "objects": {"bbox": np.array([[0.1, 0.2, 0.5, 0.6], [0.0, 0.0, 1.0, 1.0]], np.float32),
                          "label": np.array([8, 14]), "is_difficult": np.array([False, True])}}
    ex = data.TfdsDetection.example_from_record(record, 3)
    assert ex.image.shape == (10, 20, 3) and ex.image_id == 3
    np.testing.assert_allclose(ex.boxes, [[0.4, 0.3, 0.4, 0.4], [0.5, 0.5, 1.0, 1.0]], atol=1e-6)
    np.testing.assert_array_equal(ex.classes, [8, 14])
    np.testing.assert_array_equal(ex.difficult, [False, True])
    coco = {"image": np.zeros((4, 4, 3), np.uint8), "image/id": 42,
            "objects": {"bbox": np.array([[0, 0, 0.5, 0.5], [0, 0, 1, 1]], np.float32), "label": np.array([1, 2]),
                        "is_crowd": np.array([False, True])}}
    ex = data.TfdsDetection.example_from_record(coco)
    assert ex.image_id == 42 and ex.classes.tolist() == [1]  # the crowd box is dropped


def test_source_and_loader_fixed_shapes_padding_augmentation_and_resume():
    from detection import augment

    ds = data.OfflineDetection("train", size=64, n=10)
    plain = data.DetectionSource(ds, img_size=64, max_boxes=3)
    b = plain.get(np.array([0, 1, 2, 3]))
    assert b["image"].shape == (4, 64, 64, 3) and b["image"].dtype == np.float32
    assert b["boxes"].shape == (4, 3, 4) and b["classes"].shape == (4, 3) and b["classes"].dtype == np.int32
    assert 0 <= b["image"].min() and b["image"].max() <= 1
    for k in range(4):
        n = int((b["classes"][k] >= 0).sum())
        assert n == min(len(ds[k].classes), 3)
        assert np.all(b["classes"][k, n:] == -1) and np.all(b["boxes"][k, n:] == 0)
    np.testing.assert_allclose(b["image"][0], ds[0].image / 255.0, atol=1e-6)  # no rng: not augmented
    # letterboxing a different size: 64 -> 96 keeps the boxes in place (square image)
    np.testing.assert_allclose(data.DetectionSource(ds, 96, 3).get(np.arange(4))["boxes"], b["boxes"], atol=1e-6)

    source = data.DetectionSource(ds, 64, 3, augment.DetectionAugment())
    loader = data.DetectionLoader(source, batch_size=4, seed=1, prefetch=0)
    first = [next(loader) for _ in range(3)]
    assert not np.allclose(first[0]["image"], plain.get(loader.indices(0))["image"])  # augmented
    resumed = data.DetectionLoader(source, batch_size=4, seed=1, start=2)  # with the prefetch thread
    try:
        again = next(resumed)
    finally:
        resumed.close()
    for key in again:  # batch 2 (epoch 1's first), augmentation included, is a function of (seed, 2) only
        np.testing.assert_array_equal(again[key], first[2][key])
    other = data.DetectionLoader(source, batch_size=4, seed=2, prefetch=0)
    assert not np.array_equal(next(other)["image"], first[0]["image"])
    with pytest.raises(ValueError, match="fewer than one batch"):
        data.DetectionLoader(source, batch_size=32, seed=0)


def test_get_dataset_specs_names_file_and_holdout(tmp_path):
    d = _folder(tmp_path, {f"im{i}": ["1 0.5 0.5 0.2 0.2"] for i in range(10)})
    with pytest.raises(FileNotFoundError, match="no class-names file"):
        data.get_dataset(str(d))
    (d / "obj.names").write_text("a\nb\n")
    ds = data.get_dataset(str(d))
    assert isinstance(ds, data.DarknetFolder) and ds.class_names == ("a", "b") and len(ds) == 10
    train, held = data.holdout(ds, 0.2, seed=0)
    assert len(train) == 8 and len(held) == 2 and train.class_names == ("a", "b")
    assert not set(train.indices) & set(held.indices)
    np.testing.assert_array_equal(held[0].boxes, ds[int(held.indices[0])].boxes)
    (d / "classes.txt").write_text("a\nb\n")
    with pytest.raises(FileNotFoundError, match="2 \\(classes.txt, obj.names\\)"):
        data.get_dataset("folder:" + str(d))
    with pytest.raises(ValueError, match="unknown dataset 'nothing_here'"):
        data.get_dataset("nothing_here")
    # COCO's layout: ROOT/annotations/instances_x.json with images in ROOT/x
    (tmp_path / "annotations").mkdir()
    (tmp_path / "x").mkdir()
    Image.fromarray(np.zeros((10, 20, 3), np.uint8)).save(tmp_path / "x" / "a.jpg")
    coco = {"images": [{"id": 1, "file_name": "a.jpg", "width": 20, "height": 10}],
            "categories": [{"id": 3, "name": "c"}], "annotations": []}
    (tmp_path / "annotations" / "instances_x.json").write_text(json.dumps(coco))
    cj = data.get_dataset(str(tmp_path / "annotations" / "instances_x.json"))
    assert cj.image_dir == str(tmp_path / "x") and cj[0].image.shape == (10, 20, 3)


def test_tfds_voc_with_mock_data(monkeypatch):
    tfds = pytest.importorskip("tensorflow_datasets")
    monkeypatch.setattr(tfds.core.DatasetBuilder, "is_prepared", lambda self: True)
    # tfds' random mock records give each object field its own length; these follow the voc features
    rng = np.random.default_rng(0)
    records = [{"image": rng.integers(0, 255, (30 + i, 40, 3), dtype=np.uint8), "image/filename": f"{i}.jpg",
                "objects": {"bbox": np.array([[0.1, 0.2, 0.5, 0.6]] * 3, np.float32), "label": np.array([1, 5, 19]),
                            "is_difficult": np.array([False, True, False])}} for i in range(6)]
    with tfds.testing.mock_data(as_data_source_fn=lambda *args, **kwargs: records):
        ds = data.get_dataset("tfds:voc/2007", "train")
        val = data.get_dataset("voc", "val")
        ex = ds[2]
        assert len(ds) == 6 and len(val) == 6 and len(ds.class_names) == 20
        batch = data.DetectionSource(ds, 64, 8).get(np.arange(3))
    assert ex.image.shape == (32, 40, 3) and ex.classes.tolist() == [1, 5, 19]
    np.testing.assert_allclose(ex.boxes[0], [0.4, 0.3, 0.4, 0.4], atol=1e-6)
    assert ex.difficult.tolist() == [False, True, False]
    assert batch["image"].shape == (3, 64, 64, 3) and batch["classes"].shape == (3, 8)


def test_kmeans_anchors_sorted_and_plausible():
    anchors = data.kmeans_anchors(data.OfflineDetection("train", size=64, n=60), 64, k=4, n_samples=60)
    areas = [w * h for w, h in anchors]
    assert len(anchors) == 4 and areas == sorted(areas)
    assert all(4 <= w <= 64 and 4 <= h <= 64 for w, h in anchors)
