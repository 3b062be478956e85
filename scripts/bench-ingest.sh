#!/usr/bin/env bash
# Ingest throughput, end to end (read, sniff, decode, parse, Delta commit), on the real files of
# ../shared/data/real: the four national real-time files, then all the regional files.
# Reports MB/s of raw (decompressed) text, rows/s and peak RSS. Each set goes into a fresh lake.
set -euo pipefail
cd "$(dirname "$0")/.."
target="${CARGO_TARGET_DIR:-target}"
bin="$target/debug/ecomix"
real="../shared/data/real"
[ -x "$bin" ] || { echo "build first: cargo build" >&2; exit 2; }
[ -d "$real" ] || { echo "SKIPPED: $real is absent" >&2; exit 0; }

bench() {
  local label=$1; shift
  local lake; lake=$(mktemp -d)
  local report; report=$(mktemp)
  local timing; timing=$(mktemp)
  /usr/bin/time -f '%e %M' -o "$timing" "$bin" --lake "$lake" --json -q ingest "$@" > "$report"
  read -r seconds peak_kb < "$timing"
  python3 - "$label" "$report" "$seconds" "$peak_kb" <<'PY'
import json, sys
label, report, seconds, peak_kb = sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4])
r = json.load(open(report))
mb = r["bytes_read"] / 1e6
rows = sum(t["rows_written"] for t in r["tables"])
print(f"{label:<28} {len(r['files']):>4} files {mb:8.1f} MB {rows:>9} rows {seconds:7.2f} s "
      f"{mb / seconds:8.1f} MB/s {rows / seconds:>10.0f} rows/s  peak RSS {peak_kb / 1024:7.1f} MiB")
PY
  rm -rf "$lake" "$report" "$timing"
}

mapfile -t national < <(find "$real/rte_xls/national" -type f | sort)
mapfile -t regional < <(find "$real/rte_xls/regional" -type f | sort)
bench "national real-time (4)" "${national[@]}"
bench "regional (all)" "${regional[@]}"
