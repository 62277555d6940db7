"""Trains the injection screen's learned layer and writes
crates/core/src/injection/model.bin.

    pip install scikit-learn numpy scipy
    python3 scripts/train-injection/train.py

Features come from the Rust code itself (`cargo run --example injection_features`),
so the script and the relay cannot disagree on what a feature is. The model is a
logistic regression over those hashed features; its weights are quantised to one
signed byte per bucket. Thresholds are chosen on the development set only
(data/dev*.jsonl); the held-out sets under crates/core/fixtures/ are never read here.
See README.md for the data and its licences.
"""

import json
import math
import os
import struct
import subprocess
import sys

import numpy as np
from scipy.sparse import csr_matrix
from sklearn.linear_model import LogisticRegression

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
BITS = 18
MIN_WINDOW_FEATURES = 24  # as in learned.rs
MODEL = os.path.join(ROOT, "crates", "core", "src", "injection", "model.bin")
# Target false-positive rate on the development set's benign texts.
DEV_FP_TARGET = 0.015

TRAINING = [
    os.path.join(HERE, "data", "written.jsonl"),
    os.path.join(HERE, "data", "public.jsonl"),
    # The rules' labelled sets: tuned on, so they are training data, not evaluation.
    os.path.join(ROOT, "crates", "core", "fixtures", "injection_prompts.jsonl"),
    os.path.join(ROOT, "crates", "core", "fixtures", "injection_holdout.jsonl"),
]
DEV = [os.path.join(HERE, "data", "dev.jsonl"), os.path.join(HERE, "data", "dev2.jsonl")]


def load(path):
    rows = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                row = json.loads(line)
                row.setdefault("lang", "en")
                row.setdefault("role", "user")
                row.setdefault("kind", row.get("category", "unknown"))
                rows.append(row)
    return rows


def features(texts):
    """Per text, a list of segments, each a list of bucket numbers."""
    env = dict(os.environ)
    proc = subprocess.run(
        ["cargo", "run", "--release", "-q", "-p", "airlock_core", "--example",
         "injection_features"],
        input="".join(json.dumps({"text": t}) + "\n" for t in texts),
        capture_output=True, text=True, cwd=ROOT, env=env, check=True,
    )
    out = [json.loads(line) for line in proc.stdout.splitlines()]
    assert len(out) == len(texts), (len(out), len(texts))
    return out


def windows(segments):
    """The windows the Rust scorer reads: 1 to 3 adjacent segments."""
    total = sum(len(s) for s in segments)
    result = []
    for start in range(len(segments)):
        merged = []
        for seg in segments[start:start + 3]:
            merged = merged + seg
            if len(merged) >= MIN_WINDOW_FEATURES or len(merged) == total:
                result.append(merged)
    return result


def row_of(buckets):
    counts = {}
    for b in buckets:
        counts[b] = counts.get(b, 0) + 1
    norm = math.sqrt(len(buckets)) if buckets else 1.0
    return counts, norm


def matrix(examples):
    data, indices, indptr = [], [], [0]
    for buckets in examples:
        counts, norm = row_of(buckets)
        for b, c in sorted(counts.items()):
            indices.append(b)
            data.append(c / norm)
        indptr.append(len(indices))
    return csr_matrix((np.array(data, dtype=np.float64), np.array(indices), np.array(indptr)),
                      shape=(len(examples), 1 << BITS))


def build_examples(rows):
    """Whole attacks and attack spans are positives; benign texts, their windows
    and the benign parts of documents around a planted span are negatives."""
    pieces, labels, groups = [], [], []
    for row in rows:
        group = (row["lang"], row["label"])
        span = row.get("span")
        if row["label"] == "attack" and span and span in row["text"] and span != row["text"]:
            before, _, after = row["text"].partition(span)
            pieces += [span, before, after]
            labels += [1, 0, 0]
            groups += [group, (row["lang"], "benign"), (row["lang"], "benign")]
        else:
            pieces.append(row["text"])
            labels.append(1 if row["label"] == "attack" else 0)
            groups.append(group)
    feats = features(pieces)
    examples, ys, gs = [], [], []
    for segs, y, g in zip(feats, labels, groups):
        whole = [b for s in segs for b in s]
        if not whole:
            continue
        examples.append(whole)
        ys.append(y)
        gs.append(g)
        if y == 0 and len(segs) > 1:
            for w in windows(segs):
                examples.append(w)
                ys.append(0)
                gs.append(g)
    return examples, np.array(ys), gs


def balanced_weights(groups, labels):
    """Every (language, label) group weighs the same in total, so 600 English
    jailbreaks do not drown 30 Japanese attacks."""
    sizes = {}
    for g in groups:
        sizes[g] = sizes.get(g, 0) + 1
    w = np.array([1.0 / sizes[g] for g in groups])
    # Equal total weight for attacks and benign.
    for y in (0, 1):
        w[labels == y] *= 1.0 / w[labels == y].sum()
    return w * len(w) / w.sum()


def quantise(coef):
    scale = float(np.abs(coef).max()) / 127.0
    q = np.clip(np.round(coef / scale), -127, 127).astype(np.int8)
    return q, scale


def score(q, scale, bias, segments):
    """Mirror of Model::score_normalised."""
    sums = [(int(sum(int(q[b]) for b in s)), len(s)) for s in segments]
    total = sum(n for _, n in sums)
    if total == 0:
        return 0.0
    best = -math.inf
    for start in range(len(sums)):
        s, n = 0, 0
        for seg_sum, seg_n in sums[start:start + 3]:
            s += seg_sum
            n += seg_n
            if n >= MIN_WINDOW_FEATURES or n == total:
                best = max(best, bias + scale * s / math.sqrt(n))
    return 1.0 / (1.0 + math.exp(-best))


def pick_threshold(scores, labels, target):
    benign = sorted(s for s, y in zip(scores, labels) if y == 0)
    if not benign:
        return 0.5
    # The lowest threshold that flags at most `target` of the benign texts.
    allowed = int(math.floor(target * len(benign)))
    threshold = benign[len(benign) - 1 - allowed] + 1e-6 if allowed < len(benign) else 0.0
    return min(max(threshold, 0.05), 0.99)


def report(name, scores, rows, threshold):
    by = {}
    for s, r in zip(scores, rows):
        key = r["lang"]
        a = by.setdefault(key, [0, 0, 0, 0])
        if r["label"] == "attack":
            a[0] += 1
            a[1] += s >= threshold
        else:
            a[2] += 1
            a[3] += s >= threshold
    print(f"{name} (threshold {threshold:.3f}):")
    for lang, (na, ca, nb, fb) in sorted(by.items()):
        print(f"  {lang}: attacks {ca}/{na}  benign flagged {fb}/{nb}")


def main():
    rows = []
    for path in TRAINING:
        if os.path.exists(path):
            rows += load(path)
    print(f"training rows: {len(rows)}")
    examples, y, groups = build_examples(rows)
    X = matrix(examples)
    w = balanced_weights(groups, y)
    C = float(os.environ.get("C", "16.0"))
    clf = LogisticRegression(C=C, max_iter=3000, solver="liblinear")
    clf.fit(X, y, sample_weight=w)
    q, scale = quantise(clf.coef_[0])
    bias = float(clf.intercept_[0])

    dev = [row for path in DEV if os.path.exists(path) for row in load(path)]
    dev_feats = features([r["text"] for r in dev])
    dev_scores = [score(q, scale, bias, s) for s in dev_feats]
    direct = [(s, r) for s, r in zip(dev_scores, dev) if r["role"] == "user"]
    documents = [(s, r) for s, r in zip(dev_scores, dev) if r["role"] == "tool"]
    direct_t = pick_threshold([s for s, _ in direct],
                              [int(r["label"] == "attack") for _, r in direct], DEV_FP_TARGET)
    indirect_t = pick_threshold([s for s, _ in documents],
                                [int(r["label"] == "attack") for _, r in documents],
                                DEV_FP_TARGET) if documents else direct_t
    uncertain = max(0.05, min(direct_t, indirect_t) * 0.5)
    from sklearn.metrics import roc_auc_score
    ys = [int(r["label"] == "attack") for r in dev]
    print(f"dev AUC {roc_auc_score(ys, dev_scores):.4f}")
    report("dev, user texts", [s for s, _ in direct], [r for _, r in direct], direct_t)
    if documents:
        report("dev, tool results", [s for s, _ in documents], [r for _, r in documents],
               indirect_t)

    with open(MODEL, "wb") as f:
        f.write(b"ALINJ001")
        f.write(struct.pack("<I", BITS))
        f.write(struct.pack("<5f", scale, bias, direct_t, indirect_t, uncertain))
        f.write(q.tobytes())
    print(f"wrote {MODEL}: scale {scale:.5f} bias {bias:.3f} thresholds "
          f"direct {direct_t:.3f} indirect {indirect_t:.3f} uncertain from {uncertain:.3f}")


if __name__ == "__main__":
    sys.exit(main())
