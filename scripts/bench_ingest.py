#!/usr/bin/env python3
"""Ingest throughput, end to end (read, sniff, decode, parse, Delta commit), on the real files of
../shared/data/real: the four national real-time files, then all regional files.

Each set is ingested RUNS times into a fresh lake; the median run is reported: MB/s of raw
(decompressed) text, rows/s, and the peak RSS of the process.
"""
import json
import os
import pathlib
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
REAL = ROOT.parent / "shared" / "data" / "real"
TARGET = pathlib.Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
BINARY = TARGET / "debug" / "ecomix"
RUNS = int(os.environ.get("RUNS", "5"))


def run_once(files):
    lake = tempfile.mkdtemp(prefix="ecomix-bench-")
    try:
        started = time.perf_counter()
        # A fresh child per run, so ru_maxrss of the waited child is this run's peak.
        pid = os.fork()
        if pid == 0:
            out = os.open(os.path.join(lake, "report.json"), os.O_WRONLY | os.O_CREAT)
            os.dup2(out, 1)
            os.execv(str(BINARY), [str(BINARY), "--lake", lake, "--json", "-q", "ingest", *map(str, files)])
        _, status, usage = os.wait4(pid, 0)
        seconds = time.perf_counter() - started
        if status != 0:
            sys.exit(f"ingest failed with status {status}")
        report = json.loads(pathlib.Path(lake, "report.json").read_text())
        return seconds, usage.ru_maxrss / 1024, report
    finally:
        shutil.rmtree(lake, ignore_errors=True)


def bench(label, files):
    runs = [run_once(files) for _ in range(RUNS)]
    seconds, peak_mib, report = sorted(runs, key=lambda r: r[0])[len(runs) // 2]
    mb = report["bytes_read"] / 1e6
    rows = sum(t["rows_written"] for t in report["tables"])
    spread = f"{min(r[0] for r in runs):.3f}-{max(r[0] for r in runs):.3f}"
    print(f"{label:<24} {len(files):>3} files {mb:7.1f} MB {rows:>9} rows  median {seconds:6.3f} s "
          f"(range {spread})  {mb / seconds:7.1f} MB/s  {rows / seconds:>10,.0f} rows/s  "
          f"peak RSS {peak_mib:6.1f} MiB")


def main():
    if not BINARY.exists():
        sys.exit(f"{BINARY} is missing: run `cargo build` first")
    if not REAL.is_dir():
        print(f"SKIPPED: {REAL} is absent")
        return
    national = sorted(p for p in (REAL / "rte_xls" / "national").rglob("*") if p.is_file())
    regional = sorted(p for p in (REAL / "rte_xls" / "regional").rglob("*") if p.is_file())
    print(f"ecomix ingest, {RUNS} runs per set, median shown")
    bench("national real-time", national)
    bench("regional (all)", regional)


if __name__ == "__main__":
    main()
