#!/usr/bin/env python3
"""Many concurrent SSE streams against Kvasir's OpenAI HTTP API.

Opens --streams connections at once, each POSTing a streaming
/v1/completions request (greedy, ignore_eos, exactly --tokens tokens), reads
every event to `data: [DONE]`, and reports how many completed with all their
tokens, the wall time, and -- with --pid, the server's process id -- the
server's peak resident memory and thread count sampled from /proc while the
streams ran. Standard library only (asyncio over plain sockets), so it runs
anywhere Python 3 does:

  kvasir serve --config configs/default.yaml --model dummy:15m &
  bench/http_sse_streams.py --port 8080 --streams 256 --tokens 64 --pid $!
"""

import argparse
import asyncio
import json
import os
import sys
import time


async def one_stream(host, port, key, prompt, tokens, timeout):
    body = json.dumps({
        "prompt": prompt, "max_tokens": tokens, "temperature": 0,
        "ignore_eos": True, "stream": True,
        "stream_options": {"include_usage": True},
    }).encode()
    auth = f"Authorization: Bearer {key}\r\n" if key else ""
    head = (f"POST /v1/completions HTTP/1.1\r\nHost: {host}:{port}\r\n"
            f"Content-Type: application/json\r\n{auth}"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n")
    reader, writer = await asyncio.wait_for(
        asyncio.open_connection(host, port), timeout)
    writer.write(head.encode() + body)
    await writer.drain()
    raw = await asyncio.wait_for(reader.read(-1), timeout)  # to EOF
    writer.close()
    text = raw.decode("utf-8", "replace")
    status = int(text.split(" ", 2)[1]) if text.startswith("HTTP/") else 0
    done = "data: [DONE]" in text
    completion = 0
    for line in text.split("\n"):
        if line.startswith("data: {") and '"usage":{' in line:
            completion = json.loads(line[6:])["usage"]["completion_tokens"]
    return status, done, completion


def proc_status(pid):
    fields = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                k, _, v = line.partition(":")
                fields[k] = v.strip()
    except OSError:
        return None
    return int(fields["VmRSS"].split()[0]) * 1024, int(fields["Threads"])


async def sample(pid, peak, stop):
    while not stop.is_set():
        s = proc_status(pid)
        if s:
            peak["rss"] = max(peak["rss"], s[0])
            peak["threads"] = max(peak["threads"], s[1])
        await asyncio.sleep(0.02)


async def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8080)
    p.add_argument("--api-key", default=os.environ.get("KVASIR_API_KEY", ""))
    p.add_argument("--streams", type=int, default=256)
    p.add_argument("--tokens", type=int, default=64)
    p.add_argument("--prompt", default="Once upon a time")
    p.add_argument("--timeout", type=float, default=600)
    p.add_argument("--pid", type=int, default=0,
                   help="the server's pid: sample its RSS and threads")
    a = p.parse_args()

    before = proc_status(a.pid) if a.pid else None
    peak = {"rss": 0, "threads": 0}
    stop = asyncio.Event()
    sampler = asyncio.create_task(sample(a.pid, peak, stop)) if a.pid else None
    cpu0 = os.times()
    t0 = time.monotonic()
    results = await asyncio.gather(
        *[one_stream(a.host, a.port, a.api_key, a.prompt, a.tokens, a.timeout)
          for _ in range(a.streams)],
        return_exceptions=True)
    wall = time.monotonic() - t0
    cpu1 = os.times()
    stop.set()
    if sampler:
        await sampler
    after = proc_status(a.pid) if a.pid else None

    errors = [r for r in results if isinstance(r, BaseException)]
    ok = [r for r in results if not isinstance(r, BaseException)
          and r[0] == 200 and r[1] and r[2] == a.tokens]
    report = {
        "streams": a.streams, "tokens_per_stream": a.tokens,
        "completed": len(ok), "errors": [repr(e) for e in errors[:5]],
        "statuses": sorted({r[0] for r in results
                            if not isinstance(r, BaseException)}),
        "wall_s": round(wall, 3),
        "output_tokens_per_s": round(len(ok) * a.tokens / wall, 1),
        "client_cpu_s": round((cpu1.user - cpu0.user)
                              + (cpu1.system - cpu0.system), 3),
    }
    if a.pid:
        report["server_before"] = {"rss_mib": round(before[0] / 2**20, 1),
                                   "threads": before[1]} if before else None
        report["server_peak"] = {"rss_mib": round(peak["rss"] / 2**20, 1),
                                 "threads": peak["threads"]}
        report["server_after"] = {"rss_mib": round(after[0] / 2**20, 1),
                                  "threads": after[1]} if after else None
    print(json.dumps(report, indent=1))
    return 0 if len(ok) == a.streams else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
