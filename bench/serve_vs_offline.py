#!/usr/bin/env python3
"""The server's cost against the engine alone: `kvasir bench serve` vs
`kvasir bench offline` on the same workload.

Starts `kvasir serve --config configs/default.yaml --model MODEL` on free
loopback ports (gRPC and HTTP), runs `kvasir bench serve --json` at each
--concurrency over each --protocols, then `kvasir bench offline --json` with
the same requests, prompt and generation lengths and concurrency (the
server's max_batch_tokens, 512, is offline's default), and prints a
markdown table: throughput, its ratio to offline, p50/p90/p99 of time to
first token, inter-token latency and end-to-end latency, and how many cores
the benchmark client itself used (it shares the machine with the server).

  bench/serve_vs_offline.py --kvasir build/tools/kvasir --model dummy:15m \\
      --concurrency 1 16 64 --protocols grpc http

Standard library only. Run it on an otherwise idle machine: the client, the
server and offline runs all compete for the same cores.
"""

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time


def start_server(kvasir, config, model, log_path):
    log = open(log_path, "w")
    proc = subprocess.Popen(
        [kvasir, "serve", "--config", config, "--model", model,
         "--listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0",
         "--metrics-listen", "off"],
        stdout=log, stderr=subprocess.STDOUT)
    deadline = time.time() + 120
    while time.time() < deadline:
        text = open(log_path).read()
        if "ready: health is SERVING" in text:
            grpc = re.search(r"serving gRPC on \S+ \(port (\d+)\)", text)
            http = re.search(r"OpenAI HTTP on \S+ \(port (\d+)\)", text)
            return proc, int(grpc.group(1)), int(http.group(1)) if http else 0
        if proc.poll() is not None:
            sys.exit(f"kvasir serve exited:\n{text}")
        time.sleep(0.1)
    proc.kill()
    sys.exit("kvasir serve was not ready after 120 s")


def run_json(argv):
    r = subprocess.run(argv, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"{' '.join(argv)}\nexit {r.returncode}: {r.stderr}")
    return json.loads(r.stdout)


def pct(d):
    return f"{d['p50']:.1f} / {d['p90']:.1f} / {d['p99']:.1f}"


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--kvasir", default=os.path.join(here, "..", "build",
                                                    "tools", "kvasir"))
    p.add_argument("--config", default=os.path.join(here, "..", "configs",
                                                    "default.yaml"))
    p.add_argument("--model", default="dummy:15m")
    p.add_argument("--concurrency", type=int, nargs="+", default=[1, 16, 64])
    p.add_argument("--protocols", nargs="+", default=["grpc", "http"])
    p.add_argument("--prompt-len", type=int, default=128)
    p.add_argument("--gen-len", type=int, default=128)
    p.add_argument("--requests-per-stream", type=int, default=4,
                   help="requests = this x concurrency (at least 8)")
    args = p.parse_args()

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        proc, grpc_port, http_port = start_server(
            args.kvasir, args.config, args.model, os.path.join(tmp, "log"))
        try:
            for c in args.concurrency:
                n = max(8, args.requests_per_stream * c)
                common = ["--requests", str(n), "--prompt-len",
                          str(args.prompt_len), "--gen-len", str(args.gen_len)]
                for proto in args.protocols:
                    port = grpc_port if proto == "grpc" else http_port
                    j = run_json([args.kvasir, "bench", "serve", "--protocol",
                                  proto, "--addr", f"127.0.0.1:{port}",
                                  "--concurrency", str(c), "--json",
                                  "--progress", "off"] + common)
                    rows.append((proto, c, n, j))
        finally:
            proc.terminate()
            proc.wait()
    offline = {}
    for c in args.concurrency:
        n = max(8, args.requests_per_stream * c)
        offline[c] = run_json([args.kvasir, "bench", "offline", "--model",
                               args.model, "--requests", str(n),
                               "--concurrency", str(c), "--prompt-len",
                               str(args.prompt_len), "--gen-len",
                               str(args.gen_len), "--json"])

    print(f"model {args.model}, prompt {args.prompt_len}, gen "
          f"{args.gen_len} tokens (ignore_eos)\n")
    print("| protocol | streams | requests | req/s | output tok/s | offline "
          "tok/s | ratio | TTFT ms p50/p90/p99 | ITL ms p50/p90/p99 | "
          "E2E ms p50/p90/p99 | client cores |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for proto, c, n, j in rows:
        t = j["total"]
        off = offline[c]["output_tokens_per_s"]
        print(f"| {proto} | {c} | {n} | {t['requests_per_s']:.2f} | "
              f"{t['output_tokens_per_s']:.1f} | {off:.1f} | "
              f"{t['output_tokens_per_s'] / off:.2f} | {pct(t['ttft_ms'])} | "
              f"{pct(t['itl_ms'])} | {pct(t['e2e_ms'])} | "
              f"{j['client_cpu']['cores']:.2f} |")


if __name__ == "__main__":
    main()
