"""Benchmark: rendering the PDF index of large cases.

    python bench/index_pdf.py                  # 10,000, 50,000 and 100,000 items (the issue's case: 100,000)
    python bench/index_pdf.py --items 20000    # one size

Each case is a synthetic bundle holding what the index reads (case, seal,
sources, items.jsonl, custody log, tag manifest): 40 % loose files, the rest
members of two device containers, with paths like a phone dump's (some in
Chinese, some in Arabic and Hebrew). Each render is ``evidpack index`` run as
its own process through bench/measure.py, so its wall time and peak RSS are
measured alone. The target: 100,000 items in under 60 s, with memory that does
not grow with the number of items beyond the PDF being written (reportlab holds
the document until it is saved; each page is compressed as it is finished).

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


def _line(obj: dict) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8") + b"\n"


def make_bundle(root: Path, items: int) -> None:
    """A bundle folder with every record the index reads (no payload: the index never reads it)."""
    marker = root / "evidpack/.bench"
    if marker.exists() and marker.read_text() == str(items):
        return
    from evidpack import canonical, keys
    from evidpack.custody import ChainWriter

    print(f"generating a {items:,}-item bundle in {root} ...", file=sys.stderr)
    rng = random.Random(items)
    (root / "evidpack").mkdir(parents=True, exist_ok=True)
    (root / "bagit.txt").write_bytes(b"BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n")
    files = int(items * 0.4)
    members = items - files - 2
    with open(root / "evidpack/items.jsonl", "wb") as out:
        n = 0

        def record(**fields: object) -> dict:
            nonlocal n
            n += 1
            digest = hashlib.sha256(str(n).encode()).hexdigest()
            return {"sha256": digest, "md5": hashlib.md5(digest.encode()).hexdigest(), "salt": digest[:32], **fields}

        for i in range(files):
            name = rng.choice(NAMES).format(n=i)
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
                path = f"Dump/data/data/com.tencent.mm/MicroMsg/{account}/image2/{m % 256:02x}/{rng.choice(NAMES).format(n=m)}"
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
    marker.write_text(str(items))


def render(root: Path, items: int) -> dict:
    out = WORK / f"index-{items}.pdf"
    log = WORK / f"index-{items}.log"
    cmd = [sys.executable, "-I", "-S", str(HERE / "measure.py"), str(log), "--",
           str(REPO / ".venv/bin/evidpack"), "index", str(root), "--out", str(out), "--time", TIME]
    wall, user, system, rss, code, _ = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.split()
    if int(code) != 0:
        raise SystemExit(f"evidpack index failed; see {log}")
    pages = next(int(line.split()[1]) for line in subprocess.run(["pdfinfo", str(out)], capture_output=True, text=True).stdout.splitlines() if line.startswith("Pages:"))
    return {"items": items, "seconds": float(wall), "cpu_seconds": float(user) + float(system), "peak_rss_mib": int(rss) / 1024,
            "pages": pages, "pdf_mib": out.stat().st_size / (1 << 20)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, action="append", help="item count (repeatable); default 10,000, 50,000 and 100,000")
    args = parser.parse_args()
    sizes = args.items or list(SIZES)
    WORK.mkdir(parents=True, exist_ok=True)
    load = os.getloadavg()[0]
    print(f"{'items':>9} {'seconds':>8} {'CPU s':>7} {'items/s':>8} {'peak RSS MiB':>13} {'pages':>6} {'PDF MiB':>8}  ({os.cpu_count()} CPUs, load {load:.1f})")
    for items in sizes:
        root = WORK / f"bundle-{items}"
        make_bundle(root, items)
        r = render(root, items)
        print(f"{r['items']:>9,} {r['seconds']:>8.1f} {r['cpu_seconds']:>7.1f} {r['items'] / r['seconds']:>8,.0f} {r['peak_rss_mib']:>13.0f} {r['pages']:>6,} {r['pdf_mib']:>8.1f}")
    if 100_000 in sizes:
        print("target: 100,000 items in under 60 s (wall time; CPU time is what it costs on an otherwise idle machine)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
