#!/usr/bin/env python3
"""Records what the real loaders do with each case of the differential corpus.

The corpus (test/corpus/build.ts) builds bad checkpoints from the bundled sample. This script loads
each case's judged file the way users load it and writes test/corpus/verdicts.json, which
test/corpus.test.ts holds the checklist to. Run it by hand after changing the corpus (it needs
PyTorch: apt-get install -y python3-torch; nothing here is needed at test time):

    npx tsx test/corpus/build.ts /tmp/corpus
    /usr/bin/python3 tools/record_loader_verdicts.py /tmp/corpus test/corpus/verdicts.json

Loaders:
  torch   torch.load(f, map_location="cpu"), and again with weights_only=True (what transformers
          uses where torch has it); for a state dict: each tensor's dtype, shape and the sha256 of
          its elements' bytes (row-major), and which float tensors hold NaN or Inf.
  json    json.load(open(f, encoding="utf-8")), as transformers reads config and tokenizer files;
          and the JSON pointers of NaN / infinite numbers in what it returns.
  vocab   open(f, encoding="utf-8").readlines(), each line's "\\n" stripped, as BertTokenizer's
          load_vocab reads vocab.txt; the token count and the sha256 of the tokens joined by "\\n".
  safetensors-rule
          no Python safetensors package here: the verdict of the reference parser's rule that the
          case names, read in the Rust source (recorded as such).

The corpus's pickles are built by the project and benign, so the default (non-weights_only) load
is safe to run on them.
"""
import hashlib
import json
import math
import platform
import sys
import warnings


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def first_line(e):
    text = str(e).strip().splitlines()
    return f"{type(e).__name__}: {text[0][:240] if text else ''}"


def torch_verdict(torch, path, weights_only):
    kwargs = {"map_location": "cpu"}
    if weights_only:
        kwargs["weights_only"] = True
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            obj = torch.load(path, **kwargs)
    except Exception as e:  # every failure is a verdict
        return {"verdict": "refuses", "error": first_line(e)}
    if not isinstance(obj, dict):
        return {"verdict": "loads", "type": type(obj).__name__}
    tensors = {}
    non_finite = []
    for name, t in obj.items():
        if not torch.is_tensor(t):
            tensors[name] = {"type": type(t).__name__}
            continue
        raw = t.detach().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes()
        tensors[name] = {"dtype": str(t.dtype).replace("torch.", ""), "shape": list(t.shape), "sha256": sha256(raw)}
        if t.is_floating_point() and not bool(torch.isfinite(t).all()):
            non_finite.append(name)
    return {"verdict": "loads", "nonFinite": sorted(non_finite), "tensors": tensors}


def non_finite_pointers(value):
    """JSON pointers of float NaN / inf values, walked without recursion."""
    out = []
    todo = [(value, "")]
    while todo:
        v, at = todo.pop()
        if isinstance(v, float) and not math.isfinite(v):
            out.append(at or "/")
        elif isinstance(v, dict):
            todo.extend((x, f"{at}/{str(k).replace('~', '~0').replace('/', '~1')}") for k, x in v.items())
        elif isinstance(v, list):
            todo.extend((x, f"{at}/{i}") for i, x in enumerate(v))
    return sorted(out)


def json_verdict(path):
    try:
        with open(path, encoding="utf-8") as f:
            value = json.load(f)
    except Exception as e:  # UnicodeDecodeError, JSONDecodeError, RecursionError, ValueError
        return {"verdict": "refuses", "error": first_line(e)}
    return {"verdict": "loads", "nonFinite": non_finite_pointers(value)}


def vocab_verdict(path):
    try:
        with open(path, "r", encoding="utf-8") as reader:
            tokens = [t.rstrip("\n") for t in reader.readlines()]
    except Exception as e:
        return {"verdict": "refuses", "error": first_line(e)}
    return {"verdict": "loads", "tokens": len(tokens), "tokensSha256": sha256("\n".join(tokens).encode("utf-8"))}


def main(corpus_dir, out_file):
    import os

    import torch

    with open(os.path.join(corpus_dir, "cases.json"), encoding="utf-8") as f:
        index = json.load(f)
    cases = {}
    for c in index["cases"]:
        path = os.path.join(corpus_dir, c["folder"], c["judged"])
        record = {"about": c["about"], "judged": c["judged"], "sha256": sha256_file(path), "loader": c["loader"]}
        if c["loader"] == "torch":
            record["torch"] = torch_verdict(torch, path, weights_only=False)
            record["torchWeightsOnly"] = torch_verdict(torch, path, weights_only=True)
        elif c["loader"] == "json":
            record["python"] = json_verdict(path)
        elif c["loader"] == "vocab":
            record["python"] = vocab_verdict(path)
        elif c["loader"] == "safetensors-rule":
            record["reference"] = {"verdict": c["rule"]["verdict"], "rule": c["rule"]["text"], "source": index["safetensorsSource"]}
        else:
            raise SystemExit(f"{c['id']}: unknown loader {c['loader']}")
        cases[c["id"]] = record
        print(f"{c['id']}: {json.dumps({k: v.get('verdict') for k, v in record.items() if isinstance(v, dict)})}")
    recorded_with = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "safetensors": f"no package: rules read in {index['safetensorsSource']}",
    }
    with open(out_file, "w", encoding="utf-8") as f:
        json.dump({"recordedWith": recorded_with, "cases": cases}, f, indent=2, sort_keys=True)
        f.write("\n")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    main(sys.argv[1], sys.argv[2])
