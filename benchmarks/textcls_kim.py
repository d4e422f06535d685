"""Kim's Table 2 for the datasets and word vectors you have, our accuracy beside his.

    python -m benchmarks.textcls_kim --mr rt-polaritydata --sst stanfordSentimentTreebank/trees --trec trec \\
        --subj rotten_imdb --cr cr --mpqa mpqa --vectors GoogleNews-vectors-negative300.bin

Each dataset flag takes what ``textcls.data`` reads for it (``--sst`` gives both SST-1 and SST-2). Without
``--vectors`` only CNN-rand runs. Kim's protocol: 25 epochs of Adadelta, batches of 50, test accuracy at the best
dev accuracy; MR, Subj, CR and MPQA by 10-fold cross-validation (``--max_folds`` runs fewer, and says so), with 10%
of each training part held out as dev; SST uses its dev split, TREC 10% of its training set.
Writes benchmarks/out/textcls_kim.json and textcls_kim.md; runs go to benchmarks/out/runs/textcls-kim/ (their
checkpoints and weights are deleted after scoring unless ``--keep_runs``).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time

import numpy as np

from benchmarks.common import OUT, machine, table

# Kim (2014), Table 2: test accuracy (%), CV average for MR, Subj, CR, MPQA.
KIM = {
    "rand": {"mr": 76.1, "sst1": 45.0, "sst2": 82.7, "subj": 89.6, "trec": 91.2, "cr": 79.8, "mpqa": 83.4},
    "static": {"mr": 81.0, "sst1": 45.5, "sst2": 86.8, "subj": 93.0, "trec": 92.8, "cr": 84.7, "mpqa": 89.6},
    "non-static": {"mr": 81.5, "sst1": 48.0, "sst2": 87.2, "subj": 93.4, "trec": 93.6, "cr": 84.3, "mpqa": 89.5},
    "multichannel": {"mr": 81.1, "sst1": 47.4, "sst2": 88.1, "subj": 93.2, "trec": 92.2, "cr": 85.0, "mpqa": 89.4},
}
DATASETS = ("mr", "sst1", "sst2", "subj", "trec", "cr", "mpqa")


def run_dataset(name: str, path: str, variants: list[str], vectors_file: str | None, args, log) -> list[dict]:
    from textcls import data, model, train
    from textcls.text import Vocab
    from textcls.vectors import load_vectors

    dataset = data.load(f"{name}:{path}")
    # The vocabulary comes from every split's text (Kim), so it is the same for every fold: read the vectors once.
    vectors = None
    if vectors_file and any(v != "rand" for v in variants):
        texts = dataset.train.tokens + (dataset.dev.tokens if dataset.dev else []) + (
            dataset.test.tokens if dataset.test else [])
        t0 = time.perf_counter()
        vectors = load_vectors(vectors_file, Vocab.build(texts).words)
        log(f"{name}: {len(vectors.vectors)} words of its vocabulary in {vectors_file} "
            f"({time.perf_counter() - t0:.0f}s)")
    folds = list(range(min(args.max_folds or dataset.cv, dataset.cv))) if dataset.test is None else [0]
    rows = []
    for variant in variants:
        accs, devs, t0 = [], [], time.perf_counter()
        for fold in folds:
            run_dir = os.path.join(args.out, "runs", "textcls-kim", f"{name}-{variant}-fold{fold}")
            shutil.rmtree(run_dir, ignore_errors=True)
            hyper = model.Config(variant=variant, n_epochs=args.epochs, embed_dim=args.embed_dim,
                                 feature_maps=args.feature_maps, batch_size=args.batch_size)
            prepared = train.prepare(dataset, hyper, run_dir, vectors=None if variant == "rand" else vectors,
                                     fold=fold, seed=args.seed)
            r = train.fit(prepared, run_dir, seed=args.seed, progress=False, tensorboard=False,
                          extra={"spec": f"{name}:{os.path.abspath(path)}", "seed": args.seed})
            if not args.keep_runs:  # 40 runs of 300-d tables would fill gigabytes; the logs and results stay
                for heavy in ("checkpoints", "best"):
                    shutil.rmtree(os.path.join(run_dir, heavy), ignore_errors=True)
                if os.path.exists(os.path.join(run_dir, "embeddings.npy")):
                    os.remove(os.path.join(run_dir, "embeddings.npy"))
            accs.append(100 * r["test_acc"])
            devs.append(100 * r["dev_acc"])
            log(f"{name} {variant} fold {fold}: dev {devs[-1]:.1f} test {accs[-1]:.1f}")
        row = {"dataset": name, "variant": variant, "ours": float(np.mean(accs)),
               "sd": float(np.std(accs)) if len(accs) > 1 else None, "kim": KIM[variant][name],
               "dev": float(np.mean(devs)), "folds": f"{len(folds)} of {dataset.cv}" if dataset.cv else "fixed split",
               "epochs": args.epochs, "wall_s": time.perf_counter() - t0}
        row["diff"] = row["ours"] - row["kim"]
        rows.append(row)
        print(f"{name:5s} {variant:13s} ours {row['ours']:5.1f}   Kim {row['kim']:5.1f}   ({row['folds']})",
              flush=True)
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.textcls_kim", description=__doc__.split("\n\n")[0])
    for name in ("mr", "sst", "trec", "subj", "cr", "mpqa"):
        p.add_argument(f"--{name}", default=None, help=f"{name} data (see textcls.data)")
    p.add_argument("--vectors", default=None, help="word2vec / GloVe file (Kim: GoogleNews-vectors-negative300.bin)")
    p.add_argument("--variants", default=None, help="default: all four with --vectors, else rand")
    p.add_argument("--max_folds", type=int, default=None, help="run only the first N folds of the CV sets")
    p.add_argument("--epochs", type=int, default=25)
    p.add_argument("--embed_dim", type=int, default=300, help="rand's vector size (the file's size otherwise)")
    p.add_argument("--feature_maps", type=int, default=100)
    p.add_argument("--batch_size", type=int, default=50)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--keep_runs", action="store_true", help="keep each run's checkpoints and best weights")
    p.add_argument("--out", default=OUT, help="where textcls_kim.{json,md} and runs/ go")
    args = p.parse_args(argv)
    from gan_jax import cli

    cli.quiet_logs()
    given = {name: getattr(args, "sst" if name.startswith("sst") else name) for name in DATASETS}
    given = {k: v for k, v in given.items() if v}
    if not given:
        p.error("give at least one dataset (--mr, --sst, --trec, --subj, --cr, --mpqa)")
    variants = (args.variants.split(",") if args.variants else
                ["rand", "static", "non-static", "multichannel"] if args.vectors else ["rand"])
    if any(v != "rand" for v in variants) and not args.vectors:
        p.error("static, non-static and multichannel need --vectors")

    def log(message):
        print(message, file=sys.stderr, flush=True)

    rows = []
    for name, path in given.items():
        rows += run_dataset(name, path, variants, args.vectors, args, log)
    result = {"machine": machine(), "vectors": args.vectors, "args": vars(args), "rows": rows}
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "textcls_kim.json"), "w") as f:
        json.dump(result, f, indent=2)
    text = "\n".join([
        "# TextCNN: Kim's Table 2 beside ours", "",
        f"`python -m benchmarks.textcls_kim` on {machine()}; vectors: {args.vectors or 'none (rand only)'}; "
        f"{args.epochs} epochs; test accuracy (%) at the best dev accuracy, averaged over the folds run.", "",
        table(rows, ["dataset", "variant", "ours", "sd", "kim", "diff", "dev", "folds", "epochs", "wall_s"]), ""])
    with open(os.path.join(args.out, "textcls_kim.md"), "w") as f:
        f.write(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
