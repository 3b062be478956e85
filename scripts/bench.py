#!/usr/bin/env python3
"""Benchmarks at three scales: the real files of ../shared/data/real, a synthetic history the
size of the real one (14 years x 13 perimeters: France and its 12 regions), and ten times that
(14 years x 130 perimeters). SCALES=real,history,history10 picks them.

ingest: end to end (read, sniff, decode, parse, Delta commit), on the four national real-time
files, then on all regional files; each set RUNS times into a fresh lake. Reported: the median
run's MB/s of raw (decompressed) text, rows/s, and the peak RSS of the process.

transform: `transform --full` of a lake holding every real eCO2mix file (national, regional,
portal exports, legacy), RUNS times; bronze rows read per second and peak RSS.

job, at each scale: into a fresh lake, each step on its own (ingest, transform, gold,
optimize), then `ecomix run` end to end, then `ecomix run` with the pipeline's optimize off (the
reference's work), then the Python reference (scripts/reference_pipeline.py: the same ingest ->
silver -> gold with Polars and deltalake, no optimize) on the same input:
wall time, rows/s, MB/s, peak RSS, output size and the ratios; and the floor (examples/floor.rs,
built by `make bench`): the CPU time of the work no run can leave out (hashing and parsing the
input, arrow-rs encoding bronze and silver, reading bronze back) over the cores, which bounds
how fast any run, and so the ratio to the reference, can get on this machine. JOB_RUNS times
for the real files, HISTORY_RUNS (1) for the synthetic ones. At the synthetic scales, also the incremental
daily run: `ecomix run` of the next day's real-time file on top of the whole history.
The synthetic files are generated once by `ecomix synth` into BENCH_CACHE (~/.cache/ecomix-bench).
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
# The shared dev profile (dependencies optimised) by default: no second build of the tree.
# BENCH_PROFILE=release measures what `cargo install` gives users (no faster here, docs/performance.md).
PROFILE = os.environ.get("BENCH_PROFILE", "dev")
BINARY = TARGET / ("debug" if PROFILE == "dev" else PROFILE) / "ecomix"
# examples/floor.rs: the least time the run's work can take on this machine (the `floor` line).
FLOOR = BINARY.parent / "examples" / "floor"
RUNS = int(os.environ.get("RUNS", "5"))
JOB_RUNS = int(os.environ.get("JOB_RUNS", "3"))
HISTORY_RUNS = int(os.environ.get("HISTORY_RUNS", "1"))
SCALES = os.environ.get("SCALES", "real,history,history10").split(",")
CACHE = pathlib.Path(os.environ.get("BENCH_CACHE", pathlib.Path.home() / ".cache" / "ecomix-bench"))


def timed_command(argv, stdout_path):
    """Runs argv once with stdout to a file; returns (seconds, peak RSS in MiB, (user, system)
    CPU seconds)."""
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
    return seconds, usage.ru_maxrss / 1024, (usage.ru_utime, usage.ru_stime)


def timed(lake, *args):
    """Runs ecomix once; returns (seconds, peak RSS in MiB, its JSON report, (user, system))."""
    report_path = os.path.join(lake, "report.json")
    seconds, peak, cpu = timed_command([str(BINARY), "--lake", lake, "--json", "-q", *args],
                                       report_path)
    return seconds, peak, json.loads(pathlib.Path(report_path).read_text()), cpu


def median(runs):
    return sorted(runs, key=lambda r: r[0])[len(runs) // 2]


def lake_bytes(lake, prefixes):
    """Bytes of the live files of the lake's tables whose name starts with one of prefixes."""
    report_path = os.path.join(lake, "status.json")
    timed_command([str(BINARY), "--lake", lake, "--json", "-q", "status"], report_path)
    tables = json.loads(pathlib.Path(report_path).read_text())["tables"]
    return sum(t["bytes"] for t in tables if t["table"].startswith(prefixes))


def folder_bytes(folder):
    return sum(p.stat().st_size for p in pathlib.Path(folder).rglob("*") if p.is_file())


STEP_OUTPUT = {"ingest": ("bronze.",), "transform": ("silver.",), "gold": ("gold.",),
               "optimize": ("bronze.", "silver.", "gold.")}


def warm_page_cache(files):
    """Reads every input once, so that the first program timed does not pay for reading the
    disk while the others read the page cache."""
    for path in files:
        with open(path, "rb") as f:
            while f.read(1 << 24):
                pass


def bench_job(label, files, runs, python=True, daily=None):
    """Each step, the whole `ecomix run`, the Python reference and, given `daily` (a file for
    the day after the history), the incremental daily run, on the same files; medians. With
    several runs the four are interleaved, and each run's ratio is printed."""
    names = list(map(str, files))
    warm_page_cache(files)
    steps = {step: [] for step in STEP_OUTPUT}
    whole, same_work, python_runs, incremental, floors = [], [], [], [], []
    for _ in range(runs):
        lake = tempfile.mkdtemp(prefix="ecomix-bench-")
        try:
            for step in STEP_OUTPUT:
                args = ("ingest", *names) if step == "ingest" else (step,)
                seconds, peak, report, cpu = timed(lake, *args)
                steps[step].append((seconds, peak, report, lake_bytes(lake, STEP_OUTPUT[step]), cpu))
        finally:
            shutil.rmtree(lake, ignore_errors=True)
        lake = tempfile.mkdtemp(prefix="ecomix-bench-")
        try:
            seconds, peak, report, cpu = timed(lake, "run", *names)
            whole.append((seconds, peak, report, lake_bytes(lake, ("bronze.", "silver.", "gold.")), cpu))
            if daily:
                incremental.append(timed(lake, "run", str(daily)))
        finally:
            shutil.rmtree(lake, ignore_errors=True)
        # The reference's work exactly: `ecomix run` with the pipeline's optimize turned off.
        lake = tempfile.mkdtemp(prefix="ecomix-bench-")
        try:
            pipeline = os.path.join(lake, "no-optimize.toml")
            pathlib.Path(pipeline).write_text(no_optimize_pipeline())
            seconds, peak, report, cpu = timed(lake, "--pipeline", pipeline, "run", *names)
            same_work.append((seconds, peak, report, lake_bytes(lake, ("bronze.", "silver.", "gold.")),
                              cpu))
            if FLOOR.exists():
                floor_path = os.path.join(lake, "floor.json")
                timed_command([str(FLOOR), lake, *names], floor_path)
                floors.append(json.loads(pathlib.Path(floor_path).read_text()))
        finally:
            shutil.rmtree(lake, ignore_errors=True)
        if python:
            lake = tempfile.mkdtemp(prefix="ecomix-bench-py-")
            try:
                script = ROOT / "scripts" / "reference_pipeline.py"
                seconds, peak, cpu = timed_command([sys.executable, str(script), lake, *names],
                                                   os.path.join(lake, "out.txt"))
                python_runs.append((seconds, peak, None, folder_bytes(lake), cpu))
            finally:
                shutil.rmtree(lake, ignore_errors=True)
    ingest_report = median(steps["ingest"])[2]
    mb = ingest_report["bytes_read"] / 1e6
    rows = sum(t["rows_written"] for t in ingest_report["tables"])
    print(f"\n== {label}: {len(files)} files, {mb:,.1f} MB of raw text, {rows:,} bronze rows; "
          f"{runs} run(s), median shown")
    print("  rows/s and MB/s are the input's bronze rows and raw text over the step's wall time;")
    print("  output is the live size of the tables the step writes (Delta, Parquet + log);")
    print("  user and sys are the process's CPU seconds (two cores: up to twice the wall time)")
    print(f"  {'step':<22} {'wall s':>8} {'rows/s':>12} {'MB/s':>8} {'peak RSS MiB':>13} "
          f"{'output MiB':>11} {'user s':>7} {'sys s':>7}")

    def line(name, measure):
        seconds, peak, _, size, (user, system) = measure
        print(f"  {name:<22} {seconds:8.2f} {rows / seconds:12,.0f} {mb / seconds:8.1f} "
              f"{peak:13,.0f} {size / 2**20:11,.1f} {user:7.2f} {system:7.2f}")

    for step, measures in steps.items():
        line(step, median(measures))
    line("ecomix run (e2e)", median(whole))
    inside = ", ".join(f"{t['step']} {t['seconds']:.2f} s ({t['peak_rss_mib']:,} MiB)"
                       for t in median(whole)[2].get("timings", []))
    print(f"    its steps, with the peak RSS reached by the end of each: {inside}")
    line("run, no optimize", median(same_work))
    seconds = median(whole)[0]
    no_optimize = median(same_work)[0]
    floor = None
    if floors:
        floor = sorted(floors, key=lambda f: f["floor_s"])[len(floors) // 2]
        parts = " + ".join(f"{p['part']} {p['cpu_s']:.2f}" for p in floor["parts"])
        print(f"  {'floor':<22} {floor['floor_s']:8.2f}   = ({parts}) CPU s / {floor['cores']} cores: "
              f"the work no run can leave out (examples/floor.rs); the run without optimize "
              f"took {no_optimize / floor['floor_s']:.2f}x that")
        print(f"  {'bare floor':<22} {floor['bare_floor_s']:8.2f}   the same with bronze and silver "
              f"encoded without compression or statistics (files "
              f"{sum(p.get('bare_bytes', 0) for p in floor['parts']) / 1e6:,.0f} MB instead of "
              f"{sum(p.get('bytes', 0) for p in floor['parts']) / 1e6:,.0f} MB, no data skipping)")
    else:
        print(f"  floor: not measured ({FLOOR} is missing: `cargo build --examples`)")
    if python_runs:
        reference = median(python_runs)
        line("python reference", reference)
        py_seconds, py_peak = reference[:2]
        py_cpu, same_cpu = sum(reference[4]), sum(median(same_work)[4])
        print(f"  ratio python / ecomix: {py_seconds / seconds:.1f}x end to end (ecomix run, with "
              f"optimize); {py_seconds / no_optimize:.1f}x for the same work (ecomix run without "
              f"optimize: ingest + transform + gold, one process); peak RSS "
              f"{py_peak / median(whole)[1]:.1f}x; CPU time (user + sys) for the same work "
              f"{py_cpu / same_cpu:.1f}x")
        if floor:
            print(f"  ratio python / floor: {py_seconds / floor['floor_s']:.1f}x, the most any run "
                  f"could reach here ({py_seconds / floor['bare_floor_s']:.1f}x with the bare "
                  f"encodings)")
        if len(python_runs) > 1:
            pairs = ", ".join(f"{p[0]:.1f} s / {e[0]:.2f} s = {p[0] / e[0]:.1f}x"
                              for p, e in zip(python_runs, same_work))
            print(f"  each run, reference / ecomix run without optimize: {pairs}")
            if len(floors) == len(python_runs):
                pairs = ", ".join(f"{p[0]:.1f} s / {f['floor_s']:.2f} s = {p[0] / f['floor_s']:.1f}x"
                                  for p, f in zip(python_runs, floors))
                print(f"  each run, reference / floor: {pairs}")
    else:
        print(f"  python reference: not run at this scale ({python_skip_reason})")
    if incremental:
        seconds, peak, _, _ = median(incremental)
        print(f"  {'daily run (1 new file)':<22} {seconds:8.2f} {'':>12} {'':>8} {peak:13,.0f}"
              f"   (`ecomix run` of the next day's real-time file on top of the history)")


python_skip_reason = ""


def no_optimize_pipeline():
    """The project's pipeline file with `[optimize] after_run` turned off."""
    text = (ROOT / "pipelines" / "eco2mix.toml").read_text()
    section = text.index("[optimize]")
    setting = text.index("after_run = true", section)
    return text[:setting] + "after_run = false" + text[setting + len("after_run = true"):]


def synthetic(label, perimeters, years=14):
    """The synthetic history (cached under ~/.cache/ecomix-bench: the generator is
    deterministic) and the real-time file of the day after it."""
    first = 2012
    last = first + years - 1
    folder = CACHE / f"history-{first}-{last}-{perimeters}"
    daily = CACHE / f"daily-{last + 1}-01-01"
    for out, args in ((folder, ["--from", f"{first}-01-01", "--to", f"{last}-12-31",
                                "--perimeters", str(perimeters)]),
                      (daily, ["--from", f"{last + 1}-01-01", "--to", f"{last + 1}-01-01",
                               "--perimeters", "1"])):
        stamp = out / ".complete"
        if not stamp.exists():
            shutil.rmtree(out, ignore_errors=True)
            started = time.perf_counter()
            subprocess.run([str(BINARY), "-q", "synth", "--out", str(out), *args], check=True)
            stamp.touch()
            print(f"  (generated {out} in {time.perf_counter() - started:.1f} s)")
    files = sorted(p for p in folder.iterdir() if p.suffix == ".xls")
    return files, next(p for p in daily.iterdir() if p.suffix == ".xls")


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
        seconds, peak_mib, report, _ = sorted(runs, key=lambda r: r[0])[len(runs) // 2]
        rows = report["rows_read"]
        print(f"{'transform --full':<24} {rows:>9} bronze rows -> {report['rows_written']} silver rows  "
              f"median {seconds:6.3f} s  {rows / seconds:>10,.0f} rows/s  peak RSS {peak_mib:6.1f} MiB")
    finally:
        shutil.rmtree(lake, ignore_errors=True)


def bench(label, files):
    runs = [run_once(files) for _ in range(RUNS)]
    seconds, peak_mib, report, _ = sorted(runs, key=lambda r: r[0])[len(runs) // 2]
    mb = report["bytes_read"] / 1e6
    rows = sum(t["rows_written"] for t in report["tables"])
    spread = f"{min(r[0] for r in runs):.3f}-{max(r[0] for r in runs):.3f}"
    print(f"{label:<24} {len(files):>3} files {mb:7.1f} MB {rows:>9} rows  median {seconds:6.3f} s "
          f"(range {spread})  {mb / seconds:7.1f} MB/s  {rows / seconds:>10,.0f} rows/s  "
          f"peak RSS {peak_mib:6.1f} MiB")


def main():
    global python_skip_reason
    if not BINARY.exists():
        sys.exit(f"{BINARY} is missing: run `cargo build --profile {PROFILE}` first")
    print(f"ecomix: {BINARY} (profile {PROFILE})")
    if "real" in SCALES:
        if not REAL.is_dir():
            print(f"SKIPPED the real files: {REAL} is absent")
        else:
            national = sorted(p for p in (REAL / "rte_xls" / "national").rglob("*") if p.is_file())
            regional = sorted(p for p in (REAL / "rte_xls" / "regional").rglob("*") if p.is_file())
            print(f"ecomix, {RUNS} runs per measure, median shown")
            bench("national real-time", national)
            bench("regional (all)", regional)
            everything = national + regional + sorted(
                p for sub in ("odre", "derived") for p in (REAL / sub).rglob("*") if p.is_file()
            )
            bench_transform(everything)
            bench_job("real files (national and regional)", national + regional, JOB_RUNS)
    python_peak_gib = None
    if "history" in SCALES:
        files, daily = synthetic("history", 13)
        bench_job("synthetic full history: 14 years x 13 perimeters", files, HISTORY_RUNS,
                  daily=daily)
    if "history10" in SCALES:
        files, daily = synthetic("history10", 130)
        # At 1x the reference already peaks near 20 GiB (Polars holds every frame in memory):
        # 10x would need ten times that, more than the machine has.
        run_python = os.environ.get("PYTHON_AT_10X") == "1"
        python_skip_reason = ("it holds the whole input in memory: ~20 GiB at 1x, so ~200 GiB "
                              "at 10x; PYTHON_AT_10X=1 runs it anyway")
        bench_job("synthetic 10x: 14 years x 130 perimeters", files, HISTORY_RUNS,
                  python=run_python, daily=daily)


if __name__ == "__main__":
    main()
