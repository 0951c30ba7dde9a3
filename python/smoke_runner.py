#!/usr/bin/env python3
"""Fill-mask smoke test of a checkpoint folder with transformers, as a Hub user would run it.

Part of azbert-release (`smoke --device cuda|auto`); prints exactly one JSON document on stdout.

usage:
  smoke_runner.py --probe
      {"python", "torch", "transformers", "cuda", "gpu", "pya0", "missing": [...]} without loading a model
  smoke_runner.py (--ckpt DIR | --repo-id NS/NAME --revision REV) --cases CASES.json [--device cuda|cpu] [--top-k 5]
      CASES.json: {"cases": [{"text": "...", "maskWords": [4, 12], "preprocess": "pya0"}]}
      maskWords (1-based word positions) are applied after preprocessing when "preprocess" is set;
      otherwise the text already carries its mask tokens.
      DIR must hold safetensors weights and no pickle file (azbert-release writes such a folder):
      the model is loaded with use_safetensors=True and trust_remote_code=False, and a config whose
      auto_map names repository code is refused, so loading runs no code from the checkpoint.
      --repo-id/--revision load the model as a Hub user does, from_pretrained(repo_id, revision=REV)
      through HF_ENDPOINT, with the same refusals: the revision must hold safetensors (only they are
      loaded) and no auto_map.
      prints {"device", "torch", "transformers", "gpu", "engine",
              "cases": [{"text", "input_ids", "masks": [{"position", "top": [{"token", "id", "score"}]}],
                         "status"?, "reason"?, "ms"}]}
On an error: {"error": "...", "missing": [...]} and exit status 3 (missing packages/GPU) or 2.
"""
import argparse
import importlib.util
import json
import os
import platform
import sys
import time


def emit(doc, code=0):
    sys.stdout.write(json.dumps(doc) + "\n")
    sys.stdout.flush()
    sys.exit(code)


def version_of(dist):
    try:
        from importlib.metadata import version
        return version(dist)
    except Exception:
        return None


def probe():
    out = {"python": platform.python_version(), "torch": None, "transformers": None, "cuda": False, "gpu": None,
           "pya0": importlib.util.find_spec("pya0") is not None, "missing": []}
    if importlib.util.find_spec("torch") is None:
        out["missing"].append("torch")
    else:
        try:
            import torch
            out["torch"] = torch.__version__
            out["cuda"] = bool(torch.cuda.is_available())
            if out["cuda"]:
                out["gpu"] = torch.cuda.get_device_name(0)
        except Exception as e:  # a broken torch install is "missing" for our purpose
            out["missing"].append(f"torch (import failed: {e})")
    if importlib.util.find_spec("transformers") is None:
        out["missing"].append("transformers")
    else:
        out["transformers"] = version_of("transformers") or "unknown"
    if importlib.util.find_spec("safetensors") is None:
        out["missing"].append("safetensors")
    if not out["cuda"]:
        out["missing"].append("a CUDA GPU visible to torch")
    return out


PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt")


def refuse_unsafe_folder(folder):
    """Why the folder must not be loaded (a pickle file, or a config naming code), or None."""
    names = sorted(os.listdir(folder))
    pickles = [n for n in names if n.lower().endswith(PICKLE_SUFFIXES)]
    if pickles:
        return f"{folder} holds pickle files ({', '.join(pickles)}); this runner loads safetensors only"
    if not any(n.endswith(".safetensors") for n in names):
        return f"{folder} holds no .safetensors weights"
    for name in ("config.json", "tokenizer_config.json"):
        path = os.path.join(folder, name)
        if not os.path.exists(path):
            continue
        with open(path) as fh:
            doc = json.load(fh)
        if isinstance(doc, dict) and doc.get("auto_map"):
            return f"{name}: auto_map points at code ({json.dumps(doc['auto_map'])[:120]}); refusing to load repository code"
    return None


def refuse_unsafe_repo(repo_id, revision):
    """Why the Hub revision must not be loaded (no safetensors, a config naming code), or None."""
    from huggingface_hub import hf_hub_download, list_repo_files
    names = list_repo_files(repo_id, revision=revision)
    if not any(n.endswith(".safetensors") for n in names):
        return f"{repo_id}@{revision} holds no .safetensors weights; this runner loads safetensors only"
    for name in ("config.json", "tokenizer_config.json"):
        if name not in names:
            continue
        with open(hf_hub_download(repo_id, name, revision=revision)) as fh:
            doc = json.load(fh)
        if isinstance(doc, dict) and doc.get("auto_map"):
            return f"{name}: auto_map points at code ({json.dumps(doc['auto_map'])[:120]}); refusing to load repository code"
    return None


def preprocess_case(case, mask_token):
    """Returns (text, None) or (None, reason) for a case needing the pya0 preprocessor."""
    try:
        from pya0.preprocess import preprocess_for_transformer
    except Exception as e:
        return None, f"contains [imath] markup, which needs the pya0 preprocessor, not importable here ({e.__class__.__name__}: {e})"
    sentence = preprocess_for_transformer(case["text"])
    words = sentence.split()
    for p in case.get("maskWords") or []:
        if p < 1 or p > len(words):
            return None, f"word position {p} is past the end of the preprocessed sentence ({len(words)} words)"
        words[p - 1] = mask_token
    return " ".join(words).replace("[mask]", "[MASK]"), None


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--probe", action="store_true")
    ap.add_argument("--ckpt")
    ap.add_argument("--repo-id")
    ap.add_argument("--revision")
    ap.add_argument("--cases")
    ap.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    ap.add_argument("--top-k", type=int, default=5)
    a = ap.parse_args()
    if a.probe:
        emit(probe())
    if not (a.ckpt or (a.repo_id and a.revision)) or not a.cases:
        emit({"error": "--ckpt (or --repo-id with --revision) and --cases are required (or --probe)"}, 2)
    if a.ckpt:
        unsafe = refuse_unsafe_folder(a.ckpt)
        if unsafe:
            emit({"error": unsafe}, 2)

    missing = [m for m in ("torch", "transformers") if importlib.util.find_spec(m) is None]
    if missing:
        emit({"error": f"not installed for {sys.executable}: {', '.join(missing)}", "missing": missing}, 3)
    import torch
    import transformers
    from transformers import AutoModelForMaskedLM, AutoModelForPreTraining, AutoTokenizer

    transformers.logging.set_verbosity_error()  # stdout carries the JSON document; keep stderr quiet too

    if a.device == "cuda" and not torch.cuda.is_available():
        emit({"error": "torch sees no CUDA GPU", "missing": ["a CUDA GPU visible to torch"]}, 3)
    with open(a.cases) as fh:
        spec = json.load(fh)
    t_load = time.perf_counter()
    source, revision = (a.ckpt, None) if a.ckpt else (a.repo_id, a.revision)
    if not a.ckpt:
        unsafe = refuse_unsafe_repo(a.repo_id, a.revision)
        if unsafe:
            emit({"error": unsafe}, 2)
    pinned = {"revision": revision} if revision else {}
    tok = AutoTokenizer.from_pretrained(source, trust_remote_code=False, **pinned)
    safe = {"use_safetensors": True, "trust_remote_code": False, **pinned}
    try:
        model = AutoModelForMaskedLM.from_pretrained(source, **safe)
        head = "AutoModelForMaskedLM"
    except Exception:
        model = AutoModelForPreTraining.from_pretrained(source, **safe)
        head = "AutoModelForPreTraining"
    model.eval().to(a.device)
    load_ms = (time.perf_counter() - t_load) * 1e3
    gpu = torch.cuda.get_device_name(0) if a.device == "cuda" else None

    results = []
    runnable = []
    for case in spec["cases"]:
        r = {"text": case["text"], "input_ids": [], "masks": [], "ms": 0.0}
        if case.get("preprocess") == "pya0":
            text, reason = preprocess_case(case, tok.mask_token)
            if reason:
                r.update(status="skip", reason=reason)
                results.append(r)
                continue
            r["text"] = text
        results.append(r)
        runnable.append(r)

    fwd_ms = 0.0
    if runnable:
        enc = tok([r["text"] for r in runnable], padding=True, truncation=True, return_tensors="pt")
        enc = {k: v.to(a.device) for k, v in enc.items()}
        if a.device == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        with torch.inference_mode():
            out = model(**enc)
            logits = out.logits if hasattr(out, "logits") else out.prediction_logits
            probs = torch.softmax(logits.float(), dim=-1)
            top = torch.topk(probs, a.top_k, dim=-1)
        if a.device == "cuda":
            torch.cuda.synchronize()
        fwd_ms = (time.perf_counter() - t0) * 1e3
        attn = enc["attention_mask"].sum(dim=1).tolist()
        total = sum(attn) or 1
        ids_all = enc["input_ids"].tolist()
        values, indices = top.values.cpu().tolist(), top.indices.cpu().tolist()
        for b, r in enumerate(runnable):
            n = attn[b]
            ids = ids_all[b][:n]
            r["input_ids"] = ids
            r["ms"] = fwd_ms * n / total
            for p, t in enumerate(ids):
                if t == tok.mask_token_id:
                    r["masks"].append({"position": p, "top": [
                        {"token": tok.convert_ids_to_tokens(int(i)), "id": int(i), "score": float(s)}
                        for s, i in zip(values[b][p], indices[b][p])]})

    emit({"device": a.device, "torch": torch.__version__, "transformers": transformers.__version__, "gpu": gpu,
          "engine": f"transformers {transformers.__version__} {head}, torch {torch.__version__} ({a.device}{': ' + gpu if gpu else ''})",
          "timings": {"load": round(load_ms, 1), "forward": round(fwd_ms, 1)}, "cases": results})


if __name__ == "__main__":
    main()
