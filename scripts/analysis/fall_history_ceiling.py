"""How well can anything predict the simulated cohort's fall history? (docs/results.md)

The cohort simulator draws a prosthesis user's fall history at random from a logistic model
of risk factors it measured on the participant's own trials (Sources/CohortSimulator/
CohortSimulator.swift, "Fall history of prosthesis users"): the TUG time, the mean walking
speed, age, a transfemoral level and using a device. This script recomputes that
probability from the labels stored in a run's dataset.h5 (rounded as stored: TUG to 0.01 s,
speed to 0.01 m/s) and scores the Bayes rule ("yes" when the probability is above 0.5), which
knows the risk factors exactly -- the best any model of the motion can do on average:

- on the realised labels of every prosthesis user, and of the test split's;
- in expectation over fresh draws of the labels (Monte Carlo), which is what a model that
  learned the risk factors perfectly would score on a new cohort of the same people;
- for the test split, the spread of that score over draws, to show how few participants
  the test F1 rests on.

F1 is macro F1 over "yes"/"no", one point per question (each trial of a prosthesis user is
asked), as the evaluation scores it. Chance is the prior-matching guesser of the reports.

Usage: python scripts/analysis/fall_history_ceiling.py RUN_DIR [--draws 20000] [--seed 1]
(needs numpy and h5py)
"""
import argparse
import json
import math
import os

import h5py
import numpy as np


def risk_probability(tug, speed, age, transfemoral, uses_device):
    """The simulator's logistic model (same coefficients as CohortSimulator.swift)."""
    logit = -0.2 + 0.75 * (tug - 13.5) / 4 - 0.9 * (speed - 0.85) / 0.3 + 0.3 * (age - 55) / 15
    if transfemoral:
        logit += 0.4
    if uses_device:
        logit += 0.4
    return 1 / (1 + math.exp(-logit))


def macro_f1(targets, predictions):
    scores = []
    for label in ("yes", "no"):
        tp = sum(t == label and p == label for t, p in zip(targets, predictions))
        fp = sum(t != label and p == label for t, p in zip(targets, predictions))
        fn = sum(t == label and p != label for t, p in zip(targets, predictions))
        if tp + fp + fn == 0:
            continue  # a class absent from targets and predictions does not count
        scores.append(2 * tp / (2 * tp + fp + fn))
    return sum(scores) / len(scores) if scores else float("nan")


def load_participants(path):
    """participant -> dict of risk factors, realised label and number of trials."""
    people = {}
    with h5py.File(path, "r") as f:
        for trial_id, group in f["trials"].items():
            labels = dict(group["labels"].attrs)
            if labels.get("diagnosis") != "prosthesis":
                continue
            pid = group.attrs["participant_id"]
            pid = pid.decode() if isinstance(pid, bytes) else str(pid)
            p = people.setdefault(pid, {"speeds": [], "tug": None, "trials": 0})
            p["trials"] += 1
            p["label"] = labels["fall_history"]
            p["age"] = float(labels["age"])
            p["transfemoral"] = labels.get("amputation_level") == "transfemoral"
            p["device"] = labels.get("assistive_device", "none") != "none"
            if "walking_speed" in labels:
                p["speeds"].append(float(labels["walking_speed"]))
            if "tug_time" in labels:
                p["tug"] = float(labels["tug_time"])
    for p in people.values():
        # The simulator's defaults when a measure is missing.
        tug = p["tug"] if p["tug"] is not None else 12.0
        speed = sum(p["speeds"]) / len(p["speeds"]) if p["speeds"] else 1.0
        p["probability"] = risk_probability(tug, speed, p["age"], p["transfemoral"], p["device"])
    return people


def question_lists(people, ids):
    """One entry per trial, as the evaluation asks every trial."""
    targets, probabilities = [], []
    for pid in ids:
        p = people[pid]
        targets += [p["label"]] * p["trials"]
        probabilities += [p["probability"]] * p["trials"]
    return targets, np.array(probabilities)


def expected_f1(probabilities_per_person, trials_per_person, rng, draws):
    """Bayes rule's macro F1 over fresh label draws: mean, 5th and 95th percentile."""
    probs = np.array(probabilities_per_person)
    decisions = ["yes" if q > 0.5 else "no" for q in probs]
    predictions = [d for d, n in zip(decisions, trials_per_person) for _ in range(n)]
    scores = []
    for _ in range(draws):
        fell = rng.random(len(probs)) < probs
        targets = [("yes" if x else "no") for x, n in zip(fell, trials_per_person) for _ in range(n)]
        scores.append(macro_f1(targets, predictions))
    scores = np.array(scores)
    return scores.mean(), np.percentile(scores, 5), np.percentile(scores, 95)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("run_dir")
    parser.add_argument("--draws", type=int, default=20000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    people = load_participants(os.path.join(args.run_dir, "data", "dataset.h5"))
    with open(os.path.join(args.run_dir, "split.json")) as f:
        test_ids = set(json.load(f)["test"])
    rng = np.random.default_rng(args.seed)
    groups = [("every prosthesis user", sorted(people)),
              ("test split", sorted(pid for pid in people if pid in test_ids))]
    print(f"{len(people)} prosthesis users; {sum(p['label'] == 'yes' for p in people.values())} fell")
    for name, ids in groups:
        targets, probabilities = question_lists(people, ids)
        predictions = ["yes" if q > 0.5 else "no" for q in probabilities]
        realised = macro_f1(targets, predictions)
        mean, low, high = expected_f1([people[i]["probability"] for i in ids],
                                      [people[i]["trials"] for i in ids], rng, args.draws)
        brier = np.mean([(people[i]["probability"] - (people[i]["label"] == "yes")) ** 2 for i in ids])
        print(f"\n{name}: {len(ids)} participants, {len(targets)} questions, "
              f"{sum(t == 'yes' for t in targets)} answered 'yes'")
        print(f"  Bayes rule on the realised labels: macro F1 {realised:.2f}")
        print(f"  Bayes rule over fresh draws:       macro F1 {mean:.2f} (5th-95th percentile {low:.2f}-{high:.2f})")
        print(f"  risk probabilities: median {np.median([people[i]['probability'] for i in ids]):.2f}, "
              f"share within 0.3-0.7 {np.mean([0.3 <= people[i]['probability'] <= 0.7 for i in ids]):.2f}; "
              f"Brier score {brier:.3f} (0.25 = a coin)")
        if name == "test split":
            for pid in ids:
                p = people[pid]
                print(f"    {pid}: fell {p['label']:>3}, risk {p['probability']:.2f}, {p['trials']} questions")


if __name__ == "__main__":
    main()
