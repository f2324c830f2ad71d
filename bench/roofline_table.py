#!/usr/bin/env python3
"""Runs issue 11's workloads with `kvasir bench roofline` and prints a
Markdown table: tokens/s and each run's fraction of this machine's limits.

  bench/roofline_table.py --kvasir build/tools/kvasir --models DIR [--only ROW]

DIR holds the `kvasir quantize` copies of dummy:110m (110m-f32.gguf,
110m-bf16.gguf, 110m-q8_0.gguf, 110m-q4_k_m.gguf, 110m-q6_k.gguf) and of
dummy:1b (1b-q4_k_m.gguf) for the yardstick; rows whose file is missing are
skipped. Every row is one process: it measures the limits itself, so the
percentages are against the machine as it was during that run.
"""
import argparse
import json
import os
import subprocess
import sys

DECODE = ["--requests", "2", "--concurrency", "1", "--prompt-len", "16",
          "--gen-len", "128"]
PREFILL = ["--requests", "1", "--concurrency", "1", "--prompt-len", "512",
           "--gen-len", "1"]


def streams(n, prompt=128, gen=128, batch=512):
    return ["--requests", str(n), "--concurrency", str(n), "--prompt-len",
            str(prompt), "--gen-len", str(gen), "--max-batch-tokens",
            str(batch)]


LONG = streams(16, prompt=1500, gen=64, batch=2048)

# (row name, model file, extra flags, figure: decode | prefill)
ROWS = [
    ("decode 1 stream, f32", "110m-f32", DECODE, "decode"),
    ("decode 1 stream, bf16 (file)", "110m-bf16", DECODE, "decode"),
    ("decode 1 stream, f32 as bf16", "110m-f32",
     DECODE + ["--weights-dtype", "bf16"], "decode"),
    ("decode 1 stream, Q8_0", "110m-q8_0", DECODE, "decode"),
    ("decode 1 stream, Q4_K_M", "110m-q4_k_m", DECODE, "decode"),
    ("decode 1 stream, Q6_K", "110m-q6_k", DECODE, "decode"),
    ("prefill 512, f32", "110m-f32", PREFILL, "prefill"),
    ("prefill 512, f32 as bf16", "110m-f32",
     PREFILL + ["--weights-dtype", "bf16"], "prefill"),
    ("prefill 512, Q4_K_M", "110m-q4_k_m", PREFILL, "prefill"),
    ("8 streams, f32", "110m-f32", streams(8), "decode"),
    ("32 streams, f32", "110m-f32", streams(32), "decode"),
    ("32 streams, f32, bf16 KV", "110m-f32",
     streams(32) + ["--kv-dtype", "bf16"], "decode"),
    ("32 streams, bf16, bf16 KV", "110m-f32",
     streams(32) + ["--weights-dtype", "bf16", "--kv-dtype", "bf16"],
     "decode"),
    ("32 streams, Q8_0, bf16 KV", "110m-q8_0",
     streams(32) + ["--kv-dtype", "bf16"], "decode"),
    ("32 streams, Q4_K_M, bf16 KV", "110m-q4_k_m",
     streams(32) + ["--kv-dtype", "bf16"], "decode"),
    ("16 streams at 1.5k, MHA, bf16", "110m-f32",
     LONG + ["--weights-dtype", "bf16", "--kv-heads", "12"], "decode"),
    ("16 streams at 1.5k, GQA-4, bf16", "110m-f32",
     LONG + ["--weights-dtype", "bf16", "--kv-heads", "4"], "decode"),
    ("16 streams at 1.5k, MQA, bf16", "110m-f32",
     LONG + ["--weights-dtype", "bf16", "--kv-heads", "1"], "decode"),
    ("16 streams at 1.5k, GQA-4, bf16 weights and KV", "110m-f32",
     LONG + ["--weights-dtype", "bf16", "--kv-dtype", "bf16", "--kv-heads",
             "4"], "decode"),
    ("16 streams at 1.5k, MQA, bf16 weights and KV", "110m-f32",
     LONG + ["--weights-dtype", "bf16", "--kv-dtype", "bf16", "--kv-heads",
             "1"], "decode"),
    ("16 streams at 1.5k, MHA, f32 KV", "110m-f32",
     LONG + ["--kv-heads", "12"], "decode"),
    ("16 streams at 1.5k, MQA, f32 KV", "110m-f32",
     LONG + ["--kv-heads", "1"], "decode"),
    ("yardstick: 1b Q4_K_M, 32 streams", "1b-q4_k_m",
     streams(32, prompt=128, gen=64), "decode"),
]


def run(kvasir, model, extra):
    """The run's JSON, or None (its error printed) when kvasir failed."""
    cmd = [kvasir, "bench", "roofline", "--model", model, "--json"] + extra
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        print(f"({' '.join(cmd)}: exit {out.returncode}: "
              f"{out.stderr.strip()})", file=sys.stderr)
        return None
    return json.loads(out.stdout)


def reads(lim):
    """The read bandwidth (the best reading) and each reading."""
    each = " / ".join(f"{r:.1f}" for r in lim["read_GBps_readings"])
    return f"{lim['read_GBps']:.1f} ({each})"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--kvasir", default="build/tools/kvasir")
    ap.add_argument("--models", required=True)
    ap.add_argument("--only", default="", help="run rows containing this")
    args = ap.parse_args()
    print("| workload | tokens/s | per stream | weights GB/s (% of read) "
          "| KV GB/s in attention (%) | matmul GFLOP/s (% of the peak of "
          "its arithmetic) | step / roofline | attention % | read GB/s "
          "(before / after) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name, model, extra, figure in ROWS:
        if args.only and args.only not in name:
            continue
        path = os.path.join(args.models, model + ".gguf")
        if not os.path.exists(path):
            print(f"(skipped {name}: no {path})", file=sys.stderr)
            continue
        j = run(args.kvasir, path, extra)
        if j is None:
            print(f"| {name} | failed | | | | | | | |", flush=True)
            continue
        r = j["roofline"]
        lim = r["limits"]
        # Matmul GFLOP/s as % of the peak of the arithmetic most of them
        # ran on (peak_used: f32 FMA, bf16 or int8 dot products).
        if figure == "prefill":
            p = r["prefill"]
            print(f"| {name} | {j['prefill_tokens_per_s']:.1f} | - | - | - "
                  f"| {p['matmul_GFLOPs']:.0f} "
                  f"({p['matmul_pct_of_peak_used']:.0f}% "
                  f"{p['peak_used']}) | - "
                  f"| {j['step_split']['attention_pct']:.0f} "
                  f"| {reads(lim)} |", flush=True)
            continue
        d = r["decode"]
        tps = j["decode_tokens_per_s"]
        per = tps / max(1, j["concurrency"])
        print(f"| {name} | {tps:.1f} | {per:.1f} "
              f"| {d['weight_GBps']:.1f} ({d['weight_pct_of_read']:.0f}%) "
              f"| {d['kv_GBps_in_attention']:.1f} "
              f"({d['kv_pct_of_read']:.0f}%) "
              f"| {d['matmul_GFLOPs']:.0f} "
              f"({d['matmul_pct_of_peak_used']:.0f}% {d['peak_used']}) "
              f"| {d.get('step_over_roofline', 0):.2f}x "
              f"| {d['attention_pct']:.0f} "
              f"| {reads(lim)} |", flush=True)


if __name__ == "__main__":
    main()
