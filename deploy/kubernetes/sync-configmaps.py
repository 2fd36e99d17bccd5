#!/usr/bin/env python3
"""Copies the shipped pipeline and policy files into the ConfigMaps of ingest.yaml and
processing.yaml (the block under `KEY: |`), so they stay byte for byte what
tests/e2e/deploy.rs checks them against. Run after editing pipelines/ingest-worker.yaml,
pipelines/processing-worker.yaml or scaling/scale-out/processing-workers.yml."""
import pathlib
import re

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent.parent
FILES = {
    "ingest.yaml": {"ingest-worker.yaml": "pipelines/ingest-worker.yaml"},
    "processing.yaml": {
        "processing-worker.yaml": "pipelines/processing-worker.yaml",
        "processing-workers.yml": "scaling/scale-out/processing-workers.yml",
    },
}

for manifest, keys in FILES.items():
    path = HERE / manifest
    text = path.read_text()
    for key, shipped in keys.items():
        body = (ROOT / shipped).read_text().rstrip("\n").split("\n")
        block = "\n".join(("    " + l) if l.strip() else "" for l in body) + "\n"
        # The block runs from `  KEY: |` to the next line indented by less than 4 spaces.
        pattern = re.compile(r"(^  " + re.escape(key) + r": \|\n)((?:(?:    .*)?\n)*)", re.M)
        text, n = pattern.subn(lambda m: m.group(1) + block, text)
        assert n == 1, f"{manifest}: no `{key}: |` block"
    path.write_text(text)
