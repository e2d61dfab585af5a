"""Is freezing of gait readable from FGDI's gait cycles at all? (docs/results.md)

The FGDI recipes hold out 16 of 82 participants, of whom only about 5 have Parkinson's
disease, so the freezer task's test F1 rests on 4-5 people (one of them, in the shipped
split, a non-freezer). This script asks the question with every Parkinson's patient instead:
leave-one-participant-out over the 22 patients (each with 4 gait cycles: ON and OFF
medication, left and right side), on the raw time-normalised curves (9 variables x 101
points), with two simple classifiers fitted on the other 21 patients each time:

- nearest class centroid on the standardised curves;
- L2-regularised logistic regression on the training fold's first principal components.

It prints macro F1 over the 88 cycles for each, beside the expected F1 of the
prior-matching guesser (the reports' chance) and a permutation test: the same procedure on
freezer labels shuffled between patients, whose F1 distribution shows what "no signal"
scores with 22 people.

With --split RUN/split.json it also fits each classifier on the run's training patients and
scores it on its test patients, the same questions the run's freezer F1 rests on.

Usage: python scripts/analysis/fgdi_freezer_loso.py [../shared/data/fgdi] [--permutations 200]
       [--split RUN/split.json]
(needs numpy)
"""
import argparse
import csv
import os

import numpy as np


def load(folder):
    """cycles (n x 909), participant per cycle, label per participant."""
    labels = {}
    with open(os.path.join(folder, "PDGinfo.csv"), encoding="utf-8-sig") as f:
        for row in csv.DictReader(f):
            if row["ID"].startswith("SUB") and row["FoG group"]:
                labels[row["ID"]] = "freezer" if row["FoG group"] == "freezers" else "non_freezer"
    curves = {}
    with open(os.path.join(folder, "Amputee_Data.csv"), encoding="utf-8-sig") as f:
        for row in csv.DictReader(f):
            session = row["SessionID"]
            if not session.startswith("SUB"):
                continue
            key = (session, row["Side"])
            variable = (row["VariableName"], row["Dim"])
            curves.setdefault(key, {})[variable] = [float(row[f"GCpc_{i}"]) for i in range(101)]
    variables = sorted({v for c in curves.values() for v in c})
    keys = sorted(k for k, c in curves.items() if len(c) == len(variables))
    x = np.array([[value for v in variables for value in curves[k][v]] for k in keys])
    people = [k[0].split("_")[0] for k in keys]
    return x, people, labels


def macro_f1(targets, predictions):
    scores = []
    for label in ("freezer", "non_freezer"):
        tp = np.sum((targets == label) & (predictions == label))
        fp = np.sum((targets != label) & (predictions == label))
        fn = np.sum((targets == label) & (predictions != label))
        if tp + fp + fn:
            scores.append(2 * tp / (2 * tp + fp + fn))
    return float(np.mean(scores))


def nearest_centroid(train_x, train_y, test_x):
    mean, std = train_x.mean(0), train_x.std(0) + 1e-6
    z, zt = (train_x - mean) / std, (test_x - mean) / std
    classes = np.unique(train_y)
    centroids = np.array([z[train_y == c].mean(0) for c in classes])
    distances = ((zt[:, None, :] - centroids[None]) ** 2).sum(-1)
    return classes[distances.argmin(1)]


def logistic_pca(train_x, train_y, test_x, components=8, l2=1.0, iterations=50):
    mean, std = train_x.mean(0), train_x.std(0) + 1e-6
    z, zt = (train_x - mean) / std, (test_x - mean) / std
    _, _, vt = np.linalg.svd(z, full_matrices=False)
    basis = vt[:components].T
    a, at = z @ basis, zt @ basis
    scale = a.std(0) + 1e-6
    a, at = np.hstack([a / scale, np.ones((len(a), 1))]), np.hstack([at / scale, np.ones((len(at), 1))])
    y = (train_y == "freezer").astype(float)
    w = np.zeros(a.shape[1])
    penalty = l2 * np.eye(a.shape[1])
    penalty[-1, -1] = 0  # no penalty on the intercept
    for _ in range(iterations):  # Newton's method
        p = 1 / (1 + np.exp(-a @ w))
        gradient = a.T @ (p - y) + penalty @ w
        hessian = a.T @ (a * (p * (1 - p))[:, None]) + penalty
        w -= np.linalg.solve(hessian, gradient)
    return np.where(at @ w > 0, "freezer", "non_freezer")


def leave_one_participant_out(x, people, label_of, classifier):
    people = np.array(people)
    y = np.array([label_of[p] for p in people])
    predictions = np.empty_like(y)
    for person in np.unique(people):
        held = people == person
        predictions[held] = classifier(x[~held], y[~held], x[held])
    return macro_f1(y, predictions)


def chance_f1(label_of, people, rng, draws=2000):
    """Expected F1 of guessing each cycle's label from the class frequencies."""
    y = np.array([label_of[p] for p in people])
    freezer_share = np.mean(y == "freezer")
    scores = [macro_f1(y, np.where(rng.random(len(y)) < freezer_share, "freezer", "non_freezer"))
              for _ in range(draws)]
    return float(np.mean(scores))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("folder", nargs="?", default="../shared/data/fgdi")
    parser.add_argument("--permutations", type=int, default=200)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--split", help="a run's split.json: also score its train -> test split")
    args = parser.parse_args()
    x, people, labels = load(args.folder)
    present = sorted(set(people))
    label_of = {p: labels[p] for p in present}
    freezers = sum(label_of[p] == "freezer" for p in present)
    print(f"{len(present)} Parkinson's patients ({freezers} freezers), {len(people)} gait cycles, "
          f"{x.shape[1]} values per cycle")
    rng = np.random.default_rng(args.seed)
    print(f"chance (prior-matching guesser), expected macro F1: {chance_f1(label_of, people, rng):.2f}")
    for name, classifier in [("nearest centroid", nearest_centroid), ("logistic regression on PCA", logistic_pca)]:
        observed = leave_one_participant_out(x, people, label_of, classifier)
        null = []
        for _ in range(args.permutations):
            shuffled = dict(zip(present, rng.permutation([label_of[p] for p in present])))
            null.append(leave_one_participant_out(x, people, shuffled, classifier))
        null = np.array(null)
        if len(null) == 0:
            print(f"{name}: leave-one-patient-out macro F1 {observed:.2f}")
            continue
        p_value = (1 + np.sum(null >= observed)) / (1 + len(null))
        print(f"{name}: leave-one-patient-out macro F1 {observed:.2f}; shuffled labels "
              f"{null.mean():.2f} (95th percentile {np.percentile(null, 95):.2f}), p = {p_value:.2f}")
    if args.split:
        score_split(args.split, x, people, label_of, rng)


def score_split(path, x, people, label_of, rng):
    import json
    with open(path) as f:
        split = json.load(f)
    people = np.array(people)
    y = np.array([label_of[p] for p in people])
    train, test = np.isin(people, split["train"]), np.isin(people, split["test"])
    tested = sorted(set(people[test]))
    print(f"\n{path}: {len(set(people[train]))} training patients; test patients "
          + ", ".join(f"{p} ({label_of[p]})" for p in tested) + f", {int(test.sum())} cycles")
    guesses = [macro_f1(y[test], np.where(rng.random(int(test.sum())) < np.mean(y[train] == "freezer"),
                                         "freezer", "non_freezer")) for _ in range(2000)]
    print(f"  chance (prior-matching guesser), expected macro F1: {np.mean(guesses):.2f}")
    for name, classifier in [("nearest centroid", nearest_centroid), ("logistic regression on PCA", logistic_pca)]:
        print(f"  {name}: macro F1 {macro_f1(y[test], classifier(x[train], y[train], x[test])):.2f}")


if __name__ == "__main__":
    main()
