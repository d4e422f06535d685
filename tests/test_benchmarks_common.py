"""The benchmarks' own pieces: Config overrides (``--set``), the conditional table's reading of per-variant results,
the measures computed by hand, and the curves read along a (tiny) run."""

import json

import chex
import jax
import numpy as np
import pytest

from benchmarks import common, conditional
from gan_jax.models import cluster_gan, infogan


def test_config_overrides_convert_to_the_field_types():
    assert common.config_overrides(infogan.Config, "arch=paper,lr=0.001,batch_size=128") == {
        "arch": "paper", "lr": 0.001, "batch_size": 128}
    assert common.config_overrides(cluster_gan.Config, "wass_flag=true") == {"wass_flag": True}
    assert common.config_overrides(infogan.Config, "") == {}


@pytest.mark.parametrize("text, message", [
    ("arch", "'arch' is not KEY=VALUE"),
    ("colour=red", "'colour=red' is not KEY=VALUE with KEY a field of gan_jax.models.infogan.Config"),
    ("lr=fast", "lr needs a float, got 'fast'"),
    ("wass_flag=ture", "wass_flag needs a bool, got 'ture'"),  # not silently False
    ("arch=dcgan", "--arch must be one of script, paper"),
    ("lr=-1", "--lr must be > 0"),
])
def test_bad_overrides_are_named(text, message):
    config_cls = cluster_gan.Config if text.startswith("wass_flag") else infogan.Config
    with pytest.raises(SystemExit, match=message):
        common.config_overrides(config_cls, text)


def test_conditional_table_keeps_variants_apart(tmp_path, monkeypatch):
    monkeypatch.setattr(conditional, "RESULTS", str(tmp_path))
    for stem, model in (("cgan", "cgan"), ("acgan", "acgan"), ("infogan", "infogan"),
                        ("infogan-arch=paper", "infogan arch=paper")):
        (tmp_path / f"{stem}.json").write_text(json.dumps({"model": model, "steps": 1}))
    models = [line.split("|")[1].strip() for line in conditional.report().splitlines() if line.startswith("| ")]
    assert models[1:] == ["cgan", "acgan", "infogan", "infogan arch=paper"]  # the plain run first, then its variants


def test_cluster_scores_by_hand():
    # clusters {0: labels 3, 3}, {1: labels 3, 5, 5}: each cluster's majority covers 2 of its points -> 4 / 5
    assert conditional.cluster_scores(np.array([0, 0, 1, 1, 1]), np.array([3, 3, 3, 5, 5]))["purity"] == 0.8
    # a relabelled perfect clustering scores 1 on all three
    assert conditional.cluster_scores(np.array([1, 1, 0]), np.array([4, 4, 7])) == pytest.approx(
        {"purity": 1.0, "nmi": 1.0, "ari": 1.0})


def test_curve_metric_along_the_way():
    assert conditional.curve_metric("cgan", None, None) is None  # no cheap metric: no hook
    config = cluster_gan.Config()
    state = cluster_gan.init(jax.random.key(0), config)
    metric, measure = conditional.curve_metric("cluster_gan", cluster_gan, config)
    images, labels = conditional.digits(config, "test")
    assert metric == "purity" and len(images) == len(labels) == 500
    clusters = np.asarray(cluster_gan.cluster(state, images))
    assert measure(state) == conditional.cluster_scores(clusters, labels)["purity"]


def test_convolutions_counted_in_compiled_programs():
    """benchmarks.memory's convolution count: XLA's own convolutions (read here from a CPU compile) and the cuDNN
    custom calls a GPU compile has instead."""
    fn = jax.jit(lambda x, w: jax.lax.conv(x, w, (1, 1), "SAME") * 2.0)
    text = fn.lower(np.ones((1, 1, 8, 8), np.float32), np.ones((3, 1, 3, 3), np.float32)).compile().as_text()
    assert common.convolutions(text) == 1
    gpu = ('%cudnn-conv = (f32[1,3,8,8]{3,2,1,0}, u8[0]{0}) custom-call(%p0, %p1), window={size=3x3 pad=1_1x1_1}, '
           'custom_call_target="__cudnn$convForward"\n'
           '%cudnn-conv.1 = (f32[3,1,3,3]{3,2,1,0}, u8[0]{0}) custom-call(%p0, %g), '
           'custom_call_target="__cudnn$convBackwardFilter"')
    assert common.convolutions(gpu) == 2


def test_memory_benchmark_names_models_without_remat(capsys):
    from benchmarks import memory
    with pytest.raises(SystemExit):
        memory.main(["--models", "cyclegan,gan"])
    assert "unknown models with a remat flag ['gan']: choose from pix2pix, cyclegan" in capsys.readouterr().err


@pytest.mark.parametrize("module, bad, allowed", [
    ("quality", "gan,cgan", "gan, dcgan"), ("conditional", "acgan,gan", "cgan, acgan"),
    ("multimodal", "munit,cyclegan", "bicyclegan, munit"), ("translation", "pix2pix,munit", "pix2pix, cyclegan"),
    ("superres", "esrgan,pix2pix", "srgan, esrgan"), ("speed", "gan,nosuchgan", "gan"),
    ("init_time", "gan,nosuchgan", "gan, dcgan")])
def test_every_benchmark_names_an_unknown_model_before_training(module, bad, allowed, capsys):
    """A model outside what the benchmark measures is a usage error listing its choices, not a KeyError (or a
    trained model) later."""
    import importlib
    main = importlib.import_module(f"benchmarks.{module}").main
    with pytest.raises(SystemExit):
        main(["--models", bad])
    err = capsys.readouterr().err
    assert f"unknown models ['{bad.split(',')[1]}']" in err and allowed in err


def test_init_time_compares_the_two_inits():
    from benchmarks import init_time
    r = init_time.row("gan")
    assert r["leaves"] > 10 and r["jax.jit(init) s"] > 0 and r["engine init s"] > 0
    assert r["largest difference"] < 1e-6  # the same draws (equal bits at XLA's default optimisation)
    assert init_time.largest_difference({"a": np.zeros(2)}, {"b": np.zeros(2)}) == float("inf")
    assert init_time.largest_difference({"a": np.zeros(2)}, {"a": np.array([0.0, 0.5])}) == 0.5


def test_quality_seed_and_overrides_reach_the_run(tmp_path, monkeypatch):
    """``benchmarks.quality --seed S --set K=V``: the run is named after them (parallel runs of one model keep apart)
    and the seed reaches the initialisation (the FD at step 0 differs)."""
    from benchmarks import quality
    monkeypatch.setattr(common, "OUT", str(tmp_path))
    rows = [quality.run("gan", 1, 64, checkpoints=1, overrides=over, seed=seed)
            for over, seed in (({}, 0), ({"lr": 0.001}, 1))]
    assert [r["model"] for r in rows] == ["gan", "gan-lr=0.001-seed=1"]
    assert (tmp_path / "runs" / "gan-lr=0.001-seed=1" / "metrics.jsonl").exists()
    assert rows[0]["fd_start"] != rows[1]["fd_start"]
    assert all(np.isfinite(r["fd_end"]) for r in rows)
    assert all(1 <= r["classes"] <= 10 and r["class_kl"] >= 0 for r in rows)


def test_confident_agreement_by_hand():
    """benchmarks.domain's cogan statistic: pairs 0 and 1 are read surely by both (agree, disagree), pair 2 is
    unsure on the B side, pair 3 unsure on the A side: 2 of 4 pairs kept, half of them agree."""
    from benchmarks import domain
    sure, unsure = [10.0, 0, 0], [1.0, 0.9, 0]
    a = np.array([sure, sure, sure, unsure])
    b = np.array([sure, [0, 10.0, 0], unsure, sure])
    assert domain.confident_agreement(a, b) == (0.5, 0.5)
    kept, agree = domain.confident_agreement(a, np.array([unsure] * 4))
    assert kept == 0 and np.isnan(agree)


def test_cogan_pair_reading_and_its_curve_hook(monkeypatch):
    """benchmarks.domain.read_pairs on 'pairs' of the same real digits, read by the same classifier on both sides:
    every pair agrees, the readers' ceiling is 100% and chance is the sum of the squared class shares; with the B
    side rolled by one image only neighbours of the same digit agree. The --curve hook keeps each reading."""
    from types import SimpleNamespace

    import jax.numpy as jnp

    from benchmarks import domain
    from gan_jax.evaluate import real_images
    from gan_jax.metrics import load_classifier

    clf = load_classifier()
    monkeypatch.setattr(domain, "mnistm_judge", lambda: (clf, 1.0))
    digits = real_images("mnist", SimpleNamespace(img_size=32, channels=3), 50)
    pred = clf.predict(digits)

    class Same:
        generate_pairs = staticmethod(lambda state, rng, n: (state[:n], state[:n]))

    class Rolled:
        generate_pairs = staticmethod(lambda state, rng, n: (state[:n], jnp.roll(state[:n], 1, axis=0)))

    same = domain.read_pairs(Same, jnp.asarray(digits), n=50)
    assert same["agree"] == 1.0 and same["ceiling"] == 1.0
    np.testing.assert_allclose(same["chance"], np.sum((np.bincount(pred, minlength=10) / 50) ** 2))
    rolled = domain.read_pairs(Rolled, jnp.asarray(digits), n=50)
    assert rolled["agree"] == np.mean(pred == np.roll(pred, 1)) < 1 and rolled["ceiling"] == 1.0
    curve = []
    hook = domain.cogan_curve_hook(Rolled, 7, curve)
    assert hook.interval == 7
    assert hook.fn(7, jnp.asarray(digits)) == {"pair_agreement": rolled["agree"], "readers_ceiling": 1.0}
    assert [step for step, _ in curve] == [7] and curve[0][1]["agree"] == rolled["agree"]


def test_domain_refuses_a_curve_interval_below_one(capsys):
    from benchmarks import domain
    with pytest.raises(SystemExit):
        domain.main(["--models", "cogan", "--curve", "0"])
    assert "--curve must be a number of steps >= 1, got 0" in capsys.readouterr().err


def test_poster_distance_by_hand():
    """The offline B domain's levels (posterize of every 0..255 value: 32, 96, 160, 224 -> [-1, 1]); distance 0 on
    them, half the spacing midway, and real offline B images are exactly on them while photos are not."""
    from benchmarks import multimodal
    from gan_jax.data.kinds.unpaired import offline_domains
    levels = multimodal.poster_levels()
    np.testing.assert_allclose(levels, np.array([32, 96, 160, 224]) / 127.5 - 1.0, atol=1e-6)
    on = np.broadcast_to(levels[[0, 1, 2, 3, 2, 1]], (1, 2, 3, 6)).reshape(1, 2, 6, 3)
    assert multimodal.poster_distance(on) < 1e-6
    midway = np.full((1, 2, 2, 3), (levels[1] + levels[2]) / 2)
    assert multimodal.poster_distance(midway) == pytest.approx((levels[2] - levels[1]) / 2, abs=1e-6)
    a, b = offline_domains("test", (32, 32), 3)
    assert multimodal.poster_distance(b / 127.5 - 1.0) < 1e-6 < 0.05 < multimodal.poster_distance(a / 127.5 - 1.0)


def test_modes_reports_digit_shares_and_d_scores(tmp_path, monkeypatch):
    """``benchmarks.modes``: one row per report, ten digit shares summing to 100%, ten finite D scores."""
    from benchmarks import modes
    monkeypatch.setattr(common, "OUT", str(tmp_path))
    rows = modes.run("bgan", steps=3, every=2, n=100)
    assert [r["step"] for r in rows] == [2, 3]
    for r in rows:
        shares = [float(s) for s in r["share %"].split()]
        scores = [float(s) for s in r["D logit on real"].split()]
        assert len(shares) == len(scores) == 10
        assert abs(sum(shares) - 100) <= 5  # rounded to whole percents
        assert np.all(np.isfinite(scores)) and 0 <= r["classes"] <= 10
    with pytest.raises(SystemExit):
        modes.main(["--models", "wgan"])


def test_multimodal_curve_reads_the_same_run_along_the_way(capsys):
    from benchmarks import multimodal
    tiny = {"img_height": 16, "img_width": 16, "n_strided": 2, "residual_blocks": 1, "n_critic": 2, "batch_size": 2}
    seen = []
    along = multimodal.train("stargan", tiny, 3, "offline", every=1,
                             measure=lambda step, model, init, state, batch: seen.append(
                                 (step, jax.tree.map(np.asarray, state))))
    plain = multimodal.train("stargan", tiny, 3, "offline")
    assert [step for step, _ in seen] == [1, 2] and along[5] == plain[5] == 3  # not at the last step: main reads it
    chex.assert_trees_all_equal(along[3], plain[3])  # measuring changed nothing of the run
    assert not all(np.array_equal(a, b) for a, b in zip(jax.tree.leaves(seen[0][1]), jax.tree.leaves(seen[1][1])))
    with pytest.raises(SystemExit):
        multimodal.main(["--models", "stargan", "--curve", "-1"])
    assert "--curve must be a number of steps >= 1 (0: no curve), got -1" in capsys.readouterr().err


def test_shape_match_finds_partners_by_their_edges():
    """benchmarks.domain.shape_match: each image against itself is found every time (top-1 1, AUC 1); with the B
    side rolled by one no partner is the best match; a bright square's edge map is its outline, by hand; and real
    MNIST digits find their own MNIST-M renderings far above chance (1/500), though the photos add edges."""
    from types import SimpleNamespace

    from benchmarks import domain

    rng = np.random.default_rng(0)
    imgs = rng.uniform(-1, 1, (40, 12, 12, 3))
    assert domain.shape_match(imgs, imgs) == (1.0, 1.0)
    top1, auc = domain.shape_match(imgs, np.roll(imgs, 1, axis=0))
    assert top1 == 0.0 and 0.3 < auc < 0.7
    square = np.zeros((1, 6, 6, 1))
    square[0, 2:4, 2:4] = 1.0
    e = domain.edge_maps(square)[0].reshape(6, 6)
    assert e[2, 2] > 0 and e[0, 0] < 0 and np.isclose(np.linalg.norm(e), 1.0)  # corner pixel on the outline
    a, b = domain.real_pairs(SimpleNamespace(img_size=32, channels=3))
    assert a.shape == b.shape == (domain.SHAPE_N, 32, 32, 3) and -1 <= a.min() and a.max() <= 1
    top1, auc = domain.shape_match(a, b)
    assert top1 > 0.3 and auc > 0.9
