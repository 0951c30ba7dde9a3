"""Shared by make_base_size_ckpt.py and make_sharded_ckpt.py: the tokenizer and config files of a
BERT checkpoint of a given size (taken from a small checkpoint, vocabulary padded with filler
tokens), and the BertForPreTraining state-dict layout with random weights drawn in a fixed order,
so that one seed gives the same tensors whether they are saved in one file or in shards.
"""
import argparse
import json
import os
import shutil

import torch


def size_arguments(src, layers, hidden):
    """The command line both generators take (OUT_DIR, --from, sizes, dtype, seed), with their defaults."""
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--from", dest="src", default=src)
    ap.add_argument("--vocab-size", type=int, default=31061)
    ap.add_argument("--layers", type=int, default=layers)
    ap.add_argument("--hidden", type=int, default=hidden)
    ap.add_argument("--dtype", default="float32", choices=["float32", "float16"])
    ap.add_argument("--seed", type=int, default=0)
    return ap


def write_tokenizer_and_config(src, out, vocab_size, hidden, layers, dtype):
    """Writes vocab.txt, added_tokens.json, tokenizer.json, the other tokenizer files, README.md and
    config.json into `out`; returns the config dict."""
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(src, "vocab.txt")) as fh:
        vocab = fh.read().splitlines()
    with open(os.path.join(src, "added_tokens.json")) as fh:
        added = json.load(fh)
    n_plain = vocab_size - len(added)
    if n_plain < len(vocab):
        raise SystemExit("vocab-size smaller than the source vocabulary")
    vocab = vocab + [f"filler{i}" for i in range(n_plain - len(vocab))]
    added = {t: n_plain + j for j, t in enumerate(sorted(added, key=added.get))}
    with open(os.path.join(out, "vocab.txt"), "w") as fh:
        fh.write("\n".join(vocab) + "\n")
    with open(os.path.join(out, "added_tokens.json"), "w") as fh:
        json.dump(added, fh)
    with open(os.path.join(src, "tokenizer.json")) as fh:
        tj = json.load(fh)
    tj["model"]["vocab"] = {t: i for i, t in enumerate(vocab)}
    for entry in tj["added_tokens"]:
        if entry["content"] in added:
            entry["id"] = added[entry["content"]]
    with open(os.path.join(out, "tokenizer.json"), "w") as fh:
        json.dump(tj, fh, ensure_ascii=False)
    for f in ("tokenizer_config.json", "special_tokens_map.json"):
        shutil.copy(os.path.join(src, f), os.path.join(out, f))
    readme = os.path.join(src, "README.md")
    if os.path.exists(readme):
        shutil.copy(readme, os.path.join(out, "README.md"))

    with open(os.path.join(src, "config.json")) as fh:
        cfg = json.load(fh)
    cfg.update({"vocab_size": vocab_size, "hidden_size": hidden, "num_hidden_layers": layers, "num_attention_heads": hidden // 64,
                "intermediate_size": 4 * hidden, "max_position_embeddings": 512, "torch_dtype": dtype})
    with open(os.path.join(out, "config.json"), "w") as fh:
        json.dump(cfg, fh, indent=2, sort_keys=True)
        fh.write("\n")
    return cfg


def layout(V, H, L, P=512):
    """BertForPreTraining's state dict in save order: (name, shape, init, tied_to). init is
    "w" (normal * 0.02), "ones", "zeros" or "arange"; tied_to names the tensor whose storage it shares."""
    I = 4 * H
    out = [("bert.embeddings.position_ids", (1, P), "arange", None),
           ("bert.embeddings.word_embeddings.weight", (V, H), "w", None),
           ("bert.embeddings.position_embeddings.weight", (P, H), "w", None),
           ("bert.embeddings.token_type_embeddings.weight", (2, H), "w", None),
           ("bert.embeddings.LayerNorm.weight", (H,), "ones", None),
           ("bert.embeddings.LayerNorm.bias", (H,), "zeros", None)]
    for i in range(L):
        p = f"bert.encoder.layer.{i}."
        for name, shape in (("attention.self.query", (H, H)), ("attention.self.key", (H, H)), ("attention.self.value", (H, H)),
                            ("attention.output.dense", (H, H)), ("intermediate.dense", (I, H)), ("output.dense", (H, I))):
            out.append((p + name + ".weight", shape, "w", None))
            out.append((p + name + ".bias", (shape[0],), "zeros", None))
        out += [(p + "attention.output.LayerNorm.weight", (H,), "ones", None), (p + "attention.output.LayerNorm.bias", (H,), "zeros", None),
                (p + "output.LayerNorm.weight", (H,), "ones", None), (p + "output.LayerNorm.bias", (H,), "zeros", None)]
    out += [("bert.pooler.dense.weight", (H, H), "w", None), ("bert.pooler.dense.bias", (H,), "zeros", None),
            ("cls.predictions.bias", (V,), "zeros", None),
            ("cls.predictions.transform.dense.weight", (H, H), "w", None), ("cls.predictions.transform.dense.bias", (H,), "zeros", None),
            ("cls.predictions.transform.LayerNorm.weight", (H,), "ones", None), ("cls.predictions.transform.LayerNorm.bias", (H,), "zeros", None),
            # tied: same storage, as transformers saves BertForPreTraining
            ("cls.predictions.decoder.weight", (V, H), None, "bert.embeddings.word_embeddings.weight"),
            ("cls.predictions.decoder.bias", (V,), None, "cls.predictions.bias"),
            ("cls.seq_relationship.weight", (2, H), "w", None), ("cls.seq_relationship.bias", (2,), "zeros", None)]
    return out


def make_tensor(shape, init, dtype):
    """One tensor; "w" draws from torch's global generator (call in layout order for a fixed result)."""
    if init == "arange":
        return torch.arange(shape[1]).unsqueeze(0)
    if init == "w":
        return (torch.randn(*shape) * 0.02).to(dtype)
    return (torch.ones if init == "ones" else torch.zeros)(*shape, dtype=dtype)


def nbytes(shape, init, dtype):
    n = 1
    for d in shape:
        n *= d
    return n * (8 if init == "arange" else torch.tensor([], dtype=dtype).element_size())
