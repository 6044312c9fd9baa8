#!/usr/bin/env python3
"""Checks a speccore binary's greedy text against the independent references in ../shared/models/reference.

Usage: greedy-reference.py MODELS_DIR MODEL COMMAND...  (for example: .ci/greedy-reference.py ../shared/models stories2M artifacts/aot/speccore)
Runs `COMMAND generate --model MODELS_DIR/MODEL --prompt P --max-tokens N --ignore-eos --device cpu` for every case
with a non-empty prompt and compares the continuation after the prompt with the reference's greedy_text; exits 1 on a difference.
"""
import json
import subprocess
import sys

models, model, command = sys.argv[1], sys.argv[2], sys.argv[3:]
with open(f"{models}/reference/{model}.greedy.json", encoding="utf-8") as f:
    reference = json.load(f)
checked = failed = 0
for case in reference["cases"]:
    prompt = case["prompt"]
    if prompt == "":
        continue  # generate needs a prompt; the tests cover the BOS-only case
    out = subprocess.run(command + ["generate", "--model", f"{models}/{model}", "--prompt", prompt, "--max-tokens",
                                    str(len(case["greedy_ids"])), "--ignore-eos", "--device", "cpu"],
                         capture_output=True, text=True, check=True).stdout
    # SentencePiece's decode of the new ids alone drops the first piece's leading space, so that space is not compared.
    got = out[len(prompt):].lstrip(" ").rstrip("\n") if out.startswith(prompt) else out
    want = case["greedy_text"].lstrip(" ").rstrip("\n")
    checked += 1
    if got != want:
        failed += 1
        at = next((i for i, (a, b) in enumerate(zip(got, want)) if a != b), min(len(got), len(want)))
        print(f"{model}, prompt {prompt!r}: the continuation differs from the reference at character {at}: "
              f"got {got[at:at + 40]!r}, want {want[at:at + 40]!r}")
print(f"{model}: {checked - failed} of {checked} greedy continuations equal the reference")
sys.exit(1 if failed else 0)
