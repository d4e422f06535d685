"""Caption metrics: corpus BLEU-1..4 against all the references of each image, and METEOR/CIDEr when the
packages that compute them are installed.

BLEU is computed as the reference implementation computes it (nltk's ``corpus_bleu`` with its default, unsmoothed
settings), re-implemented here so that evaluation needs no nltk; a test checks the two agree:
- modified n-gram precision summed over the corpus: each hypothesis n-gram counts at most as often as in the one
  reference holding it most; the denominator adds ``max(1, number of hypothesis n-grams)`` per caption (nltk's
  rule, which also counts a caption shorter than n as one n-gram);
- brevity penalty ``exp(1 - r / c)`` when the total hypothesis length c is not above r, the sum over captions of
  the reference length closest to each hypothesis (ties: the shorter);
- BLEU-n = BP * exp(mean over k = 1..n of log p_k), 0 when any p_k is 0 (nltk returns a float underflow there).
Tokens are words; <start>, <end> and <pad> are excluded from both sides, as in the reference.
"""

from __future__ import annotations

import collections
import math
from typing import Sequence

Tokens = Sequence[str]


def _ngrams(words: Tokens, n: int) -> collections.Counter:
    return collections.Counter(tuple(words[i:i + n]) for i in range(len(words) - n + 1))


def bleu_stats(references: Sequence[Sequence[Tokens]], hypotheses: Sequence[Tokens], max_n: int = 4) -> dict:
    """Corpus sums: clipped matches and totals per order, hypothesis length, closest reference length."""
    if len(references) != len(hypotheses):
        raise ValueError(f"{len(hypotheses)} hypotheses but {len(references)} reference lists")
    matches, totals = [0] * max_n, [0] * max_n
    hyp_len = ref_len = 0
    for refs, hyp in zip(references, hypotheses):
        if not refs:
            raise ValueError("an image has no reference caption")
        for n in range(1, max_n + 1):
            counts = _ngrams(hyp, n)
            best: collections.Counter = collections.Counter()
            for r in refs:
                best |= _ngrams(r, n)
            matches[n - 1] += sum(min(c, best[g]) for g, c in counts.items())
            totals[n - 1] += max(1, sum(counts.values()))
        hyp_len += len(hyp)
        ref_len += min((len(r) for r in refs), key=lambda n: (abs(n - len(hyp)), n))
    return {"matches": matches, "totals": totals, "hyp_len": hyp_len, "ref_len": ref_len}


def corpus_bleu(references: Sequence[Sequence[Tokens]], hypotheses: Sequence[Tokens], max_n: int = 4) -> list[float]:
    """[BLEU-1, ..., BLEU-max_n] of the corpus (cumulative: BLEU-n averages the log precisions of orders 1..n)."""
    s = bleu_stats(references, hypotheses, max_n)
    c, r = s["hyp_len"], s["ref_len"]
    bp = 1.0 if c > r else (0.0 if c == 0 else math.exp(1.0 - r / c))
    out = []
    for n in range(1, max_n + 1):
        if any(m == 0 for m in s["matches"][:n]):
            out.append(0.0)
            continue
        log_p = sum(math.log(m / t) for m, t in zip(s["matches"][:n], s["totals"][:n])) / n
        out.append(bp * math.exp(log_p))
    return out


def optional_metrics(references: Sequence[Sequence[Tokens]], hypotheses: Sequence[Tokens]) -> tuple[dict, list[str]]:
    """({'cider': .., 'meteor': ..} for those whose packages are present, [why each other one was skipped])."""
    scores, skipped = {}, []
    try:
        from pycocoevalcap.cider.cider import Cider  # the COCO caption evaluation's CIDEr-D
    except ImportError:
        skipped.append("CIDEr: pip install pycocoevalcap")
    else:
        gts = {i: [" ".join(r) for r in refs] for i, refs in enumerate(references)}
        res = {i: [" ".join(h)] for i, h in enumerate(hypotheses)}
        scores["cider"] = float(Cider().compute_score(gts, res)[0])
    try:
        import nltk
        from nltk.translate.meteor_score import meteor_score

        nltk.data.find("corpora/wordnet")
    except (ImportError, LookupError):
        skipped.append("METEOR: pip install nltk and python -m nltk.downloader wordnet")
    else:  # nltk's METEOR (close to, not identical with, the Java METEOR 1.5 of the COCO toolkit)
        scores["meteor"] = sum(meteor_score([list(r) for r in refs], list(h))
                               for refs, h in zip(references, hypotheses)) / max(1, len(hypotheses))
    return scores, skipped
