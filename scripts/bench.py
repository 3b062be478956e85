#!/usr/bin/env python3
"""Benchmarks on the real files of ../shared/data/real.

ingest: end to end (read, sniff, decode, parse, Delta commit), on the four national real-time
files, then on all regional files; each set RUNS times into a fresh lake. Reported: the median
run's MB/s of raw (decompressed) text, rows/s, and the peak RSS of the process.

transform: `transform --full` of a lake holding every real eCO2mix file (national, regional,
portal exports, legacy), RUNS times; bronze rows read per second and peak RSS.

job: the whole job on the national and regional files into a fresh lake, JOB_RUNS times: each
step on its own (ingest, transform, gold, optimize), `ecomix run` end to end, and the Python
reference (scripts/reference_pipeline.py: the same ingest -> silver -> gold with Polars and
deltalake, no optimize) on the same input; medians, peak RSS and the ratios.
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
JOB_RUNS = int(os.environ.get("JOB_RUNS", "3"))


def timed_command(argv, stdout_path):
    """Runs argv once with stdout to a file; returns (seconds, peak RSS in MiB)."""
    started = time.perf_counter()
    # A fresh child per run, so ru_maxrss of the waited child is this run's peak.
    pid = os.fork()
    if pid == 0:
        out = os.open(stdout_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        os.dup2(out, 1)
        os.execv(argv[0], argv)
    _, status, usage = os.wait4(pid, 0)
    seconds = time.perf_counter() - started
    if status != 0:
        sys.exit(f"{' '.join(argv[:4])} failed with status {status}")
    return seconds, usage.ru_maxrss / 1024


def timed(lake, *args):
    """Runs ecomix once; returns (seconds, peak RSS in MiB, its JSON report)."""
    report_path = os.path.join(lake, "report.json")
    seconds, peak = timed_command([str(BINARY), "--lake", lake, "--json", "-q", *args], report_path)
    return seconds, peak, json.loads(pathlib.Path(report_path).read_text())


def median(runs):
    return sorted(runs, key=lambda r: r[0])[len(runs) // 2]


def bench_job(files):
    """Each step, the whole `ecomix run`, and the Python reference, on the same files."""
    names = list(map(str, files))
    steps = {"ingest": [], "transform": [], "gold": [], "optimize": []}
    whole, python = [], []
    for _ in range(JOB_RUNS):
        lake = tempfile.mkdtemp(prefix="ecomix-bench-")
        try:
            steps["ingest"].append(timed(lake, "ingest", *names))
            for step in ("transform", "gold", "optimize"):
                steps[step].append(timed(lake, step))
        finally:
            shutil.rmtree(lake, ignore_errors=True)
        lake = tempfile.mkdtemp(prefix="ecomix-bench-")
        try:
            whole.append(timed(lake, "run", *names))
        finally:
            shutil.rmtree(lake, ignore_errors=True)
        lake = tempfile.mkdtemp(prefix="ecomix-bench-py-")
        try:
            script = ROOT / "scripts" / "reference_pipeline.py"
            python.append(timed_command([sys.executable, str(script), lake, *names],
                                        os.path.join(lake, "out.txt")))
        finally:
            shutil.rmtree(lake, ignore_errors=True)
    mb = median(steps["ingest"])[2]["bytes_read"] / 1e6
    rows = sum(t["rows_written"] for t in median(steps["ingest"])[2]["tables"])
    print(f"job on {len(files)} files, {mb:.1f} MB, {rows} bronze rows; {JOB_RUNS} runs, median shown")
    for step, runs in steps.items():
        seconds, peak, _ = median(runs)
        print(f"  {step:<22} {seconds:7.3f} s  peak RSS {peak:7.1f} MiB")
    seconds, peak, _ = median(whole)
    py_seconds, py_peak = median(python)
    no_optimize = sum(median(steps[s])[0] for s in ("ingest", "transform", "gold"))
    print(f"  {'ecomix run':<22} {seconds:7.3f} s  peak RSS {peak:7.1f} MiB  {rows / seconds:>10,.0f} rows/s"
          f"  {mb / seconds:6.1f} MB/s")
    print(f"  {'python reference':<22} {py_seconds:7.3f} s  peak RSS {py_peak:7.1f} MiB")
    print(f"  ratio python / ecomix: {py_seconds / seconds:.2f}x end to end (ecomix with optimize), "
          f"{py_seconds / no_optimize:.2f}x for ingest+transform+gold; "
          f"peak RSS {py_peak / peak:.1f}x")


def run_once(files):
    lake = tempfile.mkdtemp(prefix="ecomix-bench-")
    try:
        return timed(lake, "ingest", *map(str, files))
    finally:
        shutil.rmtree(lake, ignore_errors=True)


def bench_transform(files):
    lake = tempfile.mkdtemp(prefix="ecomix-bench-")
    try:
        timed(lake, "ingest", *map(str, files))
        runs = [timed(lake, "transform", "--full") for _ in range(RUNS)]
        seconds, peak_mib, report = sorted(runs, key=lambda r: r[0])[len(runs) // 2]
        rows = report["rows_read"]
        print(f"{'transform --full':<24} {rows:>9} bronze rows -> {report['rows_written']} silver rows  "
              f"median {seconds:6.3f} s  {rows / seconds:>10,.0f} rows/s  peak RSS {peak_mib:6.1f} MiB")
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
    print(f"ecomix, {RUNS} runs per measure, median shown")
    bench("national real-time", national)
    bench("regional (all)", regional)
    everything = national + regional + sorted(
        p for sub in ("odre", "derived") for p in (REAL / sub).rglob("*") if p.is_file()
    )
    bench_transform(everything)
    bench_job(national + regional)


if __name__ == "__main__":
    main()
