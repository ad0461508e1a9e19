"""The command line: a thin layer over the library.

Parses options, calls the library, prints, and picks the exit code:
0 success (for verify: intact and signer trusted), 1 integrity failure,
2 unusable input or usage error, 3 intact but signer not trusted.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from . import __version__
from .errors import EvidpackError, read_input

if TYPE_CHECKING:
    from .keys import SigningKey

PASS_ENV = "EVIDPACK_PASSPHRASE"


def _err(message: str) -> None:
    click.echo(f"evidpack: error: {message}", err=True)


class _Group(click.Group):
    """Turns EvidpackError (bad input) into one line and its exit code, never a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except EvidpackError as exc:
            _err(str(exc))
            ctx.exit(exc.exit_code)
        except KeyboardInterrupt:
            _err("interrupted")
            ctx.exit(130)
        except (click.exceptions.Exit, click.ClickException, SystemExit):
            raise
        except Exception as exc:  # a bug, not bad input: still one line unless asked
            if os.environ.get("EVIDPACK_DEBUG"):
                raise
            _err(f"internal error: {type(exc).__name__}: {exc} (set EVIDPACK_DEBUG=1 to see where)")
            ctx.exit(2)


def read_secret(
    secret_file: Path | None, env: str, what: str, *, confirm: bool = False
) -> bytes:
    """A passphrase from a file, the environment or a prompt — never from an argument."""
    if secret_file is not None:
        try:
            text = read_input(secret_file, f"{what} file", limit=4096).decode("utf-8")
        except UnicodeDecodeError:
            raise EvidpackError(f"{secret_file}: the {what} file is not UTF-8 text") from None
        value = text.splitlines()[0] if text else ""
        if not value:
            raise EvidpackError(f"{secret_file}: the {what} file is empty")
        return value.encode("utf-8")
    if os.environ.get(env):
        return os.environ[env].encode("utf-8")
    if not sys.stdin.isatty():
        raise EvidpackError(f"no {what}: give --{what.replace(' ', '-')}-file, set {env}, or run in a terminal to be asked")
    value = click.prompt(f"{what.capitalize()}", hide_input=True, confirmation_prompt=confirm, err=True)
    return value.encode("utf-8")


PASSWORD_ENV = "EVIDPACK_DISCLOSURE_PASSWORD"


def secret_file_option(option: str, what: str, env: str) -> Any:
    """An option naming a file that holds a secret; the secret itself never is an argument."""
    return click.option(
        option,
        type=click.Path(dir_okay=False, path_type=Path),
        help=f"File whose first line is {what} (else ${env}, else a prompt).",
    )


_passphrase_option = secret_file_option("--passphrase-file", "the key passphrase", PASS_ENV)
password_option = secret_file_option("--password-file", "the disclosure package's password", PASSWORD_ENV)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="evidpack")
def main() -> None:
    """Seal digital evidence into a signed, verifiable bundle with a chain of custody.

    \b
    Examiners:    evidpack keys new ...; evidpack build CASE.toml --key K --out DIR
    Prosecutors:  evidpack verify DIR --trust keys/trusted/
    Exit codes:   0 ok / verified, 1 integrity failure, 2 bad input or usage,
                  3 intact but the signer is not trusted
    """


# --- keys -------------------------------------------------------------------------


@main.group()
def keys() -> None:
    """Create and inspect Ed25519 signing keys."""


@keys.command("new")
@click.option("--name", required=True, help='Who the key belongs to, e.g. "Det. Jane Roe".')
@click.option("--role", default="examiner", show_default=True, help="examiner, analyst, custodian, prosecutor, defence, reviewer or other.")
@click.option("--out", required=True, type=click.Path(path_type=Path), help="Base name: writes OUT.key (encrypted) and OUT.pub.")
@_passphrase_option
def keys_new(name: str, role: str, out: Path, passphrase_file: Path | None) -> None:
    """Create a key pair: OUT.key (passphrase-encrypted PKCS#8) and OUT.pub.

    \b
    Example:
      evidpack keys new --name "Det. Jane Roe" --role examiner --out keys/jroe
    """
    from . import keys as k

    key = k.generate(name, role)
    passphrase = read_secret(passphrase_file, PASS_ENV, "passphrase", confirm=True)
    key_path, pub_path = k.write_key_pair(key, out, passphrase)
    click.echo(f"private key: {key_path} (encrypted; keep it and its passphrase safe)")
    click.echo(f"public key:  {pub_path} (give this to whoever must trust your seals)")
    click.echo(f"name:        {key.public.name}")
    click.echo(f"role:        {key.public.role}")
    click.echo(f"fingerprint: {key.public.fingerprint}")


@keys.command("show")
@click.argument("key_file", type=click.Path(path_type=Path))
def keys_show(key_file: Path) -> None:
    """Show the name, role and SSH-style SHA256 fingerprint of a public key."""
    from . import keys as k

    pub = k.load_public_key(key_file)
    click.echo(f"name:        {pub.name or '(not recorded)'}")
    click.echo(f"role:        {pub.role or '(not recorded)'}")
    click.echo(f"fingerprint: {pub.fingerprint}")
    click.echo(f"openssh:     {pub.openssh()}")


# --- build ------------------------------------------------------------------------


@main.command()
@click.argument("manifest", type=click.Path(path_type=Path))
@click.option("--key", "key_file", required=True, type=click.Path(path_type=Path), help="The sealer's private key (.key).")
@click.option("--out", required=True, type=click.Path(path_type=Path), help="Bundle folder to create (must not exist).")
@_passphrase_option
@click.option("--time", "time_", metavar="TIME", help="Build time (RFC 3339 or epoch seconds); default $SOURCE_DATE_EPOCH, else now.")
@click.option("--zip", "make_zip", is_flag=True, help="Also write the bundle as one zip file, OUT.zip.")
@click.option("--keep-going", is_flag=True, help="Record unreadable or bad input as failed checks instead of stopping.")
@click.option("--md5/--no-md5", default=True, show_default=True, help="Also write manifest-md5.txt and MD5 digests.")
@click.option("--pdf-cert", type=click.Path(dir_okay=False, path_type=Path), help="X.509 certificate (PEM/DER; chain may follow) to PAdES-sign the PDF index with.")
@click.option("--pdf-key", type=click.Path(dir_okay=False, path_type=Path), help="The private key of --pdf-cert (PEM/DER, encrypted or not).")
@click.option("--pdf-key-passphrase-file", type=click.Path(dir_okay=False, path_type=Path),
              help="File whose first line is the --pdf-key passphrase (else $EVIDPACK_PDF_KEY_PASSPHRASE, else a prompt; asked only if the key is encrypted).")
def build(manifest: Path, key_file: Path, out: Path, passphrase_file: Path | None, time_: str | None, make_zip: bool, keep_going: bool, md5: bool,
          pdf_cert: Path | None, pdf_key: Path | None, pdf_key_passphrase_file: Path | None) -> None:
    """Build and seal a bundle from a case manifest.

    Reads every source once (copy and all digests in one pass), never writes to a
    source, and seals atomically: an interrupted build leaves nothing that verifies.
    The PDF index (evidpack/index.pdf) is signed by the sealing key; with
    --pdf-cert and --pdf-key it also carries a PAdES signature that PDF readers show.

    \b
    Example:
      evidpack build manifests/example-case.toml --key keys/jroe.key --out bundles/NC-2026-0142
      evidpack build case.toml --key keys/jroe.key --out bundles/NC-2026-0142 \\
          --pdf-cert agency-cert.pem --pdf-key agency-key.pem --pdf-key-passphrase-file agency.pass
    """
    from .payloadcopy import CopyPool

    if (pdf_cert is None) != (pdf_key is None) or (pdf_key_passphrase_file and pdf_key is None):
        raise EvidpackError("--pdf-cert and --pdf-key go together (and --pdf-key-passphrase-file needs them)")
    # The copy workers start first: they are ready by the time the manifest is
    # read, and the build hands them its first files at once. The key is
    # unlocked while they copy (see build.build).
    with CopyPool().start() as pool:
        from . import casefile
        from .build import build as do_build
        from .timeutil import build_time

        case = casefile.load(manifest)
        when = build_time(time_)
        passphrase = read_secret(passphrase_file, PASS_ENV, "passphrase")
        pdf_signer = None
        if pdf_cert is not None and pdf_key is not None:
            from .report import pades

            def ask() -> bytes:
                return read_secret(pdf_key_passphrase_file, "EVIDPACK_PDF_KEY_PASSPHRASE", "pdf key passphrase")

            pdf_signer = pades.load(pdf_cert, pdf_key, ask() if pdf_key_passphrase_file else ask)

        def unlock() -> "SigningKey":
            from .keys import load_signing_key

            return load_signing_key(key_file, passphrase)

        result = do_build(
            case, unlock, out, built_at=when, keep_going=keep_going, md5=md5, make_zip=make_zip,
            warn=lambda m: click.echo(f"evidpack: warning: {m}", err=True), pdf_signer=pdf_signer, pool=pool,
        )
    click.echo(f"sealed {result.path}")
    click.echo(f"  case:          {case.id} — {case.title}")
    click.echo(f"  items:         {result.items} ({result.files} payload files, {result.bytes} bytes)")
    click.echo(f"  merkle root:   {result.merkle_root}")
    click.echo(f"  tag manifest:  sha256 {result.tagmanifest_sha256}")
    click.echo(f"  signer:        {result.signer.describe()}")
    click.echo(f"  custody head:  {result.custody_head}  (receipt: keep it)")
    if result.zip_path:
        click.echo(f"  zip:           {result.zip_path}")
    if result.warnings:
        click.echo(f"  {len(result.warnings)} problem(s) recorded as failed checks (see sources.jsonl)")


# --- verify -----------------------------------------------------------------------


@main.command()
@click.argument("bundle", type=click.Path(path_type=Path))
@click.option("--trust", "trust", multiple=True, type=click.Path(path_type=Path), help="A trusted public key file or a folder of them; repeatable. Nothing is trusted without it.")
@click.option("--deep", is_flag=True, help="Also re-hash every member of every container.")
@click.option("--md5", "all_digests", is_flag=True, help="Also recompute every payload file's MD5 (SHA-256, which the seal rests on, is always recomputed).")
@click.option("--expect-head", metavar="HASH", help="A custody receipt the log must still reach.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option("--record", is_flag=True, help="Append a 'verified' custody event with the result (needs --key).")
@click.option("--key", "key_file", type=click.Path(path_type=Path), help="Your private key, to sign the --record event.")
@_passphrase_option
@password_option
def verify(bundle: Path, trust: tuple[Path, ...], deep: bool, all_digests: bool, expect_head: str | None, as_json: bool,
           record: bool, key_file: Path | None, passphrase_file: Path | None, password_file: Path | None) -> None:
    """Verify a bundle (folder or zip) or a disclosure package: every check, each with its verdict and reason.

    \b
    Exit codes: 0 intact and signer trusted; 1 integrity failure;
                2 unusable input or usage; 3 intact but signer not trusted.
    \b
    Example:
      evidpack verify bundles/NC-2026-0142 --trust keys/trusted/
    """
    from .keys import load_signing_key, load_trusted
    from .verify import verify_bundle

    if record and key_file is None:
        raise EvidpackError("--record needs --key: the 'verified' event is signed by whoever verified")
    if key_file is not None and not record:
        raise EvidpackError("--key is only used with --record")
    from .bundle import is_disclosure_package

    if not bundle.exists():
        raise EvidpackError(f"{bundle}: no such bundle or disclosure package")
    trusted = load_trusted(list(trust))
    key = None
    if is_disclosure_package(bundle):
        if record or deep:
            raise EvidpackError(f"{'--record' if record else '--deep'} applies to bundles; {bundle} is a disclosure package")
        from .verify_disclosure import verify_disclosure

        report = verify_disclosure(bundle, trusted, expect_head=expect_head,
                                   password=lambda: read_secret(password_file, PASSWORD_ENV, "password"))
    else:
        if password_file is not None:
            raise EvidpackError("--password-file is for disclosure packages; a bundle has no password")
        key = load_signing_key(key_file, read_secret(passphrase_file, PASS_ENV, "passphrase")) if key_file else None
        report = verify_bundle(bundle, trusted, deep=deep, expect_head=expect_head, all_digests=all_digests)
    _print_report(report, as_json=as_json)
    if key is not None:
        from . import custody

        done = custody.append(bundle, "verified", key, report.custody_details())
        click.echo(f"recorded: event {done.seq} 'verified' by {key.public.name}; head: {done.head}", err=as_json)
    sys.exit(report.exit_code)


_MARK = {"pass": "PASS", "fail": "FAIL", "untrusted": "UNTRUSTED", "warn": "WARN", "skipped": "SKIP"}


def _print_report(report: Any, as_json: bool = False) -> None:
    """Print ``report`` as text (or, ``as_json``, as JSON). Text from hostile input that
    stdout cannot encode (a lone surrogate such as ``\\ud800``) is printed escaped,
    never raising; the JSON stays valid JSON (such characters become ``\\uXXXX`` escapes)."""
    from .verify import SHOW

    encoding = getattr(sys.stdout, "encoding", None) or "utf-8"

    def echo(text: str) -> None:
        try:
            text.encode(encoding)
        except (UnicodeError, LookupError):
            text = text.encode(encoding, "backslashreplace").decode(encoding)  # \ud800, as written
        click.echo(text)

    if as_json:
        text = json.dumps(report.to_json(), indent=2, ensure_ascii=False)
        try:
            text.encode(encoding)
        except (UnicodeError, LookupError):  # all but ASCII as \uXXXX escapes: still the same JSON
            text = json.dumps(report.to_json(), indent=2)
        click.echo(text)
        return
    echo(f"evidpack verify {report.target}")
    for c in report.checks:
        echo(f"  {_MARK.get(c.verdict, c.verdict.upper()):<9} {c.name:<24} {c.reason}")
        if c.verdict in ("fail", "untrusted", "warn") and len(c.problems) > 1:
            for p in c.problems[:SHOW]:
                echo(f"  {'':<9} {'':<24} - {p}")
            if len(c.problems) > SHOW:
                echo(f"  {'':<9} {'':<24} … and {len(c.problems) - SHOW} more (see --json)")
    if report.custody_head:
        echo(f"custody head: {report.custody_head}")
    echo(report.summary)


def _register() -> None:
    from .cli_custody import custody

    main.add_command(custody)


_register()

from .cli_catalogue import export, query  # noqa: E402

main.add_command(query)
main.add_command(export)

from .cli_disclose import disclose, proof, verify_item  # noqa: E402

main.add_command(disclose)
main.add_command(proof)
main.add_command(verify_item)

from .cli_index import index  # noqa: E402

main.add_command(index)


def run() -> None:
    """The ``evidpack`` command (and ``python -m evidpack``)."""
    try:
        main()
    finally:
        # Whatever the command left in memory is the operating system's to free:
        # set apart from the garbage collector, the interpreter's last full
        # collection at exit (a tenth of a second after a build) is skipped.
        # Finalizers still run, and every file is already closed.
        import gc

        gc.freeze()
