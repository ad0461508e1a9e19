"""The hashing floor: read every file once, single-threaded, and update a SHA-256
and an MD5 digest from the same buffer. No copy, no records, no signing.

    python bench/floor.py PATH...                 (a file or a folder, walked in sorted order)
    python bench/floor.py --copy-to DIR PATH...   (also write each file to DIR, from the same
                                                   buffer: the floor of a build that copies)

With --copy-to each copy is created (O_EXCL, mode 0444, like evidpack's payload)
and given the source's times, so the file-system work matches a copying build.

bench/run.py runs this as its own process so its wall time and peak RSS are
measured the same way as evidpack's and bagit-python's. Standard library only.
"""

from __future__ import annotations

import hashlib
import os
import sys

CHUNK = 1 << 20  # same chunk size as evidpack's hashing


def files_under(top: str):
    if not os.path.isdir(top):
        yield top
        return
    for dirpath, dirnames, filenames in os.walk(top):
        dirnames.sort()
        for name in sorted(filenames):
            yield os.path.join(dirpath, name)


def main(args: list[str]) -> int:
    copy_to = None
    if args[:1] == ["--copy-to"] and len(args) >= 2:
        copy_to, args = args[1], args[2:]
    paths = args
    if not paths:
        print("usage: floor.py [--copy-to DIR] PATH...", file=sys.stderr)
        return 2
    made: set[str] = set()
    buf = bytearray(CHUNK)
    view = memoryview(buf)
    files = total = 0
    combined = hashlib.sha256()  # over every file's digests, so the work cannot be skipped
    for top in paths:
        base = top if os.path.isdir(top) else os.path.dirname(top)
        for path in files_under(top):
            sha, md5 = hashlib.sha256(), hashlib.md5()
            out = -1
            with open(path, "rb", buffering=0) as fh:
                if copy_to is not None:
                    dest = os.path.join(copy_to, os.path.relpath(path, base))
                    parent = os.path.dirname(dest)
                    if parent not in made:
                        os.makedirs(parent, exist_ok=True)
                        made.add(parent)
                    out = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o444)
                while n := fh.readinto(buf):
                    chunk = view[:n]
                    sha.update(chunk)
                    md5.update(chunk)
                    if out >= 0:
                        os.write(out, chunk)
                    total += n
                if out >= 0:
                    st = os.fstat(fh.fileno())
                    os.utime(out, ns=(st.st_atime_ns, st.st_mtime_ns))
                    os.close(out)
            combined.update(sha.digest() + md5.digest())
            files += 1
    print(f"{files} files, {total} bytes, sha256 of digests {combined.hexdigest()}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
