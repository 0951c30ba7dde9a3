#!/usr/bin/env python3
"""Records what the real loaders do with each case of the differential corpus.

The corpus (test/corpus/build.ts) builds bad (and good) checkpoints from the bundled sample. This
script loads each case the way users load it, with the loaders users run today and with torch 1.13,
and writes test/corpus/verdicts.json, which test/corpus.test.ts holds the checklist to. Run it by
hand after changing the corpus or the safetensors writer (nothing here is needed at test time):

    npx tsx test/corpus/build.ts /tmp/corpus
    /work/venv/bin/python tools/record_loader_verdicts.py /tmp/corpus test/corpus/verdicts.json \\
        --torch-1.13 /usr/bin/python3

The first interpreter has torch >= 2.6, transformers 5, safetensors and tokenizers; it runs this
same script under the second (torch 1.13) for the torch 1.13 verdicts. Loaders, by key:

  torch113        torch 1.13: torch.load(f, map_location="cpu"); for a sharded case, of every shard
                  (pytorch_model-0000N-of-0000M.bin), merged as transformers merges them
  torch113Plain   torch 1.13: torch.load(f), no map_location (cases whose device tags matter)
  torch213        torch 2.13: torch.load(f, map_location="cpu"), weights_only=True by default
  torch213Plain   torch 2.13: torch.load(f)
  safetensors     safetensors.torch.load_file(f) (torch 2.13)
  json            json.load(open(f, encoding="utf-8")), as transformers reads JSON files
  tokenizers      tokenizers.Tokenizer.from_file(f), as the fast tokenizer reads tokenizer.json
  vocab           open(f, encoding="utf-8").readlines() as BertTokenizer's load_vocab reads
                  vocab.txt, and whether that vocabulary is the fast tokenizer's (tokenizer.json)
  transformers    the folder as a whole: AutoConfig, AutoTokenizer and
                  AutoModelForMaskedLM.from_pretrained(dir, output_loading_info=True)
  roundTrip       (the folder as released) AutoModelForMaskedLM and AutoModelForPreTraining: missing
                  and unexpected keys, tied weights

A loaded state dict is recorded tensor by tensor: dtype, shape, device and the digest of its
elements' bytes in row-major order (the first 16 hex digits of their sha256); and which float
tensors hold NaN or Inf. A refusal is recorded
with the exception's first line. The corpus's pickles are built by the project and benign, so the
non-weights_only load of torch 1.13 is safe to run on them.
"""
import glob
import hashlib
import json
import math
import os
import platform
import re
import subprocess
import sys
import warnings

# A refusal of torch.load without map_location that only says this machine lacks the device.
DEVICE_ABSENT = ("is_available() is False", "device_count()", "Storage device not recognized", "device module is not registered")


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


# The corpus folder, written as <corpus> in recorded errors, so that a record does not depend on where it was built.
CORPUS_ROOT = None


def first_line(e):
    text = str(e).strip().splitlines()
    line = text[0] if text else ""
    # torch >= 2.6 opens every weights-only refusal with the same paragraph; its reason is further down.
    reason = re.search(r"WeightsUnpickler error:\s*(\S[^\n]*)", str(e))
    if reason:
        line += f" [WeightsUnpickler error: {reason.group(1).strip()}]"
    if CORPUS_ROOT:
        line = line.replace(CORPUS_ROOT, "<corpus>")
    return f"{type(e).__name__}: {line[:400]}"


def torch_files(folder, loader):
    """The .bin files torch.load reads for a case: pytorch_model.bin, or every shard in order."""
    if loader == "shards":
        return sorted(glob.glob(os.path.join(folder, "pytorch_model-*-of-*.bin")))
    return [os.path.join(folder, "pytorch_model.bin")]


def state_dict_record(torch, obj):
    """A loaded state dict, tensor by tensor."""
    if not isinstance(obj, dict):
        return {"verdict": "loads", "type": type(obj).__name__}
    tensors = {}
    non_finite = []
    for name, t in obj.items():
        if not torch.is_tensor(t):
            tensors[name] = {"type": type(t).__name__}
            continue
        record = {"dtype": str(t.dtype).replace("torch.", ""), "shape": list(t.shape), "device": t.device.type}
        if t.device.type == "meta":
            tensors[name] = record
            continue
        c = t.detach().cpu().contiguous().reshape(-1)
        record["digest"] = sha256(c.view(torch.uint8).numpy().tobytes() if c.numel() else b"")[:16]
        tensors[name] = record
        if t.is_floating_point() and not bool(torch.isfinite(c).all()):
            non_finite.append(name)
    return {"verdict": "loads", "nonFinite": sorted(non_finite), "tensors": tensors}


def torch_verdict(torch, paths, **kwargs):
    """torch.load of each file (one, or every shard), merged into one state dict."""
    obj = {}
    for path in paths:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                part = torch.load(path, **kwargs)
        except Exception as e:  # every failure is a verdict
            prefix = f"{os.path.basename(path)}: " if len(paths) > 1 else ""
            record = {"verdict": "refuses", "error": prefix + first_line(e)}
            if "map_location" not in kwargs and any(s in str(e) for s in DEVICE_ABSENT):
                record["deviceAbsent"] = True
            return record
        if len(paths) == 1:
            obj = part
        else:
            obj.update(part)
    return state_dict_record(torch, obj)


def safetensors_verdict(torch, path):
    from safetensors.torch import load_file

    try:
        obj = load_file(path)
    except Exception as e:
        return {"verdict": "refuses", "error": first_line(e)}
    return state_dict_record(torch, obj)


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


def tokenizers_verdict(path):
    from tokenizers import Tokenizer

    try:
        Tokenizer.from_file(path)
    except Exception as e:
        return {"verdict": "refuses", "error": first_line(e)}
    return {"verdict": "loads"}


def vocab_verdict(path, tokenizer_json):
    from tokenizers import Tokenizer

    try:
        with open(path, "r", encoding="utf-8") as reader:
            tokens = [t.rstrip("\n") for t in reader.readlines()]
    except Exception as e:
        return {"verdict": "refuses", "error": first_line(e)}
    slow = {t: i for i, t in enumerate(tokens)}  # load_vocab: a repeated token takes the later id
    fast = Tokenizer.from_file(tokenizer_json).get_vocab(with_added_tokens=False)
    return {"verdict": "loads", "tokens": len(tokens), "tokensSha256": sha256("\n".join(tokens).encode("utf-8")), "sameAsFast": slow == fast}


def transformers_verdict(torch, folder, classes=("AutoModelForMaskedLM",)):
    import transformers

    out = {}
    for cls in classes:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                transformers.AutoConfig.from_pretrained(folder)
                transformers.AutoTokenizer.from_pretrained(folder)
                model, info = getattr(transformers, cls).from_pretrained(folder, output_loading_info=True)
        except Exception as e:
            out[cls] = {"verdict": "refuses", "error": first_line(e)}
            continue
        record = state_dict_record(torch, model.state_dict())
        record["missing"] = sorted(info["missing_keys"])
        record["unexpected"] = sorted(info["unexpected_keys"])
        record["mismatched"] = sorted(str(k) for k in info["mismatched_keys"])
        record["tied"] = model.cls.predictions.decoder.weight.data_ptr() == model.bert.embeddings.word_embeddings.weight.data_ptr()
        out[cls] = record
    return out


def torch113_worker(corpus_dir):
    """Runs under torch 1.13: its verdicts, one JSON document on stdout."""
    import torch

    global CORPUS_ROOT
    corpus_dir = CORPUS_ROOT = os.path.abspath(corpus_dir)
    index = load_index(corpus_dir)
    verdicts = {}
    for c in index["cases"]:
        folder = os.path.join(corpus_dir, c["folder"])
        if c["loader"] not in ("torch", "folder", "shards"):
            continue
        bins = torch_files(folder, c["loader"])
        v = {"torch113": torch_verdict(torch, bins, map_location="cpu")}
        if c.get("plainLoad"):
            v["torch113Plain"] = torch_verdict(torch, bins)
        verdicts[c["id"]] = v
    json.dump({"versions": {"python": platform.python_version(), "torch": torch.__version__}, "verdicts": verdicts}, sys.stdout)


def load_index(corpus_dir):
    with open(os.path.join(corpus_dir, "cases.json"), encoding="utf-8") as f:
        return json.load(f)


def main(corpus_dir, out_file, torch113_python):
    import safetensors
    import tokenizers
    import torch
    import transformers

    transformers.logging.set_verbosity_error()
    global CORPUS_ROOT
    corpus_dir = CORPUS_ROOT = os.path.abspath(corpus_dir)
    old = subprocess.run([torch113_python, os.path.abspath(__file__), "--worker-torch-1.13", corpus_dir], check=True, capture_output=True, text=True)
    torch113 = json.loads(old.stdout)
    index = load_index(corpus_dir)
    cases = {}
    for c in index["cases"]:
        folder = os.path.join(corpus_dir, c["folder"])
        path = os.path.join(folder, c["judged"])
        record = {"about": c["about"], "judged": c["judged"], "sha256": sha256_file(path), "loader": c["loader"]}
        v = dict(torch113["verdicts"].get(c["id"], {}))
        if c["loader"] in ("torch", "folder", "shards"):
            bins = torch_files(folder, c["loader"])
            v["torch213"] = torch_verdict(torch, bins, map_location="cpu")
            if c.get("plainLoad"):
                v["torch213Plain"] = torch_verdict(torch, bins)
        if c["loader"] in ("safetensors", "folder"):
            v["safetensors"] = safetensors_verdict(torch, os.path.join(folder, "model.safetensors"))
        if c["loader"] in ("json", "tokenizer"):
            v["json"] = json_verdict(path)
        if c["loader"] == "tokenizer":
            v["tokenizers"] = tokenizers_verdict(path)
        if c["loader"] == "vocab":
            v["vocab"] = vocab_verdict(path, os.path.join(folder, "tokenizer.json"))
        if c["id"] == "folder/as-released":
            v["roundTrip"] = transformers_verdict(torch, folder, ("AutoModelForMaskedLM", "AutoModelForPreTraining"))
        v["transformers"] = transformers_verdict(torch, folder)["AutoModelForMaskedLM"]
        record["verdicts"] = v
        cases[c["id"]] = record
        summary = {k: x["verdict"] if "verdict" in x else {n: y["verdict"] for n, y in x.items()} for k, x in v.items()}
        print(f"{c['id']}: {json.dumps(summary)}", file=sys.stderr)
    recorded_with = {
        "torch 1.13": {"python": torch113["versions"]["python"], "torch": torch113["versions"]["torch"], "interpreter": torch113_python},
        "today's loaders": {
            "python": platform.python_version(),
            "torch": torch.__version__,
            "transformers": transformers.__version__,
            "safetensors": safetensors.__version__,
            "tokenizers": tokenizers.__version__,
            "interpreter": sys.executable,
        },
    }
    with open(out_file, "w", encoding="utf-8") as f:
        json.dump({"recordedWith": recorded_with, "cases": cases}, f, indent=1, sort_keys=True)
        f.write("\n")


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--worker-torch-1.13":
        torch113_worker(sys.argv[2])
    elif len(sys.argv) == 5 and sys.argv[3] == "--torch-1.13":
        main(sys.argv[1], sys.argv[2], sys.argv[4])
    else:
        raise SystemExit(__doc__)
