#!/usr/bin/env bash
# Side-by-side decode and prefill against llama.cpp on the same weights, same shapes, same thread count.
#
#   bench/llamacpp/compare.sh LLAMA_BUILD_DIR [options]
#     --models "stories110M TinyLlama-1.1B"   synthetic presets, or model folders (F32 only for odd FFN sizes)
#     --dtypes "f32 f16 bf16 q8_0 q4_0"
#     --threads 2  --repeats 3  --gen 64  --prompt 64
#     --speccore PATH     the speccore binary (default: build src/Cli in Release and use it)
#     --work DIR          where the GGUF files are written and kept (default: /tmp/speccore-gguf)
#
# llama.cpp is not part of SpecCore: build it yourself from its public source (llama-bench target) and pass its
# build directory. Weights come from SpecCore's bench `gguf` command (the very tensors `speccore bench --synthetic`
# runs, converted with SpecCore's own converters). The two engines run alternately, one repeat each in turn, so a
# busy machine's drift hits both; each turn reports its best (llama-bench -r 3, SpecCore's bench its best pass), and
# the table shows medians of the turns and SpecCore ÷ llama.cpp.
set -euo pipefail

llama=${1:?usage: compare.sh LLAMA_BUILD_DIR [--models ...] [--dtypes ...] [--threads N] [--repeats N]}
shift
models="stories110M"
dtypes="f32 f16 bf16 q8_0 q4_0"
threads=2 repeats=3 gen=64 prompt=64 speccore="" work=/tmp/speccore-gguf
while [[ $# -gt 0 ]]; do
  case $1 in
    --models) models=$2; shift 2 ;;
    --dtypes) dtypes=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    --repeats) repeats=$2; shift 2 ;;
    --gen) gen=$2; shift 2 ;;
    --prompt) prompt=$2; shift 2 ;;
    --speccore) speccore=$2; shift 2 ;;
    --work) work=$2; shift 2 ;;
    *) echo "error: unknown option $1" >&2; exit 2 ;;
  esac
done

root=$(cd "$(dirname "$0")/../.." && pwd)
bench_bin=""
for candidate in "$llama/bin/llama-bench" "$llama/llama-bench"; do [[ -x $candidate ]] && bench_bin=$candidate && break; done
[[ -n $bench_bin ]] || { echo "error: no llama-bench under $llama (bin/llama-bench or llama-bench)" >&2; exit 2; }
if [[ -z $speccore ]]; then
  dotnet build "$root/src/Cli" -c Release -v quiet -nologo >/dev/null
  speccore="$root/src/Cli/bin/Release/net10.0/speccore"
fi
mkdir -p "$work"
results="$work/results.tsv"
: > "$results"

for model in $models; do
  for dtype in $dtypes; do
    gguf="$work/$(basename "$model")-$dtype.gguf"
    if [[ ! -s $gguf ]]; then
      dotnet run -c Release --project "$root/bench" -- gguf "$model" "$dtype" "$gguf"
    fi
    if [[ -d $model ]]; then source=(--model "$model"); else source=(--synthetic "$model"); fi
    for ((r = 0; r < repeats; r++)); do
      # llama.cpp: three repetitions per turn, the best of them (SpecCore's bench reports its best repeat too): a single
      # 64-token prefill of llama-bench takes ~45 ms and came out at half speed in about one run of two (788 vs 1386
      # tok/s back to back), which a median of single repetitions kept. JSON keys read by name.
      "$bench_bin" -m "$gguf" -t "$threads" -n "$gen" -p "$prompt" -r 3 -o json 2>/dev/null | python3 -c '
import json, sys
for row in json.load(sys.stdin):
    phase = "decode" if int(row["n_gen"]) > 0 else "prefill"
    print("\t".join([sys.argv[1], sys.argv[2], "llama.cpp", phase, str(max(row["samples_ts"]))]))
' "$model" "$dtype" >> "$results"
      # SpecCore: the phases bench prints, same prompt and generation lengths; the KV cache as llama.cpp keeps it (F16).
      "$speccore" bench "${source[@]}" --dtype "$dtype" --kv-dtype f16 --device cpu --threads "$threads" \
          --tokens "$gen" --prompt-tokens "$prompt" --verify 4 --spec-k 1 2>/dev/null |
        awk -v m="$model" -v d="$dtype" '$1 == "prefill" || $1 == "decode" { printf "%s\t%s\tspeccore\t%s\t%s\n", m, d, $1, $2 }' >> "$results"
    done
  done
done

python3 - "$results" "$threads" "$repeats" <<'PY'
import statistics, sys
from collections import defaultdict
runs = defaultdict(list)
for line in open(sys.argv[1]):
    model, dtype, engine, phase, tps = line.rstrip("\n").split("\t")
    runs[(model, dtype, phase, engine)].append(float(tps.replace(",", "")))
print(f"\n{sys.argv[2]} threads, medians of {sys.argv[3]} alternating repeats (tokens/s)")
print(f"{'model':<16} {'dtype':<6} {'phase':<8} {'speccore':>10} {'llama.cpp':>10} {'ratio':>7}")
for (model, dtype, phase) in sorted({k[:3] for k in runs}, key=lambda k: (k[0], k[1], k[2] != "decode")):
    s = statistics.median(runs.get((model, dtype, phase, "speccore"), [float("nan")]))
    l = statistics.median(runs.get((model, dtype, phase, "llama.cpp"), [float("nan")]))
    print(f"{model:<16} {dtype:<6} {phase:<8} {s:>10.1f} {l:>10.1f} {s / l:>6.2f}x")
PY
