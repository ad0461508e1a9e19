"""Disclosure packages: what goes in, what never does, and every check the defence can run."""

from __future__ import annotations

import hashlib
import io
import json
import re
import shutil
import struct
import tarfile
import zipfile
from pathlib import Path
from typing import Any

import pyzipper
import pytest
from conftest import DEMO_KEY, DEMO_PASS, TRUSTED, build_args, manifest_text, run_cli, run_proc, tool, write_tree

from evidpack import importers
from evidpack.importers.files import FilesImporter

PASSWORD = "correct horse battery staple"
DEMO = ["--key", DEMO_KEY, "--passphrase-file", DEMO_PASS]
SECRET_NAMES = ("zz-informant-statement.txt", "privileged-advice-QX7.txt", "undisclosed-chat.db")


# --- a case with two sources, tags, and containers whose members are catalogued -----------


def _zip_bytes(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def _tar_bytes(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        for name, data in members.items():
            ti = tarfile.TarInfo(name)
            ti.size, ti.mtime = len(data), 1_700_000_000
            tf.addfile(ti, io.BytesIO(data))
    return buf.getvalue()


def _digests(data: bytes) -> dict[str, Any]:
    return {"size": len(data), "sha256": hashlib.sha256(data).hexdigest(), "md5": hashlib.md5(data).hexdigest()}


class _CataloguingContext:
    """Wraps an ImportContext: tags privileged files and catalogues the members of
    zip and tar payload files as member records, as the device importer does."""

    def __init__(self, ctx: Any) -> None:
        self._ctx = ctx

    def __getattr__(self, name: str) -> Any:
        return getattr(self._ctx, name)

    def emit(self, record: dict[str, Any]) -> dict[str, Any]:
        if "privileged" in str(record.get("path", "")):
            record["tags"] = ["privileged"]
        out = self._ctx.emit(record)
        path = self._ctx.writer.root / str(out.get("path", ""))
        if out.get("kind") == "file" and path.suffix in (".zip", ".tar"):
            self._members(out, path)
        return out

    def _members(self, container: dict[str, Any], path: Path) -> None:
        found: list[tuple[str, bytes, dict[str, Any]]] = []
        if path.suffix == ".zip":
            with zipfile.ZipFile(path) as zf:
                found = [(i.filename, zf.read(i), {}) for i in zf.infolist() if not i.is_dir()]
        else:
            with tarfile.open(path) as tf:
                for n, ti in enumerate(tf.getmembers(), 1):
                    fh = tf.extractfile(ti)
                    if ti.isfile() and fh is not None:
                        found.append((ti.name, fh.read(), {"member_index": n}))
        for name, data, extra in found:
            rec = {"kind": "member", "container": container["id"], "member_path": name, **_digests(data), **extra}
            if "privileged" in name:
                rec["tags"] = ["privileged"]
            self._ctx.emit(rec)


class CataloguingImporter(FilesImporter):
    def run(self, source: Any, ctx: Any) -> None:
        super().run(source, _CataloguingContext(ctx))


PHONE_ZIP = {
    "Dump/data/com.tencent.mm/EnMicroMsg.db": b"SQLite format 3\x00" + b"w" * 300,
    "Dump/secret/undisclosed-chat.db": b"SQLite format 3\x00" + b"s" * 4321,
    "Dump/dup.txt": b"first copy\n",
    "Dump/privileged/counsel.txt": b"privileged note\n",
}
LOGS_TAR = {"logs/app.log": b"log line\n" * 20, "logs/zz-informant-statement.txt": b"x" * 5555}


@pytest.fixture
def mbundle(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Two sources: S01 loose files (one privileged, one secret), S02 a phone zip and a log tar."""
    monkeypatch.setitem(importers.IMPORTERS, "files", CataloguingImporter)
    write_tree(tmp_path / "s1", {
        "ledger.csv": "date,amount\n2026-02-11,4500.00\n",
        "notes/field-notes.txt": "Seized handset at 09:55 UTC (synthetic).\n",
        "zz-informant-statement.txt": "informant X said Y\n" * 50,
        "privileged-advice-QX7.txt": "legal advice\n" * 77,
        "小龙🐉 transcript.txt": "Nickname: 小龙🐉\n",
    })
    # a second member with the same name (zip allows it): each has its own record
    buf = io.BytesIO(_zip_bytes(PHONE_ZIP))
    with zipfile.ZipFile(buf, "a") as zf, pytest.warns(UserWarning):
        zf.writestr("Dump/dup.txt", b"second copy, different\n")
    write_tree(tmp_path / "s2", {"phone.zip": buf.getvalue(), "logs.tar": _tar_bytes(LOGS_TAR)})
    manifest = tmp_path / "case.toml"
    manifest.write_text(
        '[case]\nid = "TC-0002"\ntitle = "Disclosure test (synthetic)"\nagency = "Test Agency"\n'
        'authority = "Warrant T-2"\nexaminer = "Det. Test"\n'
        + "".join(
            f'\n[[sources]]\nkind = "files"\npath = "{p}"\nlabel = "{label}"\n'
            '[sources.acquisition]\ntool = "Manual copy"\nby = "Det. Test"\nat = "2026-03-02T10:00:00Z"\n'
            for p, label in (("s1", "Loose files"), ("s2", "Handset extraction"))
        ),
        "utf-8",
    )
    out = tmp_path / "bundles/TC-0002"
    r = run_cli(*build_args(manifest, out))
    assert r.exit_code == 0, r.output
    return out


def records(bundle: Path) -> dict[str, dict[str, Any]]:
    lines = (bundle / "evidpack/items.jsonl").read_text("utf-8").splitlines()
    return {json.loads(line)["id"]: json.loads(line) for line in lines}


def by_name(bundle: Path, name: str) -> str:
    return next(i for i, r in records(bundle).items() if str(r.get("path") or r.get("member_path")).endswith(name))


def custody_lines(bundle: Path) -> list[str]:
    return (bundle / "evidpack/custody.jsonl").read_text("utf-8").splitlines()


def pwfile(tmp_path: Path, text: str = PASSWORD) -> Path:
    p = tmp_path / f"pw-{abs(hash(text))}"
    p.write_text(text + "\n")
    return p


def disclose(cli, bundle: Path, out: Path, *args: str | Path, password: str | None = PASSWORD):
    pw = ["--plain"] if password is None else ["--password-file", pwfile(out.parent, password)]
    return cli("disclose", bundle, *args, *DEMO, *pw, "--out", out)


def read_package(pkg: Path, password: str | None = PASSWORD) -> dict[str, bytes]:
    with pyzipper.AESZipFile(pkg) as zf:
        if password:
            zf.setpassword(password.encode())
        return {i.filename.split("/", 1)[1]: zf.read(i) for i in zf.infolist() if not i.is_dir()}


def verify(cli, pkg: Path, *extra: str | Path, password: str | None = PASSWORD):
    pw = ["--password-file", pwfile(pkg.parent, password)] if password else []
    return cli("verify", pkg, *pw, *extra)


def extract(pkg: Path, dest: Path, password: str | None = PASSWORD) -> Path:
    for name, data in read_package(pkg, password).items():
        (dest / name).parent.mkdir(parents=True, exist_ok=True)
        (dest / name).write_bytes(data)
    return dest


@pytest.fixture
def package(cli, mbundle: Path, tmp_path: Path) -> Path:
    """S02 minus the privileged members and the tar's secret, plus two files of S01."""
    out = tmp_path / "out/TC-0002-disclosure-01.zip"
    out.parent.mkdir()
    r = disclose(cli, mbundle, out, "--include", "S02/*", "--include", "ledger.csv", "--include", "notes/*",
                 "--exclude-tag", "privileged", "--exclude", "*zz-informant*", "--exclude", "Dump/secret/*",
                 "--to", "Defence counsel for J. Doe")
    assert r.exit_code == 0, r.output
    return out


# --- selection -------------------------------------------------------------------------


def test_dry_run_prints_the_selection_and_its_size_and_writes_nothing(cli, mbundle: Path, tmp_path: Path) -> None:
    before = custody_lines(mbundle)
    out = tmp_path / "pkg.zip"
    r = cli("disclose", mbundle, "--include", "S01", "--exclude-tag", "privileged", "--dry-run", "--out", out)
    assert r.exit_code == 0, r.output
    recs = records(mbundle)
    s01 = [i for i, rec in recs.items() if rec["source"] == "S01" and "privileged" not in rec.get("tags", [])]
    for i in s01:
        assert i in r.output
    assert f"excluded: {by_name(mbundle, 'privileged-advice-QX7.txt')} (--exclude-tag privileged)" in r.output
    total = sum(recs[i]["size"] for i in s01)
    assert f"total: {len(s01)} item(s), {len(s01)} file(s)" in r.output and f"({total} bytes)" in r.output
    assert "dry run: nothing written" in r.output
    assert not out.exists() and custody_lines(mbundle) == before


def test_selection_by_id_member_source_glob_and_tag(mbundle: Path) -> None:
    from evidpack.disclose import plan

    chat = by_name(mbundle, "EnMicroMsg.db")
    assert plan(mbundle, include=[chat]).ids == [chat]
    container = chat.split("/")[0]
    members = plan(mbundle, include=[f"{container}/*"]).ids
    assert chat in members and container not in members and all(m.startswith(container + "/") for m in members)
    assert {records(mbundle)[i]["source"] for i in plan(mbundle, include=["S02"]).ids} == {"S02"}
    assert plan(mbundle, include=["*.csv"]).ids == [by_name(mbundle, "ledger.csv")]
    privileged = plan(mbundle, include=["tag:privileged"]).ids
    assert sorted(privileged) == sorted(i for i, r in records(mbundle).items() if "privileged" in r.get("tags", []))
    assert plan(mbundle, include_tags=["privileged"]).ids == privileged


def test_exclusion_wins_over_an_explicit_include(mbundle: Path) -> None:
    from evidpack.disclose import plan

    memo = by_name(mbundle, "privileged-advice-QX7.txt")
    p = plan(mbundle, include=[memo, "ledger.csv"], exclude_tags=["privileged"])
    assert memo not in p.ids and any(memo in x for x in p.excluded)


def test_a_misspelt_exclude_tag_is_warned_about(cli, mbundle: Path) -> None:
    r = cli("disclose", mbundle, "--include", "S01", "--exclude-tag", "privilged", "--dry-run")
    assert r.exit_code == 0
    assert "warning: --exclude-tag privilged: no item in the bundle has this tag" in r.output


@pytest.mark.parametrize(
    "args, message",
    [
        (["--include", "*.nothing"], "--include *.nothing: matches no item"),
        (["--include", "E0999"], "--include E0999: no such exhibit"),
        (["--include", "S09/*"], "--include S09/*: no source S09"),
        (["--include-tag", "nosuchtag"], "--include-tag nosuchtag: matches no item"),
        (["--include", "ledger.csv", "--exclude", "*.csv"], "the selection is empty"),
        (["--include", "ledger.csv", "--redact", "E0002=x.pdf", "--reason", "r"], "E0002 is not selected for disclosure"),
        (["--include", "ledger.csv", "--redact", "E0999=x.pdf", "--reason", "r"], "--redact E0999: no such exhibit"),
        (["--include", "E0001", "--redact", "E0001=x.pdf"], "each --redact needs a --reason"),
        (["--include", "E0001", "--redact", "E0001"], "expected EXHIBIT=PATH"),
        (["--include", "E0001", "--redact", "E0001=nonexistent.pdf", "--reason", "r"], "nonexistent.pdf: no such file"),
        ([], "nothing selected"),
    ],
)
def test_bad_selections_are_one_line_exit_2_and_leave_nothing(cli, mbundle: Path, tmp_path: Path, args: list[str], message: str) -> None:
    before = custody_lines(mbundle)
    out = tmp_path / "pkg.zip"
    r = disclose(cli, mbundle, out, *args)
    assert r.exit_code == 2, r.output
    assert message in r.output and "Traceback" not in r.output
    assert len(r.stderr.strip().splitlines()) == 1
    assert not out.exists() and not list(tmp_path.glob(".pkg.zip*"))
    assert custody_lines(mbundle) == before


def test_the_discloser_may_not_name_an_undisclosed_item(cli, mbundle: Path, tmp_path: Path) -> None:
    r = disclose(cli, mbundle, tmp_path / "p.zip", "--include", "ledger.csv", "--note", "see also zz-informant-statement.txt")
    assert r.exit_code == 2
    assert "names or identifies undisclosed item" in r.output


# --- the package -----------------------------------------------------------------------


def test_package_holds_files_records_proofs_master_seal_custody_statement_and_schedule(mbundle: Path, package: Path) -> None:
    members = read_package(package)
    statement = json.loads(members["disclosure.json"])
    ids = [i["id"] for i in statement["items"]]
    chat = by_name(mbundle, "EnMicroMsg.db")
    assert chat in ids
    for rel in ("tagmanifest-sha256.txt", "tagmanifest-sha256.txt.sig", "tagmanifest-sha256.txt.sshsig",
                "evidpack/seal.json", "evidpack/signer.pem"):
        assert members[f"master/{rel}"] == (mbundle / rel).read_bytes()
    for rel in ("disclosure.json.sig", "disclosure.json.sshsig", "discloser.pem", "custody.jsonl", "README.txt"):
        assert rel in members
    assert members["schedule.pdf"].startswith(b"%PDF-")
    # a member comes out of its container byte for byte
    assert members[f"files/{chat.replace('/', '_')}/EnMicroMsg.db"] == PHONE_ZIP["Dump/data/com.tencent.mm/EnMicroMsg.db"]
    lines = {json.loads(line)["id"]: line for line in (mbundle / "evidpack/items.jsonl").read_text("utf-8").splitlines()}
    for i in ids:
        proof = json.loads(members[f"items/{i.replace('/', '_')}.proof.json"])
        assert proof["record"] == lines[i]  # the exact sealed line
        assert set(proof["inclusion"]) >= {"leaf_index", "tree_size", "audit_path"}
    assert statement["recipient"] == "Defence counsel for J. Doe"
    assert statement["master"]["tagmanifest_sha256"] == hashlib.sha256((mbundle / "tagmanifest-sha256.txt").read_bytes()).hexdigest()


def test_duplicate_member_names_each_come_out_as_their_own_bytes(cli, mbundle: Path, tmp_path: Path) -> None:
    dups = [i for i, r in records(mbundle).items() if r.get("member_path") == "Dump/dup.txt"]
    assert len(dups) == 2
    out = tmp_path / "dups.zip"
    assert disclose(cli, mbundle, out, *sum((["--include", d] for d in dups), [])).exit_code == 0
    members = read_package(out)
    got = {members[f"files/{d.replace('/', '_')}/dup.txt"] for d in dups}
    assert got == {b"first copy\n", b"second copy, different\n"}
    assert verify(cli, out, "--trust", TRUSTED).exit_code == 0


def test_tar_members_are_streamed_out_of_the_tar(cli, mbundle: Path, tmp_path: Path) -> None:
    log = by_name(mbundle, "logs/app.log")
    out = tmp_path / "tar.zip"
    r = disclose(cli, mbundle, out, "--include", log)
    assert r.exit_code == 0, r.output
    assert read_package(out)[f"files/{log.replace('/', '_')}/app.log"] == LOGS_TAR["logs/app.log"]
    assert verify(cli, out, "--trust", TRUSTED).exit_code == 0


def test_verify_with_trust_is_0_and_names_every_check(cli, package: Path) -> None:
    r = verify(cli, package, "--trust", TRUSTED)
    assert r.exit_code == 0, r.output
    for check in ("package", "disclosure-signature", "discloser-trusted", "signature", "signer-trusted", "seal",
                  "disclosure", "inclusion-proofs", "files", "custody", "custody-signers"):
        assert f"PASS      {check}" in r.output, check
    assert "VERIFIED:" in r.output and "AES-256 encrypted" in r.output


def test_verify_without_trust_is_3_and_never_says_verified(cli, package: Path) -> None:
    r = verify(cli, package)
    assert r.exit_code == 3, r.output
    assert "VERIFIED" not in r.output.replace("NOT VERIFIED", "")


def test_a_discloser_the_verifier_does_not_trust_gives_3(cli, mbundle: Path, tmp_path: Path, other_key) -> None:
    key, pub, passphrase = other_key
    pp = tmp_path / "other.pp"
    pp.write_bytes(passphrase + b"\n")
    out = tmp_path / "by-other.zip"
    r = cli("disclose", mbundle, "--include", "ledger.csv", "--key", key, "--passphrase-file", pp, "--plain", "--out", out)
    assert r.exit_code == 0, r.output
    r = cli("verify", out, "--trust", TRUSTED)
    assert r.exit_code == 3 and "UNTRUSTED discloser-trusted" in r.output
    assert cli("verify", out, "--trust", TRUSTED, "--trust", pub).exit_code == 0


def test_the_disclosed_event_ends_the_package_log_and_is_appended_to_the_master(cli, mbundle: Path, tmp_path: Path) -> None:
    before = custody_lines(mbundle)
    out = tmp_path / "p.zip"
    r = disclose(cli, mbundle, out, "--include", "ledger.csv", "--to", "Defence")
    assert r.exit_code == 0, r.output
    after = custody_lines(mbundle)
    assert after[:-1] == before
    event = json.loads(after[-1])
    assert event["action"] == "disclosed" and event["details"]["items"] == [by_name(mbundle, "ledger.csv")]
    head = hashlib.sha256(after[-1].encode()).hexdigest()
    assert f"custody head:  {head}" in r.output
    package = read_package(out)
    log = package["custody.jsonl"].decode().splitlines()
    assert log[-1] == after[-1] and len(log) == len(after)
    # The package says it was made when its event says, to the whole second as every event time.
    made_at = json.loads(package["disclosure.json"])["made_at"]
    assert made_at == event["at"] and len(made_at) == len("2026-11-23T09:14:02Z") and made_at.endswith("Z")
    assert cli("verify", mbundle, "--trust", TRUSTED).exit_code == 0  # the master still verifies
    assert verify(cli, out, "--trust", TRUSTED, "--expect-head", head).exit_code == 0


def test_plain_package_without_a_password(cli, mbundle: Path, tmp_path: Path) -> None:
    out = tmp_path / "plain.zip"
    assert disclose(cli, mbundle, out, "--include", "ledger.csv", password=None).exit_code == 0
    with zipfile.ZipFile(out) as zf:
        assert not any(i.flag_bits & 1 for i in zf.infolist())
        assert zf.testzip() is None
    r = verify(cli, out, "--trust", TRUSTED, password=None)
    assert r.exit_code == 0 and "(not encrypted)" in r.output


def test_a_password_is_required_unless_plain(cli, mbundle: Path, tmp_path: Path) -> None:
    r = cli("disclose", mbundle, "--include", "ledger.csv", *DEMO, "--out", tmp_path / "p.zip")
    assert r.exit_code == 2 and "--password-file" in r.output
    r = cli("disclose", mbundle, "--include", "ledger.csv", *DEMO, "--out", tmp_path / "p.zip",
            env={"EVIDPACK_DISCLOSURE_PASSWORD": PASSWORD})
    assert r.exit_code == 0, r.output
    assert verify(cli, tmp_path / "p.zip", "--trust", TRUSTED).exit_code == 0


def test_aes_package_opens_with_7zip_and_a_wrong_password_fails(package: Path) -> None:
    ok = run_proc(tool("7z"), "t", f"-p{PASSWORD}", package)
    assert ok.returncode == 0, ok.stdout.decode()[-2000:]
    assert b"Everything is Ok" in ok.stdout
    assert run_proc(tool("7z"), "t", "-pwrong-password", package).returncode != 0
    listing = run_proc(tool("7z"), "l", "-slt", f"-p{PASSWORD}", package).stdout.decode()
    assert "Method = AES-256" in listing


def test_wrong_password_is_one_line_exit_2(cli, package: Path) -> None:
    r = verify(cli, package, "--trust", TRUSTED, password="not the password")
    assert r.exit_code == 2 and "wrong password" in r.output and "Traceback" not in r.output


def test_truncated_package_is_one_line_exit_2(cli, package: Path) -> None:
    data = package.read_bytes()
    package.write_bytes(data[: len(data) // 2])
    r = verify(cli, package, "--trust", TRUSTED)
    assert r.exit_code == 2 and "Traceback" not in r.output
    assert len(r.stderr.strip().splitlines()) == 1


def test_a_byte_changed_inside_the_encrypted_zip_is_an_integrity_failure(cli, mbundle: Path, package: Path) -> None:
    chat = by_name(mbundle, "EnMicroMsg.db")
    with zipfile.ZipFile(package) as zf:
        info = next(i for i in zf.infolist() if i.filename.endswith("/EnMicroMsg.db"))
    data = bytearray(package.read_bytes())
    nlen, xlen = struct.unpack_from("<HH", data, info.header_offset + 26)
    data[info.header_offset + 30 + nlen + xlen + 40] ^= 1
    package.write_bytes(bytes(data))
    r = verify(cli, package, "--trust", TRUSTED)
    assert r.exit_code == 1, r.output
    assert "FAIL      files" in r.output and chat.replace("/", "_") in r.output


# --- tampering, each named -------------------------------------------------------------


@pytest.fixture
def unpacked(package: Path, tmp_path: Path) -> Path:
    """The package extracted (e.g. with 7-Zip): verify reads a folder too."""
    return extract(package, tmp_path / "unpacked")


def _first_file(unpacked: Path) -> Path:
    return sorted(p for p in (unpacked / "files").rglob("*") if p.is_file())[0]


def test_the_extracted_folder_verifies(cli, unpacked: Path) -> None:
    assert cli("verify", unpacked, "--trust", TRUSTED).exit_code == 0


@pytest.mark.parametrize(
    "tamper, check",
    [
        (lambda d: _first_file(d).write_bytes(_first_file(d).read_bytes() + b"x"), "files"),
        (lambda d: _edit_json(sorted((d / "items").iterdir())[0], ("inclusion", "audit_path", 0), "0" * 64, folder="items"), "inclusion-proofs"),
        (lambda d: _edit_json(sorted((d / "items").iterdir())[0], ("record",), None, folder="items"), "inclusion-proofs"),
        (lambda d: (d / "master/evidpack/seal.json").write_bytes((d / "master/evidpack/seal.json").read_bytes().replace(b'"leaves":', b'"leaves": ')), "seal"),
        (lambda d: _flip(d / "master/tagmanifest-sha256.txt.sig"), "signature"),
        (lambda d: (d / "master/tagmanifest-sha256.txt").write_bytes((d / "master/tagmanifest-sha256.txt").read_bytes() + b"\n"), "signature"),
        (lambda d: (d / "disclosure.json").write_bytes((d / "disclosure.json").read_bytes().replace(b"Defence counsel", b"Defence kounsel")), "disclosure-signature"),
        (lambda d: (d / "custody.jsonl").write_text("".join((d / "custody.jsonl").read_text().splitlines(True)[1:])), "custody"),
        (lambda d: (d / "schedule.pdf").write_bytes((d / "schedule.pdf").read_bytes() + b"%"), "disclosure"),
        (lambda d: (d / "files/extra.txt").write_text("planted"), "package"),
    ],
    ids=["file", "audit-path-node", "record", "seal", "signature", "tag-manifest", "statement", "custody-cut", "schedule", "extra-file"],
)
def test_each_tampering_is_detected_and_named(cli, unpacked: Path, tamper, check: str) -> None:
    tamper(unpacked)
    r = cli("verify", unpacked, "--trust", TRUSTED)
    assert r.exit_code == 1, r.output
    assert f"FAIL      {check}" in r.output, r.output


def _flip(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[5] ^= 1
    path.write_bytes(bytes(data))


def _edit_json(path: Path, keys: tuple[Any, ...], value: Any, folder: str = "") -> None:
    obj = json.loads(path.read_text())
    target = obj
    for k in keys[:-1]:
        target = target[k]
    if value is None:  # alter the record: one digit of its size
        rec = json.loads(target[keys[-1]])
        rec["size"] += 1
        target[keys[-1]] = json.dumps(rec, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    else:
        target[keys[-1]] = value
    path.write_text(json.dumps(obj))


def test_a_withheld_event_whose_hash_is_altered_breaks_the_chain(cli, unpacked: Path) -> None:
    lines = (unpacked / "custody.jsonl").read_text().splitlines(True)
    # the last of a run of withheld events: the next visible event's signed prev binds its hash
    n = next(i for i, line in enumerate(lines) if '"withheld"' in line and '"withheld"' not in lines[i + 1])
    stub = json.loads(lines[n])
    stub["withheld"] = "f" * 64
    lines[n] = json.dumps(stub, separators=(",", ":"), sort_keys=True) + "\n"
    (unpacked / "custody.jsonl").write_text("".join(lines))
    r = cli("verify", unpacked, "--trust", TRUSTED)
    assert r.exit_code == 1 and "FAIL      custody" in r.output


def test_a_proof_from_another_bundle_is_a_clear_failure(cli, unpacked: Path, bundle: Path, tmp_path: Path) -> None:
    other = tmp_path / "other.proof.json"
    assert cli("proof", bundle, "E0001", "--out", other).exit_code == 0
    victim = sorted((unpacked / "items").iterdir())[0]
    foreign = json.loads(other.read_text())
    foreign.pop("master")
    foreign["id"] = json.loads(victim.read_text())["id"]
    victim.write_text(json.dumps(foreign))
    r = cli("verify", unpacked, "--trust", TRUSTED)
    assert r.exit_code == 1 and "FAIL      inclusion-proofs" in r.output


# --- redactions --------------------------------------------------------------------------


def test_a_redaction_is_reported_as_a_redaction_never_as_a_verified_original(cli, mbundle: Path, tmp_path: Path) -> None:
    notes = by_name(mbundle, "notes/field-notes.txt")
    red = tmp_path / "redacted-notes.txt"
    red.write_text("Seized handset at [REDACTED].\n")
    out = tmp_path / "red.zip"
    r = disclose(cli, mbundle, out, "--include", "ledger.csv", "--include", notes,
                 "--redact", f"{notes}={red}", "--reason", "time of seizure redacted")
    assert r.exit_code == 0, r.output
    assert "REDACTED" in r.output
    members = read_package(out)
    assert members[f"redactions/{notes}/redacted-notes.txt"] == red.read_bytes()
    assert not any(n.startswith(f"files/{notes}/") for n in members)  # the original is not disclosed
    v = verify(cli, out, "--trust", TRUSTED)
    assert v.exit_code == 0, v.output
    line = next(x for x in v.output.splitlines() if f"redaction {notes}" in x)
    assert line.strip().startswith("WARN") and "REDACTED DERIVATIVE, not the sealed original" in line
    assert f"derived from sealed item {notes}" in line and "time of seizure redacted" in line
    assert "1 disclosed file(s)" in v.output and "attested by the discloser only, not sealed originals" in v.output
    # a redaction swapped for other bytes is caught
    d = extract(out, tmp_path / "red-unpacked")
    (d / f"redactions/{notes}/redacted-notes.txt").write_text("something else\n")
    v = cli("verify", d, "--trust", TRUSTED)
    assert v.exit_code == 1 and f"FAIL      redaction {notes}" in v.output


# --- nothing about undisclosed items leaks -------------------------------------------------


def _identifiers(rec: dict[str, Any]) -> list[str]:
    """Regular expressions for everything that would identify an item: names, digests, salt, size."""
    out = []
    for key in ("path", "original_path", "member_path"):
        if rec.get(key):
            out += [re.escape(rec[key]), re.escape(rec[key].rsplit("/", 1)[-1])]
    out += [rec[a] for a in ("sha256", "md5", "salt") if rec.get(a)]
    size = rec.get("size")
    if size is not None:
        out += [rf'"size": ?{size}\b', rf"(?<![\d,.]){size} bytes", rf"(?<![\d,.]){size:,} bytes"]
    return out


def _package_text(pkg: Path, tmp_path: Path, password: str | None = PASSWORD) -> dict[str, bytes]:
    """Every member decompressed, the schedule's text, and the raw zip (names are not encrypted)."""
    members = read_package(pkg, password)
    pdf = tmp_path / "schedule.pdf"
    pdf.write_bytes(members["schedule.pdf"])
    text = run_proc(tool("pdftotext"), "-layout", pdf, "-")
    assert text.returncode == 0
    return {**members, "schedule.pdf (text)": text.stdout, "(zip file)": pkg.read_bytes()}


def test_nothing_about_an_undisclosed_item_leaks(cli, mbundle: Path, package: Path, tmp_path: Path) -> None:
    disclosed = {i["id"] for i in json.loads(read_package(package)["disclosure.json"])["items"]}
    recs = records(mbundle)
    # the members of a container that goes out whole are in it, names and bytes
    disclosed |= {i for i, r in recs.items() if r.get("container") in disclosed}
    undisclosed = {i: r for i, r in recs.items() if i not in disclosed}
    assert {by_name(mbundle, n) for n in SECRET_NAMES} <= set(undisclosed)
    everything = _package_text(package, tmp_path)
    shown = {n for i in disclosed for n in _identifiers(recs[i])}
    searched = 0
    for rid, rec in undisclosed.items():
        for needle in _identifiers(rec):
            if needle in shown:
                continue  # e.g. the same size as a disclosed file
            searched += 1
            for member, data in everything.items():
                assert not re.search(needle.encode(), data), f"{rid}: {needle!r} appears in {member}"
    assert searched > 6 * len(undisclosed)


def test_custody_events_that_would_describe_undisclosed_items_are_withheld(cli, mbundle: Path, tmp_path: Path) -> None:
    # a post-seal note naming an undisclosed file, and one that names nothing
    assert cli("custody", "add", mbundle, "--action", "accessed", *DEMO, "--note", "opened zz-informant-statement.txt").exit_code == 0
    assert cli("custody", "add", mbundle, "--action", "transferred", *DEMO, "--to", "ADA M. Park").exit_code == 0
    out = tmp_path / "p.zip"
    assert disclose(cli, mbundle, out, "--include", "ledger.csv").exit_code == 0
    log = [json.loads(x) for x in read_package(out)["custody.jsonl"].decode().splitlines()]
    shown = {e["action"] for e in log if "action" in e}
    withheld = {e["seq"]: e["why"] for e in log if "withheld" in e}
    full = custody_lines(mbundle)
    accessed = next(i + 1 for i, x in enumerate(full) if '"accessed"' in x)
    assert withheld[accessed] == "names or identifies an undisclosed item"
    assert {"created", "acquired", "sealed", "transferred", "disclosed"} <= shown
    assert "imported" not in shown and "source-verified" not in shown  # no source is wholly disclosed
    assert all(w == "build event about a source not wholly disclosed" for s, w in withheld.items() if s != accessed)
    r = verify(cli, out, "--trust", TRUSTED)
    assert r.exit_code == 0 and "withheld by the discloser as line hashes only" in r.output
    assert b"zz-informant" not in b"".join(_package_text(out, tmp_path).values())


def test_a_wholly_disclosed_source_keeps_its_build_events(cli, mbundle: Path, tmp_path: Path) -> None:
    out = tmp_path / "p.zip"
    assert disclose(cli, mbundle, out, "--include", "S01").exit_code == 0
    log = [json.loads(x) for x in read_package(out)["custody.jsonl"].decode().splitlines()]
    s01 = [e for e in log if (e.get("subject") or {}).get("source") == "S01"]
    assert {e["action"] for e in s01} >= {"acquired", "imported", "source-verified"}
    assert not any((e.get("subject") or {}).get("source") == "S02" for e in log)


def test_the_discloser_can_withhold_an_event_but_never_the_seal(cli, mbundle: Path, tmp_path: Path) -> None:
    assert cli("custody", "add", mbundle, "--action", "note", *DEMO, "--note", "internal").exit_code == 0
    seq = len(custody_lines(mbundle))
    out = tmp_path / "p.zip"
    assert disclose(cli, mbundle, out, "--include", "ledger.csv", "--withhold-event", str(seq)).exit_code == 0
    log = [json.loads(x) for x in read_package(out)["custody.jsonl"].decode().splitlines()]
    assert log[seq - 1] == {"seq": seq, "withheld": hashlib.sha256(custody_lines(mbundle)[seq - 1].encode()).hexdigest(), "why": "withheld by the discloser"}
    assert verify(cli, out, "--trust", TRUSTED).exit_code == 0
    sealed = next(json.loads(x)["seq"] for x in custody_lines(mbundle) if '"sealed"' in x)
    r = disclose(cli, mbundle, tmp_path / "q.zip", "--include", "ledger.csv", "--withhold-event", str(sealed))
    assert r.exit_code == 2 and "cannot be withheld" in r.output


# --- a failed disclosure leaves nothing ----------------------------------------------------


def test_a_file_changed_since_sealing_aborts_with_no_package_and_no_event(cli, mbundle: Path, tmp_path: Path) -> None:
    victim = mbundle / records(mbundle)[by_name(mbundle, "field-notes.txt")]["path"]
    victim.chmod(0o644)
    victim.write_text("altered after sealing\n")
    before = custody_lines(mbundle)
    out = tmp_path / "out" / "p.zip"
    out.parent.mkdir()
    r = disclose(cli, mbundle, out, "--include", "S01")
    assert r.exit_code == 1, r.output
    assert "is not what was sealed; nothing was disclosed" in r.output
    assert custody_lines(mbundle) == before
    assert list(out.parent.iterdir()) == [out.parent / pwfile(out.parent).name]


def test_if_the_log_cannot_take_the_event_there_is_no_package(cli, mbundle: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from evidpack import custody
    from evidpack.errors import EvidpackError

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise EvidpackError("custody log is locked read-only")

    monkeypatch.setattr(custody, "append", refuse)
    before = custody_lines(mbundle)
    out = tmp_path / "out" / "p.zip"
    out.parent.mkdir()
    r = disclose(cli, mbundle, out, "--include", "ledger.csv")
    assert r.exit_code == 2 and "read-only" in r.output
    assert custody_lines(mbundle) == before
    assert not any(p.name.endswith(".zip") or ".partial-" in p.name for p in out.parent.iterdir())


def test_an_event_appended_meanwhile_is_carried_in_the_package(cli, mbundle: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from evidpack import custody

    real = custody.append

    def racing(bundle: Path, action: str, key: Any, details: dict[str, Any], *, at: Any = None) -> Any:
        real(bundle, "note", key, {"note": "someone else, at the same moment"}, at=at)
        return real(bundle, action, key, details, at=at)

    monkeypatch.setattr(custody, "append", racing)
    out = tmp_path / "p.zip"
    r = disclose(cli, mbundle, out, "--include", "ledger.csv")
    assert r.exit_code == 0, r.output
    after = custody_lines(mbundle)
    assert json.loads(after[-2])["action"] == "note" and json.loads(after[-1])["action"] == "disclosed"
    assert read_package(out)["custody.jsonl"].decode().splitlines()[-2:] == after[-2:]
    assert verify(cli, out, "--trust", TRUSTED).exit_code == 0


def test_a_member_changed_inside_its_container_aborts(cli, mbundle: Path, tmp_path: Path) -> None:
    rec = records(mbundle)[by_name(mbundle, "logs/app.log")]
    tar = mbundle / records(mbundle)[rec["container"]]["path"]
    tar.chmod(0o644)
    tar.write_bytes(tar.read_bytes().replace(b"log line", b"LOG LINE"))
    before = custody_lines(mbundle)
    r = disclose(cli, mbundle, tmp_path / "p.zip", "--include", rec["id"])
    assert r.exit_code == 1 and "not what was sealed" in r.output
    assert custody_lines(mbundle) == before and not (tmp_path / "p.zip").exists()


def test_a_bundle_whose_seal_does_not_hold_is_refused(cli, mbundle: Path, tmp_path: Path) -> None:
    items = mbundle / "evidpack/items.jsonl"
    items.chmod(0o644)
    items.write_text(items.read_text().replace("ledger.csv", "ledger.CSV"))
    r = disclose(cli, mbundle, tmp_path / "p.zip", "--include", "E0001")
    assert r.exit_code == 1 and "refusing to prove or disclose" in r.output


def test_an_existing_package_is_never_overwritten(cli, mbundle: Path, package: Path) -> None:
    before = package.read_bytes()
    r = disclose(cli, mbundle, package, "--include", "ledger.csv")
    assert r.exit_code == 2 and "already exists" in r.output
    assert package.read_bytes() == before


def test_a_zipped_bundle_cannot_record_a_disclosure(cli, case: Path, tmp_path: Path) -> None:
    out = tmp_path / "b/TC-0001"
    assert cli(*build_args(case, out, "--zip")).exit_code == 0
    shutil.rmtree(out)
    r = disclose(cli, out.with_name("TC-0001.zip"), tmp_path / "p.zip", "--include", "E0001")
    assert r.exit_code == 2 and "disclose from the bundle folder" in r.output


# --- with stock tools only -------------------------------------------------------------------


def test_the_defence_can_check_the_signatures_with_openssl_and_sha256sum(unpacked: Path) -> None:
    master = unpacked / "master"
    sealed = run_proc("bash", "-c", "grep '  evidpack/seal.json$' tagmanifest-sha256.txt | sha256sum -c", cwd=master)
    assert sealed.returncode == 0, sealed.stdout
    for folder, signed, key in ((master, "tagmanifest-sha256.txt", TRUSTED / "demo-examiner.pub"),
                                (unpacked, "disclosure.json", TRUSTED / "demo-examiner.pub")):
        r = run_proc(tool("openssl"), "pkeyutl", "-verify", "-pubin", "-inkey", key, "-rawin",
                     "-in", folder / signed, "-sigfile", folder / f"{signed}.sig")
        assert r.returncode == 0, r.stdout + r.stderr


def test_the_schedule_lists_every_disclosed_item(mbundle: Path, package: Path, tmp_path: Path) -> None:
    text = _package_text(package, tmp_path)["schedule.pdf (text)"].decode()
    for i in json.loads(read_package(package)["disclosure.json"])["items"]:
        assert i["id"] in text
    assert "Disclosure schedule" in text and "Defence counsel for J. Doe" in text


# --- the device importer's containers ------------------------------------------------------


def test_members_of_every_container_kind_come_out_verified(cli, tmp_path: Path) -> None:
    """zip (with a folder entry), tar.gz, a lone gzip and an Android backup, catalogued by kind 'device'."""
    import gzip
    import zlib

    src = tmp_path / "handset"
    src.mkdir()
    body = _tar_bytes({"apps/com.x/db/x.db": b"SQLite format 3\x00" + b"q" * 100})
    (src / "backup.ab").write_bytes(b"ANDROID BACKUP\n5\n1\nnone\n" + zlib.compress(body))
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for name, data in LOGS_TAR.items():
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            tf.addfile(ti, io.BytesIO(data))
    (src / "logs.tar.gz").write_bytes(buf.getvalue())
    (src / "note.txt.gz").write_bytes(gzip.compress(b"gzipped note\n", mtime=0))
    (src / "phone.zip").write_bytes(_zip_bytes({**PHONE_ZIP, "Dump/folder/": b""}))
    manifest = tmp_path / "case.toml"
    manifest.write_text(manifest_text('"handset"', kind="device", case_id="TC-0003"), "utf-8")
    bundle = tmp_path / "bundles/TC-0003"
    r = cli(*build_args(manifest, bundle))
    assert r.exit_code == 0, r.output
    recs = records(bundle)
    containers = sorted({r["container"] for r in recs.values() if r["kind"] == "member"})
    assert len(containers) == 4
    out = tmp_path / "device.zip"
    r = disclose(cli, bundle, out, *sum((["--include", f"{c}/*"] for c in containers), []))
    assert r.exit_code == 0, r.output
    assert "record only: a directory in its container" in r.output
    members = read_package(out)
    for i, rec in recs.items():
        if rec["kind"] == "member" and rec.get("member_type", "file") == "file":
            data = members[f"files/{i.replace('/', '_')}/{rec['member_path'].rsplit('/', 1)[-1]}"]
            assert hashlib.sha256(data).hexdigest() == rec["sha256"]
    assert verify(cli, out, "--trust", TRUSTED).exit_code == 0
