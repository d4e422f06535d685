"""Captioned images: the offline generated scenes (default), Karpathy-split JSON + image folder (Flickr8k,
Flickr30k, COCO as the reference prepares them), and tensorflow-datasets' ``coco_captions`` when prepared.

A *caption set* is one split: ``captions[i]`` (the token lists of image i, all of them: the references for BLEU)
and ``images(indices, size) -> uint8 [n, size, size, 3]``. :class:`CaptionSource` turns one into the engine's
source: one row per (image, caption), ``captions_per_image`` captions per image as the reference prepares them
(sampled without replacement from longer lists, topped up by sampling with replacement from shorter ones; captions
longer than ``max_len - 2`` words are left out), images in [-1, 1].

The offline set (``offline``): 64x64 scenes of two objects on a black canvas, each in a cell of a 3x3 layout,
side by side or one above the other: a coloured MNIST digit ("a red 3") or a coloured shape of a size ("a small
blue square"); five captions per image from a small grammar (three sentence forms x both orders of the two
objects, five of the six drawn per image), e.g. "a red 3 to the left of a small blue square", "the small blue
square is to the right of the red 3", "there is a red 3 to the left of a small blue square". Train scenes use
offline MNIST's train digits, val/test scenes its test digits. Everything is a pure function of the seed.
"""

from __future__ import annotations

import functools
import glob
import json
import os
from typing import Sequence

import numpy as np
from PIL import Image, ImageDraw, UnidentifiedImageError

from captioning.vocab import Vocab, tokenize
from gan_jax.data import offline
from gan_jax.data.pipeline import resize_uint8, to_model_range
from gan_jax.data.sources import DatasetError, tfds_prepare_hint

SPLITS = ("train", "val", "test")

# --- the offline scenes ------------------------------------------------------------------------------------------

CANVAS = 64
COLOURS = {"red": (235, 45, 45), "green": (40, 200, 60), "blue": (60, 110, 255), "yellow": (240, 220, 40),
           "white": (235, 235, 235)}
SHAPES = ("square", "circle", "triangle")
SHAPE_SIZES = {"small": 10, "large": 18}
DIGIT_SIZE = 20
CELL_CENTRES = (12, 32, 52)  # a 3x3 layout of 20 px cells (+-2 px jitter)
OFFLINE_SIZES = {"train": 12000, "val": 500, "test": 1000}
RELATIONS = {"left": ("to the left of", "to the right of"), "right": ("to the right of", "to the left of"),
             "above": ("above", "below"), "below": ("below", "above")}
SENTENCES = ("a {a} {rel} a {b}", "the {a} is {rel} the {b}", "there is a {a} {rel} a {b}")


def _draw_shape(canvas: Image.Image, shape: str, size: int, cx: int, cy: int, colour) -> None:
    draw = ImageDraw.Draw(canvas)
    half = size / 2
    box = (cx - half, cy - half, cx + half - 1, cy + half - 1)
    if shape == "square":
        draw.rectangle(box, fill=colour)
    elif shape == "circle":
        draw.ellipse(box, fill=colour)
    else:
        draw.polygon([(cx, cy - half), (cx - half, cy + half - 1), (cx + half - 1, cy + half - 1)], fill=colour)


def _draw_digit(canvas: np.ndarray, digit: np.ndarray, cx: int, cy: int, colour) -> None:
    alpha = (digit.astype(np.float32) / 255.0)[..., None]
    y0, x0 = cy - DIGIT_SIZE // 2, cx - DIGIT_SIZE // 2
    patch = canvas[y0:y0 + DIGIT_SIZE, x0:x0 + DIGIT_SIZE].astype(np.float32)
    canvas[y0:y0 + DIGIT_SIZE, x0:x0 + DIGIT_SIZE] = np.round(
        patch * (1 - alpha) + alpha * np.asarray(colour, np.float32)).astype(np.uint8)


def _random_object(rng: np.random.Generator, digits: np.ndarray, labels: np.ndarray) -> dict:
    colour = str(rng.choice(list(COLOURS)))
    if rng.random() < 0.5:
        i = int(rng.integers(len(digits)))
        return {"kind": "digit", "digit": int(labels[i]), "image": digits[i], "colour": colour,
                "words": f"{colour} {labels[i]}"}
    shape, size = str(rng.choice(SHAPES)), str(rng.choice(list(SHAPE_SIZES)))
    return {"kind": "shape", "shape": shape, "size": size, "colour": colour, "words": f"{size} {colour} {shape}"}


def _pair_of_cells(rng: np.random.Generator) -> tuple[tuple[int, int], tuple[int, int], str]:
    """Two cells in one row or one column, and how the first relates to the second."""
    if rng.random() < 0.5:  # same row
        row = int(rng.integers(3))
        c1, c2 = rng.choice(3, 2, replace=False)
        return (row, int(c1)), (row, int(c2)), "left" if c1 < c2 else "right"
    col = int(rng.integers(3))
    r1, r2 = rng.choice(3, 2, replace=False)
    return (int(r1), col), (int(r2), col), "above" if r1 < r2 else "below"


def scene(rng: np.random.Generator, digits: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """One 64x64 RGB scene and its five captions."""
    a, b = _random_object(rng, digits, labels), _random_object(rng, digits, labels)
    cell_a, cell_b, rel = _pair_of_cells(rng)
    pil = Image.new("RGB", (CANVAS, CANVAS))
    centres = []
    for obj, (row, col) in ((a, cell_a), (b, cell_b)):
        cx, cy = (CELL_CENTRES[col] + int(rng.integers(-2, 3)), CELL_CENTRES[row] + int(rng.integers(-2, 3)))
        centres.append((cx, cy))
        if obj["kind"] == "shape":
            _draw_shape(pil, obj["shape"], SHAPE_SIZES[obj["size"]], cx, cy, COLOURS[obj["colour"]])
    canvas = np.array(pil)
    for obj, (cx, cy) in zip((a, b), centres):
        if obj["kind"] == "digit":
            _draw_digit(canvas, obj["image"], cx, cy, COLOURS[obj["colour"]])
    forward, backward = RELATIONS[rel]
    variants = [s.format(a=a["words"], rel=forward, b=b["words"]) for s in SENTENCES]
    variants += [s.format(a=b["words"], rel=backward, b=a["words"]) for s in SENTENCES]
    chosen = rng.choice(len(variants), 5, replace=False)
    return canvas, [variants[i] for i in sorted(chosen)]


@functools.lru_cache(maxsize=8)
def _offline_split(split: str, seed: int, n_images: int) -> tuple[np.ndarray, tuple]:
    if split not in SPLITS:
        raise DatasetError(f"unknown split {split!r}: use one of {', '.join(SPLITS)}")
    digits, labels = offline.mnist("train" if split == "train" else "test")
    digits = resize_uint8(digits, DIGIT_SIZE, 1)[..., 0]
    # val and test draw from the same held-out digits with different streams
    rng = np.random.default_rng([seed, SPLITS.index(split), 20150210])
    images = np.empty((n_images, CANVAS, CANVAS, 3), np.uint8)
    captions = []
    for i in range(n_images):
        images[i], caps = scene(rng, digits, labels)
        captions.append(tuple(tuple(c.split()) for c in caps))
    images.setflags(write=False)
    return images, tuple(captions)


class CaptionSet:
    """One split: ``captions`` (token lists per image) and ``images(indices, size)``."""

    name: str
    captions: Sequence[Sequence[Sequence[str]]]

    def __len__(self) -> int:
        return len(self.captions)

    def images(self, indices: np.ndarray, size: int) -> np.ndarray:
        raise NotImplementedError


class OfflineScenes(CaptionSet):
    def __init__(self, split: str = "train", seed: int = 0, n_images: int | None = None):
        n = OFFLINE_SIZES.get(split, 0) if n_images is None else n_images
        self._images, self.captions = _offline_split(split, seed, n)
        self.name = f"offline/{split}"

    def images(self, indices, size):
        imgs = self._images[np.asarray(indices)]
        return imgs if size == CANVAS else resize_uint8(imgs, size, 3)


# --- image files: Karpathy JSON + folder ----------------------------------------------------------------------------


def read_image(path: str, size: int) -> np.ndarray:
    """An image file as uint8 [size, size, 3] (the reference resizes to a square, ignoring the aspect ratio)."""
    try:
        with Image.open(path) as im:
            im = im.convert("RGB")
            if im.size != (size, size):
                im = im.resize((size, size), Image.BILINEAR)
            return np.asarray(im)
    except FileNotFoundError:
        raise DatasetError(f"image {path} does not exist") from None
    except (UnidentifiedImageError, OSError, ValueError) as e:
        raise DatasetError(f"cannot decode image {path}: {e}") from None


class FileCaptions(CaptionSet):
    """Images read from files on demand."""

    def __init__(self, paths: list[str], captions: list, name: str):
        self.paths, self.captions, self.name = paths, captions, name

    def images(self, indices, size):
        return np.stack([read_image(self.paths[int(i)], size) for i in indices])


def karpathy(json_path: str, image_folder: str, split: str, max_words: int = 50) -> FileCaptions:
    """One split of a Karpathy ``dataset_{coco,flickr8k,flickr30k}.json`` (restval counts as train, as in the
    reference). COCO entries carry a ``filepath`` (train2014/val2014) under ``image_folder``. Every image of the
    split must exist: the missing ones are named."""
    if split not in SPLITS:
        raise DatasetError(f"unknown split {split!r}: use one of {', '.join(SPLITS)}")
    try:
        with open(json_path) as f:
            data = json.load(f)
        entries = data["images"]
    except (OSError, json.JSONDecodeError, KeyError, TypeError) as e:
        raise DatasetError(f"cannot read Karpathy split file {json_path}: {type(e).__name__}: {e}") from None
    if not os.path.isdir(image_folder):
        raise DatasetError(f"image folder {image_folder!r} does not exist")
    wanted = {"train": ("train", "restval")}.get(split, (split,))
    paths, captions = [], []
    for e in entries:
        if e.get("split") not in wanted:
            continue
        caps = [tuple(s["tokens"]) if "tokens" in s else tuple(tokenize(s["raw"])) for s in e.get("sentences", [])]
        caps = [c for c in caps if 0 < len(c) <= max_words]
        if not caps:
            continue
        paths.append(os.path.join(image_folder, e.get("filepath", ""), e["filename"]))
        captions.append(caps)
    if not paths:
        raise DatasetError(f"{json_path} has no '{split}' image with a caption of at most {max_words} words")
    missing = [p for p in paths if not os.path.isfile(p)]
    if missing:
        shown = "\n  ".join(missing[:10]) + (f"\n  ... and {len(missing) - 10} more" if len(missing) > 10 else "")
        raise DatasetError(f"{len(missing)} of the {len(paths)} '{split}' images of {json_path} are missing "
                           f"under {image_folder}:\n  {shown}")
    return FileCaptions(paths, captions, f"{os.path.basename(json_path)}/{split}")


# --- tensorflow-datasets coco_captions ------------------------------------------------------------------------------


def _text(x) -> str:
    return x.decode("utf-8") if isinstance(x, bytes) else str(x)


class TfdsCaptions(CaptionSet):
    """tfds ``coco_captions`` (Karpathy splits: train + restval for training, val, test), read with
    ``data_source`` (no TensorFlow). Never downloads: an unprepared dataset is an error naming the command."""

    TFDS_SPLITS = {"train": ("train", "restval"), "val": ("val",), "test": ("test",)}

    def __init__(self, records: list, captions: list, name: str):
        self.records, self.captions, self.name = records, captions, name

    @classmethod
    def from_records(cls, parts: Sequence, name: str) -> "TfdsCaptions":
        """From record sequences as ``data_source`` yields them ({'image', 'captions': {'text': [...]}}); reads
        every record once for its captions."""
        records, captions = [], []
        for part in parts:
            for i in range(len(part)):
                caps = [tuple(tokenize(_text(t))) for t in part[i]["captions"]["text"]]
                caps = [c for c in caps if c]
                if caps:
                    records.append((part, i))
                    captions.append(caps)
        return cls(records, captions, name)

    @classmethod
    def load(cls, name: str, split: str, data_dir: str | None = None) -> "TfdsCaptions":
        if split not in SPLITS:
            raise DatasetError(f"unknown split {split!r}: use one of {', '.join(SPLITS)}")
        builder = _prepared_builder(name, data_dir)
        parts = [builder.as_data_source(s) for s in cls.TFDS_SPLITS[split] if s in builder.info.splits]
        if not parts:
            raise DatasetError(f"tfds {name!r} has none of the splits {cls.TFDS_SPLITS[split]}")
        return cls.from_records(parts, f"tfds:{name}/{split}")

    def images(self, indices, size):
        out = []
        for i in indices:
            part, j = self.records[int(i)]
            img = np.asarray(part[j]["image"])
            out.append(resize_uint8(img[None], size, 3)[0])
        return np.stack(out)


def _prepared_builder(name: str, data_dir: str | None):
    """The tfds builder of a prepared dataset, checked with ``is_prepared()`` before anything is read. Builders
    whose code needs TensorFlow (coco_captions does) are opened from their prepared files instead."""
    import tensorflow_datasets as tfds

    try:
        builder = tfds.builder(name, data_dir=data_dir)
    except ModuleNotFoundError:  # the builder's code imports TensorFlow: read the prepared files directly
        root = os.path.join(os.path.expanduser(data_dir or os.environ.get("TFDS_DATA_DIR", "~/tensorflow_datasets")),
                            name.split("/")[0])
        infos = sorted(glob.glob(os.path.join(root, "**", "dataset_info.json"), recursive=True))
        if not infos:
            raise DatasetError(f"tfds dataset {name!r} is not prepared in {os.path.dirname(root)}; "
                               + tfds_prepare_hint(name, data_dir)) from None
        builder = tfds.builder_from_directory(os.path.dirname(infos[-1]))
    except Exception as e:  # unknown name
        raise DatasetError(f"tensorflow-datasets has no dataset {name!r}: {e}") from None
    if not builder.is_prepared():
        raise DatasetError(f"tfds dataset {name!r} is not prepared in {builder.data_dir!s}; "
                           + tfds_prepare_hint(name, data_dir))
    return builder


# --- by name ------------------------------------------------------------------------------------------------------


def load(dataset: str, split: str, *, image_folder: str | None = None, data_dir: str | None = None,
         data_seed: int = 0, n_images: int | None = None) -> CaptionSet:
    """``offline`` | a Karpathy ``dataset_*.json`` path (with ``image_folder``) | ``tfds:coco_captions``."""
    if dataset == "offline":
        return OfflineScenes(split, seed=data_seed, n_images=n_images)
    if dataset.startswith("tfds:"):
        return _limit(TfdsCaptions.load(dataset[5:], split, data_dir), n_images)
    if dataset.endswith(".json"):
        if not image_folder:
            raise DatasetError(f"--dataset {dataset} needs --image_folder (the folder its file names are under)")
        return _limit(karpathy(dataset, image_folder, split), n_images)
    raise DatasetError(f"unknown dataset {dataset!r}: use 'offline', a Karpathy split file (dataset_coco.json, "
                       f"with --image_folder), or tfds:coco_captions")


def _limit(cs: CaptionSet, n: int | None) -> CaptionSet:
    if n is None or n >= len(cs):
        return cs
    cs.captions = cs.captions[:n]
    return cs


def max_words(cs: CaptionSet, cap: int = 50) -> int:
    return min(cap, max(len(c) for caps in cs.captions for c in caps))


class CaptionSource:
    """The engine's source: row ``r`` is caption ``r % cpi`` of image ``r // cpi``; ``get`` returns 'image' float32
    [n, S, S, 3] in [-1, 1], 'caption' int32 [n, max_len], 'length' int32 [n]."""

    def __init__(self, captions: CaptionSet, vocab: Vocab, *, img_size: int, max_len: int,
                 captions_per_image: int = 5, seed: int = 0):
        self.set, self.vocab, self.img_size, self.cpi = captions, vocab, img_size, captions_per_image
        rng = np.random.default_rng([seed, 123])
        keep, rows, lens = [], [], []
        for i, caps in enumerate(captions.captions):
            caps = [c for c in caps if len(c) <= max_len - 2]
            if not caps:
                continue
            if len(caps) >= self.cpi:
                picked = [caps[j] for j in sorted(rng.choice(len(caps), self.cpi, replace=False))]
            else:
                picked = caps + [caps[j] for j in rng.integers(len(caps), size=self.cpi - len(caps))]
            keep.append(i)
            for c in picked:
                ids, n = vocab.encode(c, max_len)
                rows.append(ids)
                lens.append(n)
        if not keep:
            raise DatasetError(f"{captions.name}: no caption fits max_len={max_len}")
        self.image_index = np.asarray(keep)
        self.caption_ids, self.lengths = np.stack(rows), np.asarray(lens, np.int32)
        self.name = captions.name

    def __len__(self) -> int:
        return len(self.caption_ids)

    def get(self, indices: np.ndarray) -> dict[str, np.ndarray]:
        indices = np.asarray(indices)
        images = self.set.images(self.image_index[indices // self.cpi], self.img_size)
        return {"image": to_model_range(images), "caption": self.caption_ids[indices],
                "length": self.lengths[indices]}
