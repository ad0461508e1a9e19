"""Benchmark: rendering the PDF index of large cases.

    python bench/index_pdf.py                  # 10,000, 50,000 and 100,000 items (the issue's case: 100,000)
    python bench/index_pdf.py --items 20000    # one size
    python bench/index_pdf.py --ascii          # names in plain ASCII only
    python bench/index_pdf.py --ascii --loose  # ... and every item a loose file (as a build of a folder makes them)

Each case is a synthetic bundle holding what the index reads (case, seal,
sources, items.jsonl, custody log, tag manifest): 40 % loose files, the rest
members of two device containers, with paths like a phone dump's (a third of
the names in Chinese, a third in Arabic or Hebrew, with a number after the
name, so each of those also gets its exact form; with --ascii, none; with
--loose, no members, so every path fits on one line). Each
render is run as its own process through bench/measure.py, so its wall time,
CPU time and peak RSS are measured alone, twice: as ``evidpack index`` (start-up
included), and as ``write_index`` called from a bare script, writing to the file
page by page (both stream: the peak must not grow with the case), which must
give the same bytes. The last line gives the CPU time per item past start-up
(from the smallest case to the largest). The target: 100,000 items in under 60 s.

The bundles are generated once under bench/work/index-pdf/ and reused. The
figures are a report, never an assertion. No test depends on timing.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
WORK = HERE / "work/index-pdf"
TIME = "2026-11-22T08:00:00Z"
SIZES = (10_000, 50_000, 100_000)
NAMES = ("IMG_{n:05d}.jpg", "微信图片_{n:06d}.jpg", "محادثة {n}.txt", "הודעה {n}.txt", "chat-{n:06d}.db", "voice_{n:06d}.amr")
ASCII_NAMES = ("IMG_{n:05d}.jpg", "Screenshot_{n:06d}.png", "chat-{n:06d}.db", "voice_{n:06d}.amr")
# Renders a bundle with write_index, streaming the PDF to a file (run by measure.py, so its own process).
STREAM = """
import sys
from evidpack.bundle import Bundle
from evidpack.report import write_index
from evidpack.timeutil import build_time
with Bundle.open(sys.argv[1]) as bundle, open(sys.argv[2], "wb") as out:
    write_index(bundle, out, rendered_at=build_time(sys.argv[3]))
"""


def _line(obj: dict) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8") + b"\n"


def make_bundle(root: Path, items: int, names: tuple[str, ...] = NAMES, loose: bool = False) -> None:
    """A bundle folder with every record the index reads (no payload: the index never reads it).
    With ``loose``, the two containers have no members."""
    marker = root / "evidpack/.bench"
    if marker.exists() and marker.read_text() == f"{items} {len(names)} {loose}":
        return
    from evidpack import canonical, keys
    from evidpack.custody import ChainWriter

    print(f"generating a {items:,}-item bundle in {root} ...", file=sys.stderr)
    rng = random.Random(items)
    (root / "evidpack").mkdir(parents=True, exist_ok=True)
    (root / "bagit.txt").write_bytes(b"BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n")
    files = items - 2 if loose else int(items * 0.4)
    members = items - files - 2
    with open(root / "evidpack/items.jsonl", "wb") as out:
        n = 0

        def record(**fields: object) -> dict:
            nonlocal n
            n += 1
            digest = hashlib.sha256(str(n).encode()).hexdigest()
            return {"sha256": digest, "md5": hashlib.md5(digest.encode()).hexdigest(), "salt": digest[:32], **fields}

        for i in range(files):
            name = rng.choice(names).format(n=i)
            folder = "/".join(f"d{rng.randrange(100):02d}" for _ in range(rng.randrange(1, 4)))
            out.write(_line(record(id=f"E{i + 1:04d}", kind="file", path=f"data/S01-scene/{folder}/{name}", size=rng.randrange(1, 1 << 24),
                                   mtime="2026-03-02T10:11:12Z", source="S01", media_type="image/jpeg")))
        for c in range(2):
            cid = f"E{files + c + 1:04d}"
            count = members // 2 + (members % 2 if c == 0 else 0)
            out.write(_line(record(id=cid, kind="file", path=f"data/S02-pixel-7/EXTRACTION_{c}.zip", size=1 << 33, source="S02",
                                   media_type="application/zip", container_format="zip", members=count)))
            for m in range(count):
                account = hashlib.md5(str(m % 7).encode()).hexdigest()
                path = f"Dump/data/data/com.tencent.mm/MicroMsg/{account}/image2/{m % 256:02x}/{rng.choice(names).format(n=m)}"
                out.write(_line(record(id=f"{cid}/M{m + 1:06d}", kind="member", container=cid, member_path=path, size=rng.randrange(1, 1 << 20),
                                       mtime="2024-07-28T11:27:27Z", tags=["wechat", "media"], media_type="image/jpeg")))
    key = keys.generate("Det. Bench Mark", "examiner")
    at = datetime(2026, 11, 22, 8, tzinfo=timezone.utc)
    chain = ChainWriter()
    chain.append(at, "created", key, {"case": "BENCH-1"}, {"title": "Benchmark case"})
    for sid in ("S01", "S02"):
        chain.append(at, "imported", key, {"case": "BENCH-1", "source": sid}, {"importer": "bench"})
    (root / "evidpack/custody.jsonl").write_bytes(chain.data())
    case = {"id": "BENCH-1", "title": "Benchmark case (synthetic)", "agency": "Bench", "authority": "none", "examiner": "Det. Bench Mark"}
    (root / "evidpack/case.json").write_bytes(canonical.dumps(case) + b"\n")
    sources = [
        {"id": "S01", "kind": "files", "label": "Loose files", "folder": "data/S01-scene", "checks": [], "counts": {"files": files, "items": files}, "facts": {},
         "acquisition": {"tool": "copy", "by": "Det. Bench Mark", "at": "2026-03-02T10:00:00Z", "declared": True}},
        {"id": "S02", "kind": "device", "label": "Pixel 7", "folder": "data/S02-pixel-7", "checks": [], "counts": {"files": 2, "items": members + 2},
         "acquisition": {"tool": "UFED", "by": "Det. Bench Mark", "at": "2026-03-02T10:00:00Z", "declared": True}, "facts": {}},
    ]
    (root / "evidpack/sources.jsonl").write_bytes(b"".join(canonical.dumps(s) + b"\n" for s in sources))
    seal = {"format": "evidpack/1", "case": "BENCH-1", "merkle": {"alg": "sha256-rfc6962", "leaves": items, "root": "0" * 64},
            "sealed_at": TIME, "signer": {"name": key.public.name, "role": "examiner", "fingerprint": key.public.fingerprint, "principal": key.public.principal},
            "tool": {"name": "evidpack", "version": "bench"}, "digests": ["sha256", "md5"], "payload": {"files": files + 2, "bytes": 0}}
    (root / "evidpack/seal.json").write_bytes(canonical.dumps(seal) + b"\n")
    tags = ["bagit.txt", "evidpack/case.json", "evidpack/items.jsonl", "evidpack/seal.json", "evidpack/sources.jsonl"]
    manifest = "".join(f"{hashlib.sha256((root / t).read_bytes()).hexdigest()}  {t}\n" for t in tags)
    (root / "tagmanifest-sha256.txt").write_text(manifest)
    marker.write_text(f"{items} {len(names)} {loose}")


def measure(cmd: list[str], log: Path) -> tuple[float, float, float]:
    """Wall seconds, CPU seconds and peak RSS (MiB) of one command, run alone."""
    launcher = [sys.executable, "-I", "-S", str(HERE / "measure.py"), str(log), "--"]
    wall, user, system, rss, code, _ = subprocess.run(launcher + cmd, capture_output=True, text=True, check=True).stdout.split()
    if int(code) != 0:
        raise SystemExit(f"{cmd[0]} failed; see {log}")
    return float(wall), float(user) + float(system), int(rss) / 1024


def render(root: Path, items: int, tag: str) -> dict:
    out = WORK / f"index-{tag}.pdf"
    wall, cpu, rss = measure([str(REPO / ".venv/bin/evidpack"), "index", str(root), "--out", str(out), "--time", TIME], WORK / f"index-{tag}.log")
    streamed = WORK / f"index-{tag}-streamed.pdf"
    _, _, stream_rss = measure([str(REPO / ".venv/bin/python"), "-c", STREAM, str(root), str(streamed), TIME], WORK / f"index-{tag}-streamed.log")
    if streamed.read_bytes() != out.read_bytes():
        raise SystemExit(f"{streamed} differs from {out}: write_index and evidpack index must give the same bytes")
    pages = next(int(line.split()[1]) for line in subprocess.run(["pdfinfo", str(out)], capture_output=True, text=True).stdout.splitlines() if line.startswith("Pages:"))
    return {"items": items, "seconds": wall, "cpu_seconds": cpu, "peak_rss_mib": rss, "stream_rss_mib": stream_rss, "pages": pages,
            "pdf_mib": out.stat().st_size / (1 << 20)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, action="append", help="item count (repeatable); default 10,000, 50,000 and 100,000")
    parser.add_argument("--ascii", action="store_true", help="names in plain ASCII only (else a third Chinese, a third Arabic or Hebrew)")
    parser.add_argument("--loose", action="store_true", help="every item a loose file (else 60 %% are members of containers)")
    args = parser.parse_args()
    sizes = args.items or list(SIZES)
    WORK.mkdir(parents=True, exist_ok=True)
    load = os.getloadavg()[0]
    kind = ("ascii" if args.ascii else "mixed") + ("-loose" if args.loose else "")
    print(f"{kind} ({os.cpu_count()} CPUs, load {load:.1f}); peak RSS of evidpack index, and of write_index streaming to the file")
    print(f"{'items':>9} {'seconds':>8} {'CPU s':>7} {'µs/item':>8} {'RSS MiB':>8} {'streamed':>9} {'pages':>6} {'PDF MiB':>8}")
    results = []
    for items in sizes:
        root = WORK / (f"bundle-{kind}-{items}" if kind != "mixed" else f"bundle-{items}")
        make_bundle(root, items, ASCII_NAMES if args.ascii else NAMES, args.loose)
        r = render(root, items, f"{kind}-{items}")
        results.append(r)
        print(f"{r['items']:>9,} {r['seconds']:>8.2f} {r['cpu_seconds']:>7.2f} {r['cpu_seconds'] / items * 1e6:>8.0f} {r['peak_rss_mib']:>8.0f}"
              f" {r['stream_rss_mib']:>9.0f} {r['pages']:>6,} {r['pdf_mib']:>8.1f}")
    if len(results) > 1:
        small, large = results[0], results[-1]
        per_item = (large["cpu_seconds"] - small["cpu_seconds"]) / (large["items"] - small["items"]) * 1e6
        print(f"past start-up: {per_item:.1f} µs of CPU per item (from {small['items']:,} to {large['items']:,} items)")
    if 100_000 in sizes:
        print("target: 100,000 items in under 60 s (wall time; CPU time is what it costs on an otherwise idle machine)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
