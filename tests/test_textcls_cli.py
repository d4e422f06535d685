"""End to end: train (on gan_jax.engine), resume, predict, evaluate, word2vec; and the bad inputs of each command."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from textcls import evaluate, predict, train, word2vec
from textcls.vectors import load_vectors, write_word2vec

POS = ["good", "great", "lovely", "superb", "fun"]
NEG = ["bad", "awful", "dull", "boring", "poor"]
FILLER = ["the", "film", "was", "a", "movie", "plot", "really", "quite"]
TINY = ["--embed_dim", "8", "--feature_maps", "4", "--batch_size", "10", "--no_progress", "--log_interval", "5"]


def sentences(n, seed):
    rng = np.random.default_rng(seed)
    lines = []
    for i in range(n):
        label = "pos" if i % 2 else "neg"
        words = list(rng.choice(FILLER, 4)) + list(rng.choice(POS if label == "pos" else NEG, 2))
        rng.shuffle(words)
        lines.append(f"{label}\t{' '.join(words)}")
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("corpus")
    (root / "train.tsv").write_text(sentences(200, 0))
    (root / "test.tsv").write_text(sentences(40, 1))
    rng = np.random.default_rng(0)
    words = POS + NEG + FILLER[:4]  # some words have no vector: they get Kim's U[-a, a]
    write_word2vec(str(root / "vectors.txt"), words, rng.normal(0, 0.5, (len(words), 8)), binary=False)
    return root, f"file:{root / 'train.tsv'},{root / 'test.tsv'}"


@pytest.fixture(scope="module")
def rand_run(corpus, tmp_path_factory):
    root, spec = corpus
    run = tmp_path_factory.mktemp("runs") / "rand"
    assert train.main(["--dataset", spec, "--out", str(run), "--steps", "40", *TINY]) == 0
    return run


def test_train_writes_a_complete_run(rand_run):
    for name in ("config.json", "metrics.jsonl", "vocab.json", "results.json", "checkpoints", "best"):
        assert os.path.exists(rand_run / name), name
    results = json.loads((rand_run / "results.json").read_text())
    assert results["variant"] == "rand" and results["steps"] == 40 and results["n_test"] == 40
    assert results["n_train"] == 180 and results["n_dev"] == 20  # 10% of train held out for early stopping
    records = [json.loads(line) for line in open(rand_run / "metrics.jsonl")]
    assert any("dev_acc" in r for r in records) and all(np.isfinite(r["loss"]) for r in records)
    assert results["dev_acc"] == max(r["dev_acc"] for r in records if "dev_acc" in r)
    # the best-dev weights' test predictions, kept for paired comparisons: their accuracy is the reported one
    pred = np.load(rand_run / train.PREDICTIONS)
    labels = np.array([line.startswith("pos") for line in sentences(40, 1).splitlines()], np.int32)
    assert pred.shape == (40,) and np.mean(pred == labels) == pytest.approx(results["test_acc"])


def test_paired_comparison_counts_and_mcnemar_p():
    from benchmarks.textcls_offline import paired

    y = [0] * 12
    r = paired([0] * 10 + [1, 1], [1] * 10 + [1, 1], y)  # a alone right on 10 sentences, b alone on none
    assert r == {"a_only": 10, "b_only": 0, "p": pytest.approx(2 * 0.5 ** 10)}
    r = paired([0, 0, 1, 1, 0], [1, 0, 0, 1, 0], [0] * 5)  # one each way: no evidence either way
    assert (r["a_only"], r["b_only"], r["p"]) == (1, 1, pytest.approx(1.0))
    assert paired([0, 1], [0, 1], [0, 0])["p"] == 1.0  # no discordant sentence


def test_predict_and_evaluate(rand_run, corpus, capsys):
    assert predict.main(["--run", str(rand_run), "--json", "a lovely superb film", "dull boring plot"]) == 0
    out = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [sorted(r["probabilities"]) for r in out] == [["neg", "pos"]] * 2
    assert all(abs(sum(r["probabilities"].values()) - 1) < 1e-5 for r in out)
    assert evaluate.main(["--run", str(rand_run)]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["n"] == 40 and 0 <= result["accuracy"] <= 1 and np.sum(result["confusion"]) == 40
    root, _ = corpus
    assert evaluate.main(["--run", str(rand_run), "--file", str(root / "test.tsv"), "--split", "test"]) == 0
    assert json.loads(capsys.readouterr().out)["n"] == 40


def test_resume_continues_the_run(corpus, tmp_path):
    _, spec = corpus
    run = tmp_path / "run"
    assert train.main(["--dataset", spec, "--out", str(run), "--steps", "10", *TINY]) == 0
    assert train.main(["--dataset", spec, "--out", str(run), "--steps", "10", *TINY]) == 1  # refuses to overwrite
    assert train.main(["--out", str(run), "--resume", "--steps", "20", "--no_progress"]) == 0
    assert json.loads((run / "results.json").read_text())["steps"] == 20
    assert train.main(["--out", str(run), "--resume", "--feature_maps", "9", "--no_progress"]) == 1


def test_multichannel_with_a_word2vec_text_file(corpus, tmp_path, capsys):
    root, spec = corpus
    run = tmp_path / "multi"
    args = ["--dataset", spec, "--out", str(run), "--steps", "10", "--variant", "multichannel",
            "--vectors", str(root / "vectors.txt"), *TINY]
    assert train.main(args) == 0
    saved = json.loads((run / "config.json").read_text())
    assert saved["config"]["variant"] == "multichannel" and saved["vectors"]["known"] == 14
    assert saved["vectors"]["format"] == "word2vec-text" and saved["vectors"]["unknown"] == saved["vocab"] - 15
    assert predict.main(["--run", str(run), "superb fun"]) == 0
    assert capsys.readouterr().out.split("\t")[0] in ("pos", "neg")


def test_predict_bad_inputs(rand_run, capsys):
    assert predict.main(["--run", str(rand_run), ""]) == 1
    assert "the text is empty" in capsys.readouterr().err
    assert predict.main(["--run", str(rand_run), "xylophone zebra"]) == 1
    assert "no word of 'xylophone zebra' is in the model's vocabulary" in capsys.readouterr().err
    assert predict.main(["--run", str(rand_run / "nope"), "good"]) == 1
    assert "not a textcls run directory" in capsys.readouterr().err
    clf = predict.Classifier(str(rand_run))
    with pytest.raises(ValueError, match="not valid UTF-8"):
        clf.predict([b"good \xff film"])
    # undecodable bytes on the command line reach Python as surrogates: refused with the byte, not dropped
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    proc = subprocess.run([sys.executable, "-m", "textcls.predict", "--run", str(rand_run), b"good \xe9 film"],
                          capture_output=True, env=env)
    assert proc.returncode == 1 and b"not valid UTF-8: byte 0xe9 at position 5" in proc.stderr


def test_evaluate_label_outside_the_trained_set(rand_run, tmp_path, capsys):
    labelled = tmp_path / "other.tsv"
    labelled.write_text("pos\tgood film\nneutral\tthe film\n")
    assert evaluate.main(["--run", str(rand_run), "--file", str(labelled)]) == 1
    assert "label 'neutral' (line 2) is not one of the classes the run was trained on: ['neg', 'pos']" in \
        capsys.readouterr().err


def test_train_bad_inputs(corpus, tmp_path, capsys):
    root, spec = corpus
    assert train.main(["--dataset", spec, "--out", str(tmp_path / "a"), "--variant", "static", *TINY]) == 1
    assert "--variant static needs pre-trained vectors" in capsys.readouterr().err
    args = ["--dataset", spec, "--out", str(tmp_path / "b"), "--vectors", str(root / "vectors.txt"), *TINY]
    assert train.main(args) == 1
    assert "--variant rand starts from random vectors" in capsys.readouterr().err
    bad = tmp_path / "bad.bin"
    bad.write_bytes(b"300 words\n")
    args = ["--dataset", spec, "--out", str(tmp_path / "c"), "--variant", "static", "--vectors", str(bad), *TINY]
    assert train.main(args) == 1
    assert "neither a word2vec header" in capsys.readouterr().err
    assert train.main(["--dataset", "mr:/nonexistent", "--out", str(tmp_path / "d")]) == 1
    assert "does not exist" in capsys.readouterr().err
    assert train.main(["--dataset", spec, "--variant", "dynamic", "--out", str(tmp_path / "e")]) == 1
    assert "--variant 'dynamic'" in capsys.readouterr().err


def test_word2vec_command_writes_loadable_vectors(corpus, tmp_path, capsys):
    _, spec = corpus
    out = tmp_path / "w2v.bin"
    assert word2vec.main(["--dataset", spec, "--out", str(out), "--dim", "8", "--epochs", "2",
                          "--batch_pairs", "64", "--min_count", "1"]) == 0
    found = load_vectors(str(out), ["good", "film"])
    assert found.format == "word2vec-binary" and found.dim == 8 and set(found.vectors) == {"good", "film"}
    assert all(np.all(np.isfinite(v)) and np.any(v) for v in found.vectors.values())


def test_kim_table_script_on_a_small_mr(corpus, tmp_path, capsys):
    from benchmarks import textcls_kim

    root, _ = corpus
    mr = tmp_path / "mr"
    mr.mkdir()
    lines = sentences(100, 2).splitlines()
    (mr / "rt-polarity.pos").write_text("\n".join(s.split("\t")[1] for s in lines if s.startswith("pos")))
    (mr / "rt-polarity.neg").write_text("\n".join(s.split("\t")[1] for s in lines if s.startswith("neg")))
    assert textcls_kim.main(["--mr", str(mr), "--vectors", str(root / "vectors.txt"), "--variants",
                             "rand,multichannel", "--max_folds", "1", "--epochs", "1", "--embed_dim", "8",
                             "--feature_maps", "4", "--batch_size", "10", "--out", str(tmp_path / "out")]) == 0
    result = json.loads((tmp_path / "out" / "textcls_kim.json").read_text())
    assert [(r["dataset"], r["variant"], r["kim"], r["folds"]) for r in result["rows"]] == [
        ("mr", "rand", 76.1, "1 of 10"), ("mr", "multichannel", 81.1, "1 of 10")]
    assert "| mr | multichannel |" in capsys.readouterr().out
    assert not os.path.exists(tmp_path / "out" / "runs" / "textcls-kim" / "mr-rand-fold0" / "checkpoints")
