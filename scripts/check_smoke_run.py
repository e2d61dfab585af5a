"""Checks what `recipes/smoke.yaml` must leave in its run directory (`make test` runs it):
every stage's record, the five models' predictions, the report's columns and the answer
rankings. Usage: python3 scripts/check_smoke_run.py RUN_DIR"""
import json
import os
import sys

STAGES = ["data", "tokenizer", "encode", "baselines", "qa", "finetune", "evaluate", "report"]
MODELS = ["biomechgpt", "biomechgpt-ranked", "biomechgpt-calibrated", "chance", "token-histogram-boosting"]


def fail(message):
    sys.exit(f"smoke run: {message}")


def lines(path):
    if not os.path.isfile(path):
        fail(f"{path} is missing")
    with open(path) as f:
        rows = [json.loads(line) for line in f if line.strip()]
    if not rows:
        fail(f"{path} is empty")
    return rows


def main(run):
    for stage in STAGES:
        record = json.load(open(os.path.join(run, "stages", f"{stage}.json")))
        if record.get("stage") != stage or "completed" not in record:
            fail(f"stages/{stage}.json does not record a completed '{stage}' stage")
    for model in MODELS:
        rows = lines(os.path.join(run, "predictions", f"{model}-r0.jsonl"))
        splits = {r["split"] for r in rows}
        if not {"test", "train"} <= splits:
            fail(f"{model} predicted for splits {sorted(splits)}, expected test and train among them")
    report = open(os.path.join(run, "report", "report.md")).read()
    for model in MODELS:
        if f"| {model} " not in report and f"| {model} |" not in report:
            fail(f"report.md has no column for {model}")
    for q in lines(os.path.join(run, "artifacts", "finetune", "r0", "answer_rankings.jsonl")):
        if "prompt" in q["record"] or len(q["classes"]) != len(q["negative_log_likelihoods"]):
            fail(f"malformed ranking line for {q['record'].get('id')}")
    print(f"smoke run: {run} has every stage, {len(MODELS)} models' predictions, the report and the rankings")


if __name__ == "__main__":
    main(sys.argv[1])
