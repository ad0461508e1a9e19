"""Benchmark: cataloguing a large device zip (kind ``device``) against its floor.

    python bench/device_zip.py                 # 2 GiB zip, 50,000 members (the issue's case)
    python bench/device_zip.py --quick         # 256 MiB, 6,000 members: a minute or so
    python bench/device_zip.py --size-mib 512 --members 10000
    python bench/device_zip.py --format tar    # the same members in a plain tar

What is compared (each run as its own process through bench/measure.py, so
wall time and peak RSS are measured the same way; page cache warm for all):

* floor, read:  reading the zip once, 1 MiB at a time;
* floor, hash:  hashing every member's uncompressed bytes once, SHA-256 and
  MD5 (the digests a bundle holds), with evidpack's own hasher, from memory;
* evidpack import: what the issue calls cataloguing — the device importer
  alone: copy the zip into a bundle hashing it (SHA-256, MD5), stream every
  member out of the copy (inflating, CRC-checking, hashing, running the
  artifact recognisers) and write the 50,001 item records;
* evidpack build: all of the above plus catalogue.sqlite, index.pdf and the seal;
* evidpack verify --deep: every check, and every member re-read and re-hashed.

Wall time is the figure compared; CPU time (user + system, the process and
its helper processes) is shown beside it, because on a shared machine wall
time also measures what else is running (the load average is printed too).

The target: cataloguing (import) <= 1.5 x (floor read + floor hash), with flat memory.

The zip is generated once (deterministic content: most members stored, one in
five deflated text) under bench/work/ and reused. No test depends on timing.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import shutil
import subprocess
import sys
import tarfile
import time
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
POOL = 64 << 20
STAMP = (2024, 7, 28, 7, 27, 26)


def _pools() -> tuple[bytes, bytes]:
    rng = random.Random(20240728)
    noise = rng.randbytes(POOL)
    words = [b"message", b"contact", b"wxid_", b"2024-07-28", b"image2", b"voice2", b"chatroom", b"\xe4\xbd\xa0\xe5\xa5\xbd"]
    text = b" ".join(rng.choice(words) for _ in range(POOL // 6))[:POOL]
    return noise, text


def _members(size: int, count: int) -> list[tuple[str, int, int, bool]]:
    """(name, offset in its pool, length, deflated) for every member; sizes vary
    around the mean like a file-system dump's (many small, a few large)."""
    rng = random.Random(count)
    mean = size // count
    raw = [rng.lognormvariate(0, 1.2) for _ in range(count)]
    scale = mean * count / sum(raw)
    out = []
    for i, r in enumerate(raw):
        n = min(max(1, int(r * scale)), POOL - 1)
        deflated = i % 5 == 0
        off = rng.randrange(0, POOL - n)
        app = ("com.tencent.mm", "com.android.providers", "com.example.app", "org.example.chat")[i % 4]
        out.append((f"Dump/data/data/{app}/files/d{i // 1000:03d}/f{i:06d}.bin", off, n, deflated))
    return out


def make(path: Path, size: int, count: int, fmt: str) -> None:
    """The container (``fmt`` zip or tar) with :func:`_members`, unless made
    already with the same parameters. In a zip, one member in five is
    deflated; a tar holds the same names and bytes, all stored."""
    marker = path.with_suffix(".json")
    if path.exists() and marker.exists() and json.loads(marker.read_text()) == {"size": size, "members": count}:
        return
    print(f"generating {path} ({size >> 20} MiB, {count} members) ...", file=sys.stderr)
    noise, text = _pools()
    tmp = path.with_suffix(".partial")
    members = ((name, (text if deflated else noise)[off : off + n], deflated) for name, off, n, deflated in _members(size, count))
    if fmt == "zip":
        with zipfile.ZipFile(tmp, "w", allowZip64=True) as zf:
            for name, data, deflated in members:
                info = zipfile.ZipInfo(name, STAMP)
                info.compress_type = zipfile.ZIP_DEFLATED if deflated else zipfile.ZIP_STORED
                zf.writestr(info, data, compresslevel=1)
    else:
        stamp = time.mktime((*STAMP, 0, 0, -1))
        with tarfile.open(tmp, "w", format=tarfile.PAX_FORMAT) as tf:
            for name, data, _deflated in members:
                info = tarfile.TarInfo(name)
                info.size, info.mtime, info.mode = len(data), stamp, 0o644
                tf.addfile(info, io.BytesIO(data))
    os.replace(tmp, path)
    marker.write_text(json.dumps({"size": size, "members": count}))


def floor(zip_path: str, size: int, count: int) -> None:
    """Run in its own process: print the two floor timings as JSON."""
    sys.path.insert(0, str(REPO / "src"))
    from evidpack.hashing import MultiHasher

    noise, text = _pools()
    members = _members(size, count)
    buf = bytearray(1 << 20)
    t0 = time.perf_counter()
    with open(zip_path, "rb", buffering=0) as fh:
        while fh.readinto(buf):
            pass
    read_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    total = 0
    for _name, off, n, deflated in members:
        h = MultiHasher(("sha256", "md5"))
        h.update(memoryview(text if deflated else noise)[off : off + n])
        total += h.result().size
    hash_s = time.perf_counter() - t0
    print(json.dumps({"read_s": read_s, "hash_s": hash_s, "member_bytes": total}))


def import_only(manifest: str, out: str) -> None:
    """Run in its own process: the device importer alone, into a scratch bundle folder."""
    sys.path.insert(0, str(REPO / "src"))
    from evidpack import casefile, keys
    from evidpack.build import BundleWriter
    from evidpack.importers import ImportContext, importer_for

    case = casefile.load(Path(manifest))
    key = keys.load_signing_key(REPO / "keys/demo-examiner.key", (REPO / "keys/demo-examiner.passphrase").read_text().splitlines()[0].encode())
    writer = BundleWriter(Path(out), case, key, ("sha256", "md5"), lambda m: None)
    source = case.sources[0]
    t0 = time.perf_counter()
    importer_for(source.kind).run(source, ImportContext(writer, source, False))
    writer.close()
    print(json.dumps({"import_s": time.perf_counter() - t0}))


def measure(log: Path, *argv: str) -> tuple[float, float, int, int]:
    """(wall s, CPU s of the command and its helper processes, peak RSS KiB, exit code)."""
    out = subprocess.run([sys.executable, "-I", "-S", str(HERE / "measure.py"), str(log), "--", *argv], capture_output=True, text=True, check=True)
    wall, user, system, rss, code, _own = out.stdout.split()
    return float(wall), float(user) + float(system), int(rss), int(code)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size-mib", type=int, default=2048)
    ap.add_argument("--members", type=int, default=50_000)
    ap.add_argument("--quick", action="store_true", help="256 MiB, 6,000 members")
    ap.add_argument("--format", choices=("zip", "tar"), default="zip", help="the container (default zip)")
    ap.add_argument("--work", type=Path, default=HERE / "work")
    ap.add_argument("--floor", metavar="ZIP", help=argparse.SUPPRESS)
    ap.add_argument("--import-only", nargs=2, metavar=("MANIFEST", "OUT"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.import_only:
        import_only(*args.import_only)
        return 0
    if args.quick:
        args.size_mib, args.members = 256, 6000
    size = args.size_mib << 20
    if args.floor:
        floor(args.floor, size, args.members)
        return 0
    work = args.work / "device-zip"
    work.mkdir(parents=True, exist_ok=True)
    zpath = work / f"EXTRACTION_FFS-{args.size_mib}M-{args.members}.{args.format}"
    make(zpath, size, args.members, args.format)
    zsize = zpath.stat().st_size
    manifest = work / f"case-{args.format}.toml"
    manifest.write_text(
        '[case]\nid = "BENCH-1"\ntitle = "device zip benchmark"\nagency = "bench"\nauthority = "none"\nexaminer = "bench"\n\n'
        f'[[sources]]\nkind = "device"\npath = "{zpath.name}"\nlabel = "Benchmark extraction"\n'
        '[sources.acquisition]\ntool = "bench/device_zip.py"\nby = "bench"\nat = "2024-07-28T11:27:27Z"\n'
    )
    evidpack = str(Path(sys.executable).parent / "evidpack")
    out = work / "bundle"
    shutil.rmtree(out, ignore_errors=True)
    key = ["--key", str(REPO / "keys/demo-examiner.key"), "--passphrase-file", str(REPO / "keys/demo-examiner.passphrase")]

    load_before = os.getloadavg()[0]
    floor_out = subprocess.run([sys.executable, __file__, "--floor", str(zpath), "--size-mib", str(args.size_mib), "--members", str(args.members)],
                               capture_output=True, text=True, check=True)
    fl = json.loads(floor_out.stdout)
    scratch = work / "import-only"
    shutil.rmtree(scratch, ignore_errors=True)
    _wall, imp_cpu, imp_rss, code = measure(work / "import.log", sys.executable, __file__, "--import-only", str(manifest), str(scratch))
    shutil.rmtree(scratch, ignore_errors=True)
    if code != 0:
        print((work / "import.log").read_text(), file=sys.stderr)
        return 1
    import_s = json.loads((work / "import.log").read_text().splitlines()[-1])["import_s"]
    build_s, build_cpu, build_rss, code = measure(work / "build.log", evidpack, "build", str(manifest), *key, "--out", str(out), "--time", "2026-11-22T08:00:00Z")
    if code != 0:
        print((work / "build.log").read_text(), file=sys.stderr)
        return 1
    verify_s, verify_cpu, verify_rss, code = measure(work / "verify.log", evidpack, "verify", str(out), "--trust", str(REPO / "keys/trusted"), "--deep")
    if code != 0:
        print((work / "verify.log").read_text(), file=sys.stderr)
        return 1
    items = sum(1 for _ in open(out / "evidpack/items.jsonl", "rb"))
    shutil.rmtree(out, ignore_errors=True)

    floor_s = fl["read_s"] + fl["hash_s"]
    mib = zsize / (1 << 20)
    rows = [
        (f"floor: read the {args.format} once", fl["read_s"], "", "", ""),
        ("floor: hash member bytes once (sha256+md5)", fl["hash_s"], "", "", ""),
        ("floor total", floor_s, "", "1.00x", ""),
        ("evidpack import (copy, container + member hashes)", import_s, f"{imp_cpu:.2f}", f"{import_s / floor_s:.2f}x", f"{imp_rss / 1024:.0f} MiB"),
        ("evidpack build (import, catalogue, PDF, seal)", build_s, f"{build_cpu:.2f}", f"{build_s / floor_s:.2f}x", f"{build_rss / 1024:.0f} MiB"),
        ("evidpack verify --deep", verify_s, f"{verify_cpu:.2f}", f"{verify_s / floor_s:.2f}x", f"{verify_rss / 1024:.0f} MiB"),
    ]
    print(f"\ndevice {args.format}: {mib:,.0f} MiB on disk, {args.members:,} members, {fl['member_bytes'] / (1 << 20):,.0f} MiB uncompressed; "
          f"{items:,} item records; {os.cpu_count()} CPUs, load average {load_before:.1f} before, {os.getloadavg()[0]:.1f} after; page cache warm\n")
    print(f"| {'step':<50} | {'seconds':>8} | {'CPU s':>6} | {'MiB/s':>7} | {'vs floor':>8} | {'peak RSS':>9} |")
    print(f"|{'-' * 52}|{'-' * 10}|{'-' * 8}|{'-' * 9}|{'-' * 10}|{'-' * 11}|")
    for name, secs, cpu, ratio, rss in rows:
        print(f"| {name:<50} | {secs:8.2f} | {cpu:>6} | {mib / secs:7.0f} | {ratio:>8} | {rss:>9} |")
    verdict = "meets" if import_s <= 1.5 * floor_s else "misses"
    print(f"\ncataloguing (import) / floor = {import_s / floor_s:.2f} ({verdict} the 1.5x target); whole build / floor = {build_s / floor_s:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
