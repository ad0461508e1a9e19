"""Bytes a container holds that its listing would not show: a zip member marked
as a folder (or a FIFO, a device) that carries data, a tar member of an unknown
type that carries data, a tar link or device whose header declares data, and
zip bytes that belong to no member the central directory lists.

Each is read and hashed as the tools that extract it would give it (or, where
they disagree, said), reported, and re-derived the same way by ``verify --deep``."""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import struct
import subprocess
import tarfile
import threading
import zipfile
from pathlib import Path
from typing import Any

import pytest
from device_support import built, checks, device_case, member, members, one_line_error, verify_deep
from conftest import build_args

from evidpack.importers import containers
from evidpack.importers.containers import Member, Note, Problem, RandomReader, StreamedCopy, catalogue, read_zip_directory
from evidpack.payloadcopy import copy_file

ALGORITHMS = ("sha256", "md5")


def _catalogue(src: Path, fmt: str) -> tuple[dict[str, Member], list[Problem], list[Note]]:
    """Every event of reading ``src`` straight from the file (as ``verify --deep`` does)."""
    fd = os.open(src, os.O_RDONLY)
    try:
        return _sorted(catalogue(fmt, RandomReader.over_fd(fd), name=src.name, algorithms=ALGORITHMS))
    finally:
        os.close(fd)


def _sorted(events: Any) -> tuple[dict[str, Member], list[Problem], list[Note]]:
    found: dict[str, Member] = {}
    problems: list[Problem] = []
    notes: list[Note] = []
    for ev in events:
        if isinstance(ev, Member):
            found[ev.path] = ev
        elif isinstance(ev, Problem):
            problems.append(ev)
        elif isinstance(ev, Note):
            notes.append(ev)
    return found, problems, notes


def _from_memory(src: Path, dest: Path, shared: bool = False) -> tuple[dict[str, Member], list[Problem], list[Note]]:
    """As the device importer reads a zip: its directory from the source, its members from memory
    while it is copied (small buffers here, reused many times over)."""
    seen: list[tuple[int, bytes]] = []
    with open(src, "rb") as fh:
        directory = read_zip_directory(fh, seen)
    reader = StreamedCopy(dest, expect=seen, chunk=64 << 10, buffers=6, shared=shared)
    result: list[Any] = []

    def run() -> None:
        try:
            result.append(list(catalogue("zip", reader, name=src.name, algorithms=ALGORITHMS, zip_directory=directory)))
        finally:
            reader.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    st = os.lstat(src)
    copy_file(str(src), str(dest), (st.st_ino, st.st_dev), ALGORITHMS, tee=reader)
    reader.finish()
    thread.join(60)
    assert not thread.is_alive(), "cataloguing from memory did not finish"
    reader.release()
    return _sorted(result[0])


def _digests(data: bytes) -> dict[str, Any]:
    return {"size": len(data), "sha256": hashlib.sha256(data).hexdigest(), "md5": hashlib.md5(data).hexdigest()}


def _has(m: Member | dict[str, Any], data: bytes) -> bool:
    fields = m.fields if isinstance(m, Member) else m
    return {k: fields.get(k) for k in ("size", "sha256", "md5")} == _digests(data)


def _checks_of(m: Member) -> list[str]:
    return [check for check, _reason in m.problems]


# --- 1. zip members marked as folders or special files that carry bytes ---------------------------

SECRET = b"SECRET DATA IN A 'DIRECTORY' ENTRY\n"  # 35 bytes


def _unix(name: str, mode: int, data: bytes, compress: int = zipfile.ZIP_STORED) -> tuple[zipfile.ZipInfo, bytes, int]:
    zi = zipfile.ZipInfo(name, (2024, 7, 28, 7, 27, 26))
    zi.create_system, zi.external_attr = 3, mode << 16
    return zi, data, compress


def _odd_zip(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as zf:
        for zi, data, compress in [
            _unix("secret.txt", 0o040755, SECRET),  # no '/': its mode says folder
            _unix("dir/", 0o040755, b"bytes in a slash folder\n" * 40, zipfile.ZIP_DEFLATED),  # a folder by name too
            _unix("pipe", 0o010644, b"fifo bytes\n"),
            _unix("tty", 0o020644, b"char device bytes\n"),
            _unix("link", 0o120777, b"../../etc/passwd"),
            _unix("empty/", 0o040755, b""),  # a real folder: nothing to read
            _unix("plain.txt", 0o100644, b"plain\n"),
        ]:
            zf.writestr(zi, data, compress_type=compress)
    return path


def _extracted_by_zipfile(path: Path, name: str) -> bytes:
    with zipfile.ZipFile(path) as zf:
        return zf.read(name)


def test_zip_members_marked_as_folders_or_special_files_are_hashed_when_they_carry_bytes(tmp_path: Path) -> None:
    src = _odd_zip(tmp_path / "odd.zip")
    found, problems, notes = _catalogue(src, "zip")
    assert not problems and not notes

    secret = found["secret.txt"]
    assert secret.fields["member_type"] == "directory"  # as declared ...
    assert _has(secret, SECRET) and SECRET == _extracted_by_zipfile(src, "secret.txt")  # ... and its bytes hashed
    assert secret.fields["media_type"] == "text/plain"
    assert secret.problems == [
        ("member-type", "is marked as a folder by its Unix mode but holds 35 byte(s); unzip and Python's zipfile extract it as a file, "
                        "7-Zip as a folder; its bytes are hashed as a file's")
    ]

    slash = found["dir/"]
    data = b"bytes in a slash folder\n" * 40
    assert slash.fields["member_type"] == "directory" and _has(slash, data)
    assert _checks_of(slash) == ["member-type"]
    compressed = slash.fields["compressed_size"]
    assert slash.problems[0][1] == (
        f"is marked as a folder (its name ends in '/') but holds {len(data)} byte(s) ({compressed} compressed); "
        "unzip and Python's zipfile make an empty folder of it and drop them; its bytes are hashed as a file's"
    )

    pipe, tty = found["pipe"], found["tty"]
    assert pipe.fields["member_type"] == "fifo" and _has(pipe, b"fifo bytes\n")
    assert tty.fields["member_type"] == "char-device" and _has(tty, b"char device bytes\n")
    assert pipe.problems == [("member-type", "is marked as a FIFO by its Unix mode but holds 11 byte(s); unzip extracts it as a regular file; its bytes are hashed as a file's")]
    assert _checks_of(tty) == ["member-type"]  # not also "recorded, not read": it was read

    link = found["link"]  # a link's target is its data: hashed, and named
    assert _has(link, b"../../etc/passwd") and link.fields["link_target"] == "../../etc/passwd"
    assert _checks_of(link) == ["member-link"]

    empty = found["empty/"]  # nothing to read: as before
    assert empty.fields["size"] == 0 and "sha256" not in empty.fields and empty.problems == []
    assert _has(found["plain.txt"], b"plain\n") and found["plain.txt"].problems == []


@pytest.mark.skipif(shutil.which("unzip") is None, reason="unzip is not installed")
def test_the_bytes_hashed_are_those_unzip_extracts(tmp_path: Path) -> None:
    src = _odd_zip(tmp_path / "odd.zip")
    found, _problems, _notes = _catalogue(src, "zip")
    for name in ("secret.txt", "pipe", "tty"):
        out = subprocess.run(["unzip", "-p", str(src), name], capture_output=True, check=True).stdout
        assert _has(found[name], out), name


def test_an_empty_folder_written_as_an_empty_deflate_stream_is_recorded_as_before(tmp_path: Path) -> None:
    # Java's ZipOutputStream (and zipfile's writestr when deflating) give an empty folder 2 bytes of
    # deflate that inflate to nothing: read to see so, and recorded as an empty folder always was.
    src = tmp_path / "j.zip"
    with zipfile.ZipFile(src, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("folder/", b"")
        zi, data, _c = _unix("pipe", 0o010644, b"")
        zf.writestr(zi, data, compress_type=zipfile.ZIP_DEFLATED)
    with zipfile.ZipFile(src) as zf:
        assert [i.compress_size for i in zf.infolist()] == [2, 2]
    found, problems, notes = _catalogue(src, "zip")
    assert not problems and not notes
    folder, pipe = found["folder/"], found["pipe"]
    assert folder.fields["size"] == 0 and "sha256" not in folder.fields and "media_type" not in folder.fields and folder.problems == []
    assert "sha256" not in pipe.fields and pipe.problems == [("member-special", "is a FIFO; recorded, not read")]


def test_a_folder_whose_entry_declares_no_bytes_but_stores_some_is_read_and_said(tmp_path: Path) -> None:
    src = tmp_path / "s.zip"
    with zipfile.ZipFile(src, "w") as zf:
        zf.writestr(zipfile.ZipInfo("d/", (2024, 7, 28, 7, 27, 26)), b"hello")
    data = bytearray(src.read_bytes())
    struct.pack_into("<L", data, 22, 0)  # uncompressed size 0, in the local header ...
    struct.pack_into("<L", data, bytes(data).index(b"PK\x01\x02") + 24, 0)  # ... and in the central directory
    src.write_bytes(bytes(data))
    d = _catalogue(src, "zip")[0]["d/"]
    assert _checks_of(d) == ["member-type", "member-readable"]
    assert d.problems[0][1] == ("is marked as a folder (its name ends in '/') but holds 0 byte(s) (5 compressed); unzip and Python's zipfile "
                                "make an empty folder of it and drop them; read as a file's (see its other problems)")
    assert d.fields["declared_size"] == 0 and "sha256" in d.fields


@pytest.mark.parametrize("shared", [False, True], ids=["threads", "helper-processes"])
def test_read_from_memory_while_copied_they_come_out_as_from_the_file(tmp_path: Path, monkeypatch, shared: bool) -> None:
    # (with helper processes, small stored and deflated members are hashed there: the same records)
    monkeypatch.setattr(containers, "HELPED_MIN", 1)
    src = tmp_path / "odd.zip"
    with zipfile.ZipFile(src, "w") as zf:
        for n in range(40):
            for zi, data, compress in [
                _unix(f"s{n}/secret.txt", 0o040755, SECRET, zipfile.ZIP_DEFLATED),
                _unix(f"s{n}/dir/", 0o040755, b"x" * n),
                _unix(f"s{n}/empty/", 0o040755, b"", zipfile.ZIP_DEFLATED),
                _unix(f"s{n}/pipe", 0o010644, b"p" * n),
                _unix(f"s{n}/file", 0o100644, b"f" * n),
            ]:
                zf.writestr(zi, data, compress_type=compress)
    from_file = _catalogue(src, "zip")
    from_memory = _from_memory(src, tmp_path / "copy.zip", shared)
    assert [(m.fields, m.problems) for m in from_memory[0].values()] == [(m.fields, m.problems) for m in from_file[0].values()]
    assert from_memory[1:] == from_file[1:] == ([], [])
    assert _has(from_file[0]["s7/secret.txt"], SECRET) and _has(from_file[0]["s7/pipe"], b"p" * 7)
    assert "sha256" not in from_file[0]["s0/dir/"].fields and "sha256" not in from_file[0]["s7/empty/"].fields


def test_an_encrypted_folder_entry_with_bytes_says_both_why_and_that_it_was_not_read(tmp_path: Path) -> None:
    src = _odd_zip(tmp_path / "odd.zip")
    data = bytearray(src.read_bytes())
    for sig in (b"PK\x03\x04", b"PK\x01\x02"):  # set the encryption flag on secret.txt (the first entry), both headers
        at = bytes(data).index(sig) + (6 if sig == b"PK\x03\x04" else 8)
        data[at] |= 1
    src.write_bytes(bytes(data))
    secret = _catalogue(src, "zip")[0]["secret.txt"]
    assert "sha256" not in secret.fields and secret.fields["encrypted"] is True
    assert _checks_of(secret) == ["member-type", "member-encrypted"]
    assert secret.problems[0][1].endswith("; not read (see its other problems)")


# --- 2. tar members whose type carries data -------------------------------------------------------


def _typed(name: str, kind: bytes, data: bytes = b"", *, size: int | None = None, linkname: str = "") -> bytes:
    """One tar header (GNU format) and its data blocks; ``size`` overrides the size field."""
    ti = tarfile.TarInfo(name)
    ti.type, ti.size, ti.mtime, ti.linkname = kind, len(data), 1_700_000_000, linkname
    block = bytearray(ti.tobuf(tarfile.GNU_FORMAT))
    if size is not None:
        block[124:136] = b"%011o\x00" % size
        block[148:156] = b" " * 8
        block[148:156] = b"%06o\x00 " % sum(block[:512])
    pad = -len(data) % tarfile.BLOCKSIZE
    return bytes(block) + data + b"\x00" * pad


def _tar_bytes(*parts: bytes) -> bytes:
    return b"".join(parts) + b"\x00" * (2 * tarfile.BLOCKSIZE)


HIDDEN = b"HIDDEN EVIDENCE BYTES\n"  # 22 bytes


def test_a_tar_member_of_an_unknown_type_is_hashed_as_the_regular_file_tools_extract(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(containers, "CHUNK", 64 << 10)  # so the large one is streamed in pieces
    large = os.urandom(300_000)
    src = tmp_path / "a.tar"
    src.write_bytes(_tar_bytes(
        _typed("hidden.txt", b"Z", HIDDEN),
        _typed("large.bin", b"Q", large),
        _typed("label", b"V"),  # (a GNU volume label: no data, nothing to say)
        _typed("after.txt", tarfile.REGTYPE, b"after\n"),
    ))
    found, problems, notes = _catalogue(src, "tar")
    assert not problems and not notes
    assert list(found) == ["hidden.txt", "large.bin", "label", "after.txt"]  # the headers after them read where they are
    hidden = found["hidden.txt"]
    assert hidden.fields["member_type"] == "other (tar type b'Z')" and _has(hidden, HIDDEN)
    assert hidden.problems == [
        ("member-type", "has the tar type b'Z', which is not a standard type, and holds 22 byte(s); GNU tar and Python's tarfile "
                        "extract it as a regular file, so its bytes are hashed as a file's")
    ]
    assert _has(found["large.bin"], large) and _checks_of(found["large.bin"]) == ["member-type"]
    label = found["label"]
    assert label.fields["size"] == 0 and "sha256" not in label.fields and label.problems == []
    assert _has(found["after.txt"], b"after\n")
    with tarfile.open(src) as tf:  # Python's tarfile extracts the same bytes
        assert tf.extractfile("hidden.txt").read() == HIDDEN  # type: ignore[union-attr]


@pytest.mark.skipif(shutil.which("tar") is None, reason="GNU tar is not installed")
def test_the_bytes_hashed_are_those_gnu_tar_extracts(tmp_path: Path) -> None:
    src = tmp_path / "a.tar"
    src.write_bytes(_tar_bytes(_typed("hidden.txt", b"Z", HIDDEN)))
    out = subprocess.run(["tar", "-xOf", str(src), "hidden.txt"], capture_output=True).stdout
    assert out == HIDDEN
    assert _has(_catalogue(src, "tar")[0]["hidden.txt"], out)


def _inner() -> bytes:
    return _typed("inner.txt", tarfile.REGTYPE, b"inner\n")


@pytest.mark.parametrize(
    "kind, what",
    [(tarfile.SYMTYPE, "a symbolic link"), (tarfile.FIFOTYPE, "a FIFO"), (tarfile.CHRTYPE, "a character device"), (tarfile.BLKTYPE, "a block device")],
)
def test_a_tar_link_or_device_whose_header_declares_data_is_read_as_tarfile_does_and_said(tmp_path: Path, kind: bytes, what: str) -> None:
    # POSIX: no data follows these; tarfile reads the next header there, GNU tar skips the size.
    # What lies there (a whole member here) is catalogued, and the member says GNU tar sees otherwise.
    inner = _inner()
    src = tmp_path / "a.tar"
    src.write_bytes(_tar_bytes(_typed("thing", kind, size=len(inner), linkname="after.txt"), inner, _typed("after.txt", tarfile.REGTYPE, b"after\n")))
    found, problems, _notes = _catalogue(src, "tar")
    assert not problems
    assert list(found) == ["thing", "inner.txt", "after.txt"]
    thing = found["thing"]
    assert thing.fields["size"] == 0 and "sha256" not in thing.fields
    assert ("member-type", f"its header declares {len(inner)} byte(s) of data, which {what} does not have in a tar (POSIX): evidpack, like "
            f"Python's tarfile, reads the {len(inner)} byte(s) after its header as what follows it (members catalogued after it may lie there), "
            "but GNU tar skips them as this member's data and would not list what lies there") in thing.problems
    assert _has(found["inner.txt"], b"inner\n") and _has(found["after.txt"], b"after\n")


@pytest.mark.parametrize("kind", [tarfile.DIRTYPE, tarfile.LNKTYPE])
def test_a_tar_folder_or_hard_link_with_a_size_has_no_data_for_any_reader_and_nothing_is_said(tmp_path: Path, kind: bytes) -> None:
    # (old archivers wrote folder sizes; GNU tar and tarfile both read the next header right after)
    inner = _inner()
    src = tmp_path / "a.tar"
    src.write_bytes(_tar_bytes(_typed("thing", kind, size=len(inner), linkname="inner.txt"), inner))
    found, problems, _notes = _catalogue(src, "tar")
    assert not problems and list(found) == ["thing", "inner.txt"]
    assert found["thing"].fields["size"] == 0 and "member-type" not in _checks_of(found["thing"])
    if shutil.which("tar"):
        listed = subprocess.run(["tar", "-tf", str(src)], capture_output=True, text=True).stdout.split()
        assert [n.rstrip("/") for n in listed] == ["thing", "inner.txt"]


# --- 3. zip bytes that belong to no listed member ------------------------------------------------


def _zip_bytes(entries: list[tuple[str, bytes]], **kw: Any) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", **kw) as zf:
        for name, data in entries:
            zf.writestr(zipfile.ZipInfo(name, (2024, 7, 28, 7, 27, 26)), data)
    return buf.getvalue()


def _spliced(z: bytes, before: bytes = b"", after: dict[int, bytes] | None = None) -> bytes:
    """``z`` with ``before`` ahead of its first entry and ``after[n]`` after entry n's data (after the
    last one's: before the central directory); the directory's offsets moved to match, so the zip
    stays valid and its listing unchanged."""
    with zipfile.ZipFile(io.BytesIO(z)) as zf:
        infos, cd = zf.infolist(), zf.start_dir
    out, offsets = bytearray(before), []
    for n, info in enumerate(infos):
        end = infos[n + 1].header_offset if n + 1 < len(infos) else cd
        offsets.append(len(out))
        out += z[info.header_offset : end] + (after or {}).get(n, b"")
    central = bytearray(z[cd:])
    pos = 0
    for off in offsets:
        struct.pack_into("<L", central, pos + 42, off)
        nlen, xlen, clen = struct.unpack_from("<HHH", central, pos + 28)
        pos += 46 + nlen + xlen + clen
    struct.pack_into("<L", central, pos + 16, len(out))
    return bytes(out + central)


def _unlisted(notes: list[Note]) -> list[str]:
    return [n.reason for n in notes if n.check == "container-unlisted-data"]


def _hidden_entry() -> bytes:
    h = _zip_bytes([("hidden.txt", b"HIDDEN LOCAL ENTRY\n")])
    return h[: h.index(b"PK\x01\x02")]  # a complete local entry: header, name, data


def test_a_prepended_unlisted_entry_is_reported_with_its_name(tmp_path: Path) -> None:
    hidden = _hidden_entry()
    assert len(hidden) == 59
    src = tmp_path / "c.zip"
    src.write_bytes(hidden + _zip_bytes([("visible.txt", b"visible\n")]))
    found, problems, notes = _catalogue(src, "zip")
    assert list(found) == ["visible.txt"] and not problems and _has(found["visible.txt"], b"visible\n")
    assert notes == [
        Note(
            "container-unlisted-data",
            "warn",
            "59 byte(s) at offsets 0 to 58, before the local header of member #1 ('visible.txt'), belong to no member its central "
            "directory lists; they start with a local file header (PK\\x03\\x04), so they look like a zip entry the central directory "
            "does not list, named 'hidden.txt' (19 byte(s) of data declared); they are kept in the container but are not catalogued",
        )
    ]


def test_unlisted_bytes_between_members_and_before_the_directory_are_reported_with_offsets(tmp_path: Path) -> None:
    hidden, junk = _hidden_entry(), b"\xde\xad\xbe\xef" * 5
    z = _zip_bytes([("a.txt", b"A" * 10), ("b.txt", b"B" * 20)])
    src = tmp_path / "gaps.zip"
    src.write_bytes(_spliced(z, after={0: hidden, 1: junk}))
    with zipfile.ZipFile(src) as zf:  # (a valid zip: every listed member reads)
        assert zf.read("a.txt") == b"A" * 10 and zf.read("b.txt") == b"B" * 20 and zf.testzip() is None
        cd = zf.start_dir
    data = src.read_bytes()
    a_end, b_end = data.index(b"A" * 10) + 10, data.index(b"B" * 20) + 20
    found, problems, notes = _catalogue(src, "zip")
    assert not problems and _has(found["a.txt"], b"A" * 10) and _has(found["b.txt"], b"B" * 20)
    assert b_end + 20 == cd
    assert _unlisted(notes) == [
        f"59 byte(s) at offsets {a_end} to {a_end + 58}, between the data of member #1 ('a.txt') and the local header of member #2 ('b.txt'), "
        "belong to no member its central directory lists; they start with a local file header (PK\\x03\\x04), so they look like a zip entry "
        "the central directory does not list, named 'hidden.txt' (19 byte(s) of data declared); they are kept in the container but are not catalogued",
        f"20 byte(s) at offsets {b_end} to {cd - 1}, between the data of member #2 ('b.txt') and the central directory, belong to no member its "
        "central directory lists; they start with de ad be ef de ad be ef; they are kept in the container but are not catalogued",
    ]
    assert [n.check for n in notes] == ["container-unlisted-data"] * 2


def test_a_comment_and_bytes_after_the_end_record_are_reported(tmp_path: Path) -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("a.txt", b"a")
        zf.comment = b"made by a tool"
    z = buf.getvalue()
    eocd = z.rindex(b"PK\x05\x06")
    tail = _hidden_entry()
    src = tmp_path / "tail.zip"
    src.write_bytes(z + tail)
    found, problems, notes = _catalogue(src, "zip")
    assert list(found) == ["a.txt"] and not problems
    assert notes == [
        Note("container-comment", "warn", f"the zip has a comment of 14 byte(s) at offsets {eocd + 22} to {eocd + 35}, after its "
             "end-of-central-directory record, starting b'made by a tool'; it is kept in the container but is not a member"),
        Note("container-trailing-data", "warn", f"59 byte(s) at offsets {len(z)} to {len(z) + 58} follow the end-of-central-directory record "
             "and its comment; they start with a local file header (PK\\x03\\x04), so they look like a zip entry the central directory does "
             "not list, named 'hidden.txt' (19 byte(s) of data declared); they are kept in the container but are not a member"),
    ]


class _Unseekable(io.RawIOBase):
    """A write-only stream: zipfile then writes a data descriptor after each member."""

    def __init__(self) -> None:
        self.data = bytearray()

    def writable(self) -> bool:
        return True

    def write(self, b: Any) -> int:
        self.data += b
        return len(b)


def test_data_descriptors_and_folders_are_accounted_for_and_nothing_is_said(tmp_path: Path) -> None:
    out = _Unseekable()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("d/", b"")
        for i in range(30):
            zf.writestr(f"d/f{i}.txt", b"text %d\n" % i * (i + 1))
        with zf.open("big64", "w", force_zip64=True) as fh:  # a ZIP64 data descriptor (8-byte sizes)
            fh.write(b"z" * 1000)
        zf.writestr("empty", b"")
    data = bytes(out.data)
    assert data.count(b"PK\x07\x08") == 33  # (the folder has one too)
    src = tmp_path / "dd.zip"
    src.write_bytes(data)
    found, problems, notes = _catalogue(src, "zip")
    assert len(found) == 33 and not problems and notes == []
    assert _has(found["big64"], b"z" * 1000)


@pytest.mark.parametrize(
    "form",
    [b"PK\x07\x08" + struct.pack("<LLL", 7, 5, 9), b"PK\x07\x08" + struct.pack("<LQQ", 7, 5, 9), struct.pack("<LLL", 7, 5, 9), struct.pack("<LQQ", 7, 5, 9)],
    ids=["signed", "signed-zip64", "bare", "bare-zip64"],
)
def test_every_form_of_data_descriptor_is_recognised_by_its_sizes(form: bytes) -> None:
    assert containers._descriptor(form + b"PK\x03\x04", 5, 9) == len(form)
    assert containers._descriptor(form, 5, 10) == 0


def test_many_gaps_are_told_twenty_at_a_time_then_counted(tmp_path: Path) -> None:
    z = _zip_bytes([(f"f{i:02d}", b"x" * i) for i in range(30)])
    src = tmp_path / "many.zip"
    src.write_bytes(_spliced(z, after={n: b"\x01" for n in range(30)}))  # one byte after each member's data
    found, problems, notes = _catalogue(src, "zip")
    assert len(found) == 30 and not problems
    told = _unlisted(notes)
    assert len(told) == 21 and all(t.startswith("1 byte(s) at offsets") for t in told[:20])
    assert told[20] == ("10 more stretch(es) of bytes belong to no member its central directory lists (30 in all, 30 byte(s)); "
                        "they are kept in the container but are not catalogued")


def test_large_gaps_read_from_memory_while_copied_give_what_the_file_gives(tmp_path: Path, monkeypatch) -> None:
    # The gaps' first bytes are read while the copy is still being written, from buffers far
    # smaller than the gaps and the members: nothing waits for bytes no buffer can hold.
    monkeypatch.setattr(containers, "CHUNK", 64 << 10)
    big = os.urandom(2 << 20)
    z = _zip_bytes([("big.bin", big), ("mid.txt", b"mid"), ("last.bin", big[:300_000])])
    src = tmp_path / "gappy.zip"
    src.write_bytes(_spliced(z, before=os.urandom(1 << 20), after={0: _hidden_entry() + os.urandom(3 << 20), 2: b"\x00" * (1 << 20)}) + b"trailing")
    from_file = _catalogue(src, "zip")
    from_memory = _from_memory(src, tmp_path / "copy.zip")
    assert [(m.fields, m.problems) for m in from_memory[0].values()] == [(m.fields, m.problems) for m in from_file[0].values()]
    assert from_memory[1:] == from_file[1:]
    found, problems, notes = from_file
    assert _has(found["big.bin"], big) and not problems
    assert [n.check for n in notes] == ["container-unlisted-data"] * 3 + ["container-trailing-data"]
    assert "named 'hidden.txt'" in notes[1].reason and f"{(3 << 20) + 59} byte(s)" in notes[1].reason


def test_an_ordinary_zip_says_nothing(tmp_path: Path) -> None:
    src = tmp_path / "plain.zip"
    src.write_bytes(_zip_bytes([("a/", b""), ("a/one.txt", b"one"), ("a/two.bin", os.urandom(5000))], compression=zipfile.ZIP_DEFLATED))
    found, problems, notes = _catalogue(src, "zip")
    assert len(found) == 3 and not problems and notes == []


# --- through the CLI, and verify --deep ----------------------------------------------------------


def _evidence(root: Path) -> None:
    _odd_zip(root / "b.zip")
    (root / "a.tar").write_bytes(_tar_bytes(_typed("hidden.txt", b"Z", HIDDEN), _typed("after.txt", tarfile.REGTYPE, b"after\n")))
    (root / "c.zip").write_bytes(_hidden_entry() + _zip_bytes([("visible.txt", b"visible\n")]))


def test_through_the_cli_everything_is_hashed_reported_and_verify_deep_agrees(cli, tmp_path: Path) -> None:
    _evidence(tmp_path / "ev")
    bundle = built(cli, tmp_path, "ev", "--keep-going")
    by_container: dict[str, dict[str, dict[str, Any]]] = {}
    for m in members(bundle):
        by_container.setdefault(m["container"], {})[m["member_path"]] = m
    assert len(by_container) == 3
    secret = member(bundle, "secret.txt")
    assert secret["member_type"] == "directory" and _has(secret, _extracted_by_zipfile(tmp_path / "ev/b.zip", "secret.txt"))
    assert secret["problems"] == ["member-type: is marked as a folder by its Unix mode but holds 35 byte(s); unzip and Python's zipfile "
                                  "extract it as a file, 7-Zip as a folder; its bytes are hashed as a file's"]
    assert _has(member(bundle, "dir/"), b"bytes in a slash folder\n" * 40)
    hidden = member(bundle, "hidden.txt")
    assert hidden["member_type"] == "other (tar type b'Z')" and _has(hidden, HIDDEN) and hidden["problems"][0].startswith("member-type: has the tar type b'Z'")
    failed = [c["detail"] for c in checks(bundle, "member-type")]
    assert any("'secret.txt' is marked as a folder" in d for d in failed) and any("'hidden.txt' has the tar type b'Z'" in d for d in failed)
    assert all(c["verdict"] == "fail" for c in checks(bundle, "member-type"))
    unlisted = checks(bundle, "container-unlisted-data")
    assert len(unlisted) == 1 and unlisted[0]["verdict"] == "warn"
    assert unlisted[0]["detail"].startswith("ev/c.zip: 59 byte(s) at offsets 0 to 58, before the local header of member #1 ('visible.txt')")
    assert "named 'hidden.txt'" in unlisted[0]["detail"]
    assert all(c["verdict"] == "pass" for c in checks(bundle, "container-readable"))
    r = verify_deep(cli, bundle)
    assert r.exit_code == 0, r.output
    assert "container-members" in r.output and "3 container(s)" in r.output


def test_without_keep_going_a_folder_that_carries_bytes_stops_the_build_naming_it(cli, tmp_path: Path) -> None:
    _odd_zip(tmp_path / "ev/b.zip")
    r = cli(*build_args(device_case(tmp_path, "ev/b.zip"), tmp_path / "out/B"))
    one_line_error(r, "b.zip: member 'secret.txt' is marked as a folder by its Unix mode but holds 35 byte(s)", "--keep-going")
