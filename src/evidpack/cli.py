"""The command line: a thin layer over the library.

Parses options, calls the library, prints, and picks the exit code:
0 success (for verify: intact and signer trusted), 1 integrity failure,
2 unusable input or usage error, 3 intact but signer not trusted.

A standard output (or error) whose reader has gone -- ``evidpack query ... | head -1``
-- ends the command quietly, as it would a well-behaved Unix tool: the stream is
pointed at /dev/null, nothing is printed, and the exit status is 141 (128 + SIGPIPE,
what a shell reports for ``cat`` killed by SIGPIPE) when the output was cut short.
Output printed once the command's work is done (``build`` has sealed the bundle,
``verify`` has reached its verdict) is printed under :func:`results_output`: a
closed pipe there changes nothing, and the command exits with its own status
(0 for a sealed build; verify's verdict; a ``--record`` event is still recorded).
"""

from __future__ import annotations

import errno
import json
import os
import re
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import click

from . import __version__
from .errors import EvidpackError, read_input

if TYPE_CHECKING:
    from .keys import SigningKey

PASS_ENV = "EVIDPACK_PASSPHRASE"


# --- text for the terminal ----------------------------------------------------------
#
# Names, notes and reasons printed by the CLI come from evidence (file names chosen by
# a suspect) and from custody events anyone can append. Printed raw, an ESC sequence in
# one would clear the examiner's screen or paint a fake "VERIFIED"; a newline would
# forge a line of a table. terminal_safe shows every such character as a visible escape,
# and a backslash that could be read as the start of one as ``\\`` (see terminal_safe).

# Unicode bidi controls that reorder a line as displayed: ALM, LRM, RLM, LRE, RLE,
# PDF, LRO, RLO, LRI, RLI, FSI, PDI. (Right-to-left text itself is shown as it is.)
_BIDI_CONTROLS = "\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"
# C0 controls (CR, LF, TAB, ESC, BEL, ...), DEL, C1 controls (CSI U+009B, NEL U+0085,
# ...), the line and paragraph separators U+2028/U+2029, the bidi controls, and lone
# surrogates (undecodable bytes, which no terminal encoding can print).
_UNSAFE_CLASS = f"[\x00-\x1f\x7f-\x9f\u2028\u2029{_BIDI_CONTROLS}\ud800-\udfff]"
_UNSAFE_IN_JSON = re.compile(f"[\x7f-\x9f\u2028\u2029{_BIDI_CONTROLS}\ud800-\udfff]")  # C0: json.dumps escapes them
# A run of backslashes is shown doubled when what follows it would otherwise read as
# an escape: a character that is not printable ASCII (a control or bidi control is
# shown as an escape, and echo_safe writes a character the terminal's encoding cannot
# show as \xe9, \u4e2d or \U0001f409), or the text of an escape itself (n, r or t;
# x and 2 hex digits; u and 4; U and 8). Any other backslash is shown as it is.
_CONFUSABLE_BACKSLASHES = r"\\++(?=[^\x20-\x7e]|[nrt]|x[0-9A-Fa-f]{2}|u[0-9A-Fa-f]{4}|U[0-9A-Fa-f]{8})"
_TERMINAL_UNSAFE = re.compile(f"{_CONFUSABLE_BACKSLASHES}|{_UNSAFE_CLASS}")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(match: re.Match[str]) -> str:
    c = match.group()
    if c[0] == "\\":  # a run of backslashes before what would read as an escape
        return c * 2
    if c in _NAMED:
        return _NAMED[c]
    return f"\\x{ord(c):02x}" if ord(c) <= 0xFF else f"\\u{ord(c):04x}"


def terminal_safe(text: object) -> str:
    """``text`` (anything; not a ``str`` is shown as ``str()`` of it) made safe to print
    on a terminal, and shown so that two different texts never look the same.

    Each control character -- C0 (``\\n``, ``\\r``, ``\\t``, ``\\x1b``, ...), DEL
    ``\\x7f``, C1 (``\\x9b``) --, each Unicode bidi control (``\\u202e``),
    U+2028/U+2029, and each lone surrogate (``\\udc80``) is replaced by its visible
    escape. Every other character, including right-to-left letters, is kept as it is.

    A backslash is kept as it is too, unless it could be read as the start of an
    escape: then its run of backslashes is shown doubled. That is when the run is
    followed by a character that is not printable ASCII (a control is shown as an
    escape; a letter such as ``é`` may be, by :func:`echo_safe` on a terminal that
    cannot show it) or by the text of an escape: ``n``, ``r``, ``t``, ``x`` and two
    hex digits, ``u`` and four, ``U`` and eight. So a file named with the six
    characters ``\\x1b`` is shown ``\\\\x1b`` and one holding an ESC ``\\x1b``:
    the court can tell them apart. Read a shown line thus: a run of backslashes
    followed by a character that is not printable ASCII, or by the text of an
    escape, stands for half as many backslashes, and if the run is odd its last
    backslash begins the escape (``\\n``, ``\\r``, ``\\t``, ``\\xHH``,
    ``\\uHHHH``, ``\\UHHHHHHHH``: the character named); any other backslash is
    itself. Why not double every backslash: Windows paths (``C:\\Users\\Jane``,
    ``\\\\server\\share``), and the values error messages quote in Python's form
    (``'C:\\\\Users'``), would no longer read as written; only a backslash that
    could be misread is changed.

    (A message that quotes a value in Python's form, ``'a\\x1bb'``, already shows
    its escapes; printed through this function their backslashes are doubled,
    ``'a\\\\x1bb'``: the line shows the message exactly.)

    Apply it to the content of a line, never to the newline we end it with."""
    s = text if isinstance(text, str) else str(text)
    return _TERMINAL_UNSAFE.sub(_escape, s)


def json_safe(text: str) -> str:
    """JSON text (as ``json.dumps(..., ensure_ascii=False)`` writes it) with the
    characters a terminal would act on -- DEL, C1 controls, bidi controls, U+2028/U+2029,
    lone surrogates -- written as ``\\uXXXX`` escapes. Such characters occur only
    inside JSON strings, where the escape means the same: still the same JSON.
    (``json.dumps`` already escapes C0 controls, ``\\u001b``, and writes a backslash
    as ``\\\\``: a JSON string already shows every text unambiguously.)"""
    return _UNSAFE_IN_JSON.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def echo_safe(text: str, err: bool = False) -> None:
    """Print one line whose parts were already made :func:`terminal_safe`; anything the
    output stream cannot encode is printed as a backslash escape, never raising."""
    stream = sys.stderr if err else sys.stdout
    encoding = getattr(stream, "encoding", None) or "utf-8"
    try:
        text.encode(encoding)
    except (UnicodeError, LookupError):
        text = text.encode(encoding, "backslashreplace").decode(encoding)
    click.echo(text, err=err)


def _err(message: str) -> None:
    echo_safe(f"evidpack: error: {terminal_safe(message)}", err=True)


def warn(message: str) -> None:
    """``evidpack: warning: MESSAGE`` on standard error, the message made terminal-safe."""
    echo_safe(f"evidpack: warning: {terminal_safe(message)}", err=True)


def refuse_inside_bundle(out: Path, bundle: Path, advice: str) -> None:
    """Refuse (one line, exit 2) to write ``out`` inside the bundle folder ``bundle``:
    a sealed bundle holds only what was sealed, and any file added to it fails
    verification. Both paths are resolved first (relative parts, ``..``, symbolic links
    of the folders on the way), so no spelling of a path into the bundle gets through.
    A bundle that is a zip file cannot be written into, but ``out`` must not be
    that zip itself either."""
    try:
        target, home = out.resolve(), bundle.resolve()
        inside = target.is_relative_to(home) if bundle.is_dir() else (bundle.exists() and target == home)
    except (OSError, RuntimeError, ValueError):  # a symlink loop, an unreadable folder: not ours to write
        raise EvidpackError(f"{out}: cannot tell whether it is inside the bundle {bundle}; {advice}") from None
    if inside:
        where = "is inside the bundle" if bundle.is_dir() else "is the bundle itself"
        raise EvidpackError(f"{out}: {where}; {advice} (a bundle holds only what was sealed)")
    refuse_inside_any_bundle(out, advice)


def is_bundle_folder(folder: Path) -> bool:
    """Whether ``folder`` looks like a sealed bundle: it holds bagit.txt and evidpack/seal.json."""
    try:
        return (folder / "bagit.txt").is_file() and (folder / "evidpack" / "seal.json").is_file()
    except OSError:
        return False


def refuse_inside_any_bundle(out: Path, advice: str) -> None:
    """Refuse (one line, exit 2) to write ``out`` inside any bundle folder -- one of its
    parent folders holds bagit.txt and evidpack/seal.json --, whichever bundle the
    command works on: a file added to another bundle (its data/, its evidpack/)
    makes that bundle fail verification. ``out`` is resolved first, like
    :func:`refuse_inside_bundle`."""
    try:
        target = out.resolve()
    except (OSError, RuntimeError, ValueError):
        raise EvidpackError(f"{out}: cannot tell whether it is inside a bundle; {advice}") from None
    for folder in target.parents:
        if is_bundle_folder(folder):
            raise EvidpackError(f"{out}: is inside the bundle {folder}; {advice} (a bundle holds only what was sealed)")


def refuse_existing(out: Path, what: str) -> None:
    """Refuse (one line, exit 2) an output path that already exists (a file, a folder,
    a symbolic link even if dangling): evidpack never overwrites."""
    if out.exists() or out.is_symlink():
        raise EvidpackError(f"{out}: already exists; evidpack never overwrites {what}")


@contextmanager
def new_file(path: Path) -> Iterator[IO[bytes]]:
    """A new file, written in the block under a hidden temporary name beside ``path``
    and put in place only when the block ends without an error -- and only if
    ``path`` still does not exist: the file is linked to its name, which fails if
    anything took the name meanwhile, never renamed over it. On any failure (an
    error, Ctrl-C, a full disk) nothing is left behind."""
    from .atomic import Interrupted, fsync_dir, sigterm_interrupts

    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise EvidpackError(f"{path}: no such folder {folder}")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=folder)
    except OSError as exc:
        raise EvidpackError(f"{path}: cannot write in {folder} ({exc.strerror})") from None
    try:
        try:
            with sigterm_interrupts(), os.fdopen(fd, "wb") as fh:
                yield fh
                fh.flush()
                os.fsync(fh.fileno())
            os.chmod(tmp, 0o644)
        except Interrupted as exc:
            stop = EvidpackError(f"{path}: interrupted ({exc}); nothing was written")
            stop.exit_code = 143  # 128 + SIGTERM, as a shell gives
            raise stop from None
        except OSError as exc:
            if exc.errno not in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
                raise
            raise EvidpackError(f"{path}: cannot write ({exc.strerror})") from None
        try:
            os.link(tmp, path)  # never replaces: fails if the name is taken
        except FileExistsError:
            raise EvidpackError(f"{path}: already exists (made while this was written); evidpack never overwrites a file") from None
        except OSError as exc:
            if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.ENOSYS):
                raise EvidpackError(f"{path}: cannot write ({exc.strerror})") from None
            # a file system without hard links (FAT, some network shares): look, then rename
            if path.exists() or path.is_symlink():
                raise EvidpackError(f"{path}: already exists (made while this was written); evidpack never overwrites a file") from None
            os.rename(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)
    try:
        fsync_dir(folder)  # the new name, durable
    except OSError:
        pass


# --- a closed standard output -------------------------------------------------------

SIGPIPE_EXIT = 141  # 128 + SIGPIPE (13): what a shell reports for a tool SIGPIPE ended


def _closed(stream: Any) -> bool:
    """Whether ``stream`` (sys.stdout, sys.stderr) is a pipe or socket whose reader has
    gone: poll() reports POLLERR for it. A file, a terminal, or a stream without a
    file descriptor (the test runner's) is never closed in that sense."""
    try:
        fd = stream.fileno()
    except (AttributeError, OSError, ValueError):
        return False
    try:
        import select

        poller = select.poll()
        poller.register(fd, select.POLLOUT)
        return any(ev & (select.POLLERR | select.POLLHUP) for _, ev in poller.poll(0))
    except (AttributeError, OSError, ValueError):  # no poll() here: trust the EPIPE
        return True


def _silence_closed_outputs(exc: BaseException) -> bool:
    """If ``exc`` is EPIPE from writing to a standard output (or error) whose reader has
    gone, point that stream at /dev/null -- so what is still buffered, and anything
    printed later, goes nowhere without raising again -- and return True. Any other
    broken pipe (a worker process that died) is not ours to hide: False."""
    if not (isinstance(exc, OSError) and exc.errno == errno.EPIPE):
        return False
    closed = [s for s in (sys.stdout, sys.stderr) if _closed(s)]
    for stream in closed:
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            try:
                os.dup2(devnull, stream.fileno())
            finally:
                os.close(devnull)
        except OSError:
            pass
    return bool(closed)


@contextmanager
def results_output() -> Iterator[None]:
    """Print, inside the block, what a command says once its work is done (a sealed
    bundle, a written file, a verdict). A reader that has gone (``| head -2``) stops
    the printing quietly and the command goes on to its own exit status: the work was
    done, and a closed pipe must not claim it failed."""
    try:
        yield
    except OSError as exc:
        if not _silence_closed_outputs(exc):
            raise


class _Group(click.Group):
    """Turns EvidpackError (bad input) into one line and its exit code, never a traceback;
    a closed standard output into a quiet exit 141 (see the module's docstring)."""

    def make_context(self, info_name: str | None, args: list[str], parent: click.Context | None = None, **extra: Any) -> click.Context:
        try:  # (`evidpack --help | head -1` prints while parsing)
            return super().make_context(info_name, args, parent, **extra)
        except OSError as exc:
            if _silence_closed_outputs(exc):
                sys.exit(SIGPIPE_EXIT)
            raise

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except EvidpackError as exc:
            with results_output():  # (a closed standard error: the exit code still says it)
                _err(str(exc))
            ctx.exit(exc.exit_code)
        except KeyboardInterrupt:
            _err("interrupted")
            ctx.exit(130)
        except (click.exceptions.Exit, click.ClickException, SystemExit):
            raise
        except OSError as exc:
            if _silence_closed_outputs(exc):  # `evidpack ... | head`: the reader has what it wanted
                ctx.exit(SIGPIPE_EXIT)
            if os.environ.get("EVIDPACK_DEBUG"):
                raise
            _err(f"internal error: {type(exc).__name__}: {exc} (set EVIDPACK_DEBUG=1 to see where)")  # (escaped by _err)
            ctx.exit(2)
        except Exception as exc:  # a bug, not bad input: still one line unless asked
            if os.environ.get("EVIDPACK_DEBUG"):
                raise
            _err(f"internal error: {type(exc).__name__}: {exc} (set EVIDPACK_DEBUG=1 to see where)")  # (escaped by _err)
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


class Sha256Hex(click.ParamType):
    """A SHA-256 as 64 hex digits (either case; surrounding white space ignored),
    given back in lower case. Anything else -- a prefix, a typo, a value with
    ``sha256:`` before it -- is a usage error (one line, exit 2) naming the option,
    never a value passed on to be looked for and not found."""

    name = "hash"

    def __init__(self, what: str) -> None:
        self.what = what

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        text = str(value).strip()
        if re.fullmatch(r"[0-9a-fA-F]{64}", text):
            return text.lower()
        option = param.opts[0] if param is not None and param.opts else "the value"
        shown = repr(text) if len(text) <= 80 else f"{text[:80]!r}… ({len(text):,} characters)"
        if not text:
            why = "empty"
        elif re.fullmatch(r"[0-9a-fA-F]+", text):
            why = f"{len(text)} hex digits, not 64"
        else:
            why = "not hex digits only"
        raise EvidpackError(f"{option} {shown}: {why}; {self.what}")


CUSTODY_HEAD = Sha256Hex(
    "a custody head is the 64 hex digits of a SHA-256, in full, as build, custody add and custody show print it"
)


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
                  3 intact but the signer is not trusted; 141 output cut short
                  (the reader of a pipe, e.g. `| head`, had gone before the command
                  finished printing); once a command's work is done (a bundle sealed,
                  a verdict reached), a closed pipe leaves its own exit code as it is
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
    t = terminal_safe
    with results_output():  # the key pair is written
        echo_safe(f"private key: {t(key_path)} (encrypted; keep it and its passphrase safe)")
        echo_safe(f"public key:  {t(pub_path)} (give this to whoever must trust your seals)")
        echo_safe(f"name:        {t(key.public.name)}")
        echo_safe(f"role:        {t(key.public.role)}")
        echo_safe(f"fingerprint: {key.public.fingerprint}")


@keys.command("show")
@click.argument("key_file", type=click.Path(path_type=Path))
def keys_show(key_file: Path) -> None:
    """Show the name, role and SSH-style SHA256 fingerprint of a public key."""
    from . import keys as k

    pub = k.load_public_key(key_file)  # the name and role are whatever the file says: shown escaped
    echo_safe(f"name:        {terminal_safe(pub.name) or '(not recorded)'}")
    echo_safe(f"role:        {terminal_safe(pub.role) or '(not recorded)'}")
    echo_safe(f"fingerprint: {pub.fingerprint}")
    echo_safe(f"openssh:     {pub.openssh()}")


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
    refuse_inside_any_bundle(out, "build the bundle elsewhere")  # (a bundle in another's data/ breaks that one)
    # A copy worker starts first: it is ready by the time the manifest is read,
    # and the build hands it its first files at once (more start as the work
    # needs them). The key is
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
            warn=warn, pdf_signer=pdf_signer, pool=pool,
        )
    t = terminal_safe
    with results_output():  # the bundle is sealed: `| head -2` must not make it look failed
        echo_safe(f"sealed {t(result.path)}")
        echo_safe(f"  case:          {t(case.id)} — {t(case.title)}")
        echo_safe(f"  items:         {result.items} ({result.files} payload files, {result.bytes} bytes)")
        echo_safe(f"  merkle root:   {result.merkle_root}")
        echo_safe(f"  tag manifest:  sha256 {result.tagmanifest_sha256}")
        echo_safe(f"  signer:        {t(result.signer.describe())}")
        echo_safe(f"  custody head:  {result.custody_head}  (receipt: keep it)")
        if result.zip_path:
            echo_safe(f"  zip:           {t(result.zip_path)}")
        if result.warnings:
            click.echo(f"  {len(result.warnings)} problem(s) recorded as failed checks (see sources.jsonl)")


# --- verify -----------------------------------------------------------------------


@main.command()
@click.argument("bundle", type=click.Path(path_type=Path))
@click.option("--trust", "trust", multiple=True, type=click.Path(path_type=Path), help="A trusted public key file or a folder of them; repeatable. Nothing is trusted without it.")
@click.option("--deep", is_flag=True, help="Also re-hash every member of every container.")
@click.option("--md5", "all_digests", is_flag=True, help="Also recompute every payload file's MD5 (SHA-256, which the seal rests on, is always recomputed).")
@click.option("--expect-head", type=CUSTODY_HEAD, metavar="HASH", help="A custody receipt (a head: 64 hex digits) the log must still reach.")
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
    with results_output():  # the verdict is reached: a closed pipe cuts the report short, not the verdict
        _print_report(report, as_json=as_json)
    if key is not None:
        from . import custody

        done = custody.append(bundle, "verified", key, report.custody_details())
        with results_output():
            echo_safe(f"recorded: event {done.seq} 'verified' by {terminal_safe(key.public.name)}; head: {done.head}", err=as_json)
    sys.exit(report.exit_code)


_MARK = {"pass": "PASS", "fail": "FAIL", "untrusted": "UNTRUSTED", "warn": "WARN", "skipped": "SKIP"}


def _print_report(report: Any, as_json: bool = False) -> None:
    """Print ``report`` as text (or, ``as_json``, as JSON). Every string from the
    bundle, the proof or the package (check reasons and problems name files and
    signers, all possibly hostile) is shown :func:`terminal_safe`: a control character,
    bidi control or lone surrogate (``\\ud800``) as its escape, never acted on by the
    terminal and never raising. The JSON stays valid JSON: ``json.dumps`` writes
    control characters as ``\\u001b``, and :func:`json_safe` the rest as ``\\uXXXX``."""
    from .verify import SHOW

    if as_json:
        text = json_safe(json.dumps(report.to_json(), indent=2, ensure_ascii=False))
        encoding = getattr(sys.stdout, "encoding", None) or "utf-8"
        try:
            text.encode(encoding)
        except (UnicodeError, LookupError):  # all but ASCII as \uXXXX escapes: still the same JSON
            text = json.dumps(report.to_json(), indent=2)
        click.echo(text)
        return
    t = terminal_safe
    echo_safe(f"evidpack verify {t(report.target)}")
    for c in report.checks:
        echo_safe(f"  {t(_MARK.get(c.verdict, c.verdict.upper())):<9} {t(c.name):<24} {t(c.reason)}")
        if c.verdict in ("fail", "untrusted", "warn") and len(c.problems) > 1:
            for p in c.problems[:SHOW]:
                echo_safe(f"  {'':<9} {'':<24} - {t(p)}")
            if len(c.problems) > SHOW:
                echo_safe(f"  {'':<9} {'':<24} … and {len(c.problems) - SHOW} more (see --json)")
    if report.custody_head:
        echo_safe(f"custody head: {t(report.custody_head)}")
    echo_safe(t(report.summary))


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
