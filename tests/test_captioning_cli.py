"""captioning's command lines end to end on tiny shapes: train (+ dev BLEU hook, resume), caption (PNG), evaluate,
and the bad inputs with their messages."""

import json
import os

import numpy as np
import pytest
from PIL import Image

from captioning import caption, data, evaluate, train
from captioning.vocab import Vocab

TINY = ["--encoder", "resnet10", "--encoder_width", "8", "--encoder_stages", "2", "--encoded_image_size", "2",
        "--img_size", "32", "--emb_dim", "8", "--attention_dim", "8", "--decoder_dim", "16", "--batch_size", "8",
        "--n_train", "16", "--log_interval", "2", "--eval_interval", "2", "--eval_images", "8",
        "--checkpoint_interval", "2", "--no_progress"]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = str(tmp_path_factory.mktemp("cap") / "run")
    assert train.main([*TINY, "--steps", "2", "--out", out]) == 0
    assert train.main([*TINY, "--steps", "4", "--out", out, "--resume"]) == 0
    return out


@pytest.fixture(scope="module")
def scene_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("scenes")
    images = data.OfflineScenes("test", n_images=2).images(np.arange(2), 64)
    paths = []
    for i, img in enumerate(images):
        paths.append(str(folder / f"scene{i}.png"))
        Image.fromarray(img).save(paths[-1])
    return paths


def test_train_writes_a_resumable_run_with_dev_bleu(run_dir):
    assert sorted(os.listdir(os.path.join(run_dir, "checkpoints"))) == ["2", "4"]
    with open(os.path.join(run_dir, "metrics.jsonl")) as f:
        records = [json.loads(line) for line in f]
    assert [r["step"] for r in records] == [1, 2, 4]
    assert all(0 <= r["dev_bleu4"] <= 1 for r in records if r["step"] in (2, 4))
    saved = json.load(open(os.path.join(run_dir, "config.json")))
    vocab = Vocab.load(os.path.join(run_dir, "vocab.json"))
    assert saved["config"]["vocab_size"] == len(vocab) and saved["vocab_sha"] == vocab.sha
    assert saved["data"]["dataset"] == "offline" and saved["config"]["max_len"] == 16


def test_caption_prints_and_writes_attention_png(run_dir, scene_files, tmp_path, capsys):
    assert caption.main([*scene_files, "--run", run_dir, "--beam", "2", "--out", str(tmp_path)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert [line.split("\t")[0] for line in lines] == scene_files
    for path, line in zip(scene_files, lines):
        words = line.split("\t")[1].split()
        png = Image.open(tmp_path / (os.path.basename(path)))
        n_panels = 1 + len(words) + (len(words) < 15)  # the image, each word, <end> when it was emitted
        rows = -(-n_panels // caption.COLUMNS)
        assert png.size == (max(2, min(n_panels, caption.COLUMNS)) * caption.PANEL, 22 + rows * (caption.PANEL + 22))


def test_evaluate_reports_bleu_per_beam(run_dir, capsys):
    assert evaluate.main(["--run", run_dir, "--beam", "1,2", "--n", "8", "--batch_size", "4"]) == 0
    out = capsys.readouterr().out
    assert "| 1 |" in out and "| 2 |" in out
    with open(os.path.join(run_dir, "eval", "step_00000004_test.json")) as f:
        result = json.load(f)
    assert result["n_images"] == 8 and set(result["beams"]) == {"1", "2"}
    assert all(0 <= b["bleu4"] <= b["bleu1"] <= 1 for b in result["beams"].values())


# --- bad inputs --------------------------------------------------------------------------------------------------


def test_undecodable_image_is_named(run_dir, scene_files, tmp_path, capsys):
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"\xff\xd8 not really a jpeg")
    assert caption.main([scene_files[0], str(bad), "--run", run_dir]) == 1
    err = capsys.readouterr().err
    assert "1 of 2 image(s) cannot be used" in err and "cannot decode image" in err and "broken.jpg" in err
    assert caption.main([str(tmp_path / "nowhere.png"), "--run", run_dir]) == 1
    assert "nowhere.png does not exist" in capsys.readouterr().err


@pytest.mark.parametrize("main, args", [(caption.main, ["x.png", "--beam", "0"]),
                                        (evaluate.main, ["--beam", "1,0"])])
def test_beam_below_one(run_dir, capsys, main, args):
    assert main([*args, "--run", run_dir]) == 1
    assert "beam size must be an integer >= 1, got 0" in capsys.readouterr().err


def test_checkpoint_with_another_vocabulary(run_dir, scene_files, tmp_path, capsys):
    import shutil

    copy = str(tmp_path / "run")
    shutil.copytree(run_dir, copy)
    Vocab(["some", "other", "words"]).save(os.path.join(copy, "vocab.json"))
    assert caption.main([scene_files[0], "--run", copy]) == 1
    err = capsys.readouterr().err
    assert "does not match the checkpoint's" in err and "7 tokens" in err
    assert evaluate.main(["--run", copy]) == 1
    assert "does not match the checkpoint's" in capsys.readouterr().err


def test_empty_vocabulary(tmp_path, capsys):
    assert train.main([*TINY, "--steps", "1", "--min_word_freq", "1000000", "--out", str(tmp_path)]) == 1
    assert "empty vocabulary: no word appears at least 1000000 time(s)" in capsys.readouterr().err


def test_caption_file_with_missing_images(tmp_path, capsys):
    folder = tmp_path / "images"
    folder.mkdir()
    entries = [{"filename": f"{i}.jpg", "split": "train", "sentences": [{"tokens": ["a", "dog"]}]} for i in range(3)]
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(folder / "1.jpg")
    (tmp_path / "dataset_flickr8k.json").write_text(json.dumps({"images": entries}))
    args = [*TINY, "--dataset", str(tmp_path / "dataset_flickr8k.json"), "--image_folder", str(folder),
            "--min_word_freq", "1", "--out", str(tmp_path / "run"), "--steps", "1"]
    assert train.main(args) == 1
    err = capsys.readouterr().err
    assert "2 of the 3 'train' images" in err and "0.jpg" in err and "2.jpg" in err and "1.jpg" not in err


def test_existing_run_is_not_overwritten(run_dir, capsys):
    before = open(os.path.join(run_dir, "vocab.json")).read()
    assert train.main([*TINY, "--steps", "2", "--out", run_dir]) == 1
    assert "already holds a run" in capsys.readouterr().err
    assert open(os.path.join(run_dir, "vocab.json")).read() == before


def test_nic_figure_has_the_caption_but_no_attention_panels():
    image = np.zeros((64, 64, 3), np.uint8)
    fig = caption.attention_figure(image, ["a", "red", "3", "<end>"], None)
    assert fig.size == (2 * caption.PANEL, 22 + caption.PANEL + 22)
    fig = caption.attention_figure(image, ["a", "red", "3", "<end>"], np.full((4, 16), 1 / 16, np.float32))
    assert fig.size == (5 * caption.PANEL, 22 + caption.PANEL + 22)
