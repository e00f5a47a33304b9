#!/usr/bin/env python3
"""Cold start of the language server: spawn `heaplens lsp`, send `initialize`, time the reply.

    python3 scripts/bench-lsp-start.py [--binary target/dist/heaplens] [--runs 20]

Prints the median and the worst of the runs, in milliseconds, from the spawn to the whole
`initialize` response read (BENCHMARKS.md, "Package"). Each run is a fresh process.
"""
import argparse
import json
import os
import statistics
import subprocess
import time


def message(body):
    data = json.dumps(body).encode()
    return b"Content-Length: %d\r\n\r\n" % len(data) + data


def read_message(stream):
    length = None
    while True:
        line = stream.readline()
        if not line:
            raise RuntimeError("the server closed its output")
        if line in (b"\r\n", b"\n"):
            break
        name, _, value = line.decode().partition(":")
        if name.lower() == "content-length":
            length = int(value)
    return json.loads(stream.read(length))


def once(binary):
    start = time.perf_counter()
    proc = subprocess.Popen([binary, "lsp"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL)
    init = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
            "params": {"processId": os.getpid(), "rootUri": None, "capabilities": {}}}
    proc.stdin.write(message(init))
    proc.stdin.flush()
    while True:
        reply = read_message(proc.stdout)
        if reply.get("id") == 1:
            break
    elapsed = (time.perf_counter() - start) * 1000
    assert "capabilities" in reply["result"], reply
    proc.stdin.write(message({"jsonrpc": "2.0", "id": 2, "method": "shutdown"}))
    proc.stdin.write(message({"jsonrpc": "2.0", "method": "exit"}))
    proc.stdin.close()
    proc.wait(timeout=10)
    return elapsed


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", default="target/dist/heaplens")
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    times = [once(args.binary) for _ in range(args.runs)]
    print(f"{args.binary}: initialize answered in median {statistics.median(times):.1f} ms, "
          f"worst {max(times):.1f} ms over {args.runs} cold starts")


if __name__ == "__main__":
    main()
