#!/usr/bin/env bash
# The GPU smoke check, as one prepared script for a machine with an NVIDIA GPU, PyTorch,
# transformers and Node (npm ci && npm run build done): `smoke --device cuda` on the bundled sample
# (the real path: weights checked, safetensors written by our reader, then the runner), and the
# shipped runner (python/smoke_runner.py) on cuda and cpu, on the sample and on a BERT-base-size
# checkpoint made there by tools/make_base_size_ckpt.py. The runner loads safetensors only, so each
# checkpoint is first converted by `azbert-release convert` into a folder with its tokenizer files.
# usage: tools/gpu-smoke-check.sh [OUT_DIR]
set -euo pipefail
out=${1:-${OUT:-/tmp/gpu-smoke}}
mkdir -p "$out"
py=${PYTHON:-python3}
export PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true
"$py" python/smoke_runner.py --probe | tee "$out/probe.json"

# The widget examples of the model card, as the runner's cases file.
"$py" - > "$out/cases.json" <<'PY'
import json, re, yaml
card = open("ckpt/README.md").read()
fm = yaml.safe_load(re.match(r"^---\n(.*?)\n---", card, re.S).group(1))
print(json.dumps({"cases": [{"text": w["text"]} for w in fm["widget"]]}))
PY

base=/tmp/azbert-base
t0=$(date +%s%N)
"$py" tools/make_base_size_ckpt.py "$base" --from ckpt
echo "base checkpoint generated in $(( ($(date +%s%N) - t0) / 1000000 )) ms"
# Fingerprint of the random weights, to compare with the copy generated on the CPU machine.
"$py" -c "import torch; sd=torch.load('$base/pytorch_model.bin'); w=sd['bert.embeddings.word_embeddings.weight']; print('word_embeddings sum', float(w.double().sum()), 'first', w[0,:4].tolist())"

node bin/azbert-release.js smoke --device cuda --python "$py" --json > "$out/cli-smoke-cuda.json" || echo "smoke --device cuda failed (exit $?)"

for ck in ckpt "$base"; do
  name=$(basename "$ck")
  folder="$out/$name-safetensors"
  rm -rf "$folder"
  node bin/azbert-release.js convert --ckpt "$ck" --out "$folder"
  for f in config.json tokenizer.json tokenizer_config.json special_tokens_map.json added_tokens.json vocab.txt; do
    ln -s "$(cd "$ck" && pwd)/$f" "$folder/$f"
  done
  for dev in cuda cpu; do
    t0=$(date +%s%N)
    "$py" python/smoke_runner.py --ckpt "$folder" --cases "$out/cases.json" --device "$dev" --top-k 5 > "$out/$name-$dev.json"
    echo "$name on $dev: whole process $(( ($(date +%s%N) - t0) / 1000000 )) ms"
    "$py" - "$out/$name-$dev.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
print("  device", r.get("device"), "gpu", r.get("gpu"), "torch", r.get("torch"), "transformers", r.get("transformers"))
for c in r["cases"]:
    for m in c["masks"]:
        print("  %-66s @%d %s" % (c["text"][:66], m["position"], ", ".join("%s %.4f" % (t["token"], t["score"]) for t in m["top"][:5])), "(%s ms)" % c.get("ms"))
PY
  done
done
