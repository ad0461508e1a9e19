"""A reportlab document that writes each page to the output as soon as it is
finished, so a document of any length needs no more memory than one page.

reportlab keeps every page of a document (and its content stream) until
``save``, then builds the whole file in memory. :class:`StreamingDocument`
changes *when* objects are written: as each page is shown, its dictionary and
its content stream (compressed) are written to the output file and forgotten;
what is left at ``save`` (fonts, outline, destinations, annotations, forms,
the page tree) is written after them, by reportlab's own formatting, then the
cross-reference table and the trailer. Pages share one resource dictionary
(per set of forms used) and one media box, and a page with nothing else has
its dictionary written as reportlab would format it, without the field-by-field
formatting that would cost more than the page's text.

Forward references: a page may use a form XObject defined only when the
document is saved (the page count, the page numbers in the contents). The
first page that uses one reserves its object number; the form takes that
number when it is defined. A form used but never defined is an error at save.

Late text: a value printed before it is known (the tag manifest's SHA-256,
which the sealed index prints and which is only known once the catalogue is
written) is laid out as a stand-in of the same length, in a fixed-width font,
and registered with :meth:`StreamingDocument.defer`. A page whose content
stream holds a stand-in has its dictionary written as usual, but its content
stream is kept (uncompressed: a few pages) and written when the document is
saved, with the value given by then (:meth:`StreamingDocument.fill`) in place
of the stand-in. A stand-in broken across lines is an error, never a page
printed with a piece of it.

The output is deterministic: objects are numbered and written in the order the
document makes them, which depends only on its content.
"""

from __future__ import annotations

import zlib
from array import array
from typing import IO, Any

from reportlab.pdfbase.pdfdoc import (
    PDFArray,
    PDFDocument,
    PDFFile,
    PDFIndirectObject,
    PDFObject,
    PDFObjectReference,
    PDFPage,
    PDFPages,
    PDFResourceDictionary,
    PDFStream,
    PDFTrailer,
    xObjectName,
)


# A page dictionary as reportlab formats it, for a page with nothing else (see StreamingDocument._plain).
_PAGE = b"<<\n/Contents %d 0 R /MediaBox %s /Parent %d 0 R /Resources %d 0 R /Rotate 0 /Type /Page\n>>\nendobj\n"
_OTHER_PAGE_KEYS = tuple(k for k in PDFPage.__NoDefault__ if k not in ("MediaBox", "Resources", "Contents", "Rotate", "Annots", "Parent", "Trans"))
# zlib's level for content streams: 3 costs a third less CPU than the default (6) on a
# schedule's pages, for streams about 5 % larger.
COMPRESSION = 3
# A page's content stream, compressed (then the data, an end of line, endstream).
_FLATE = b"<<\n/Filter [ /FlateDecode ] /Length %d\n>>\nstream\n"


class _Reserved(PDFObject):
    """The place of a form XObject that is used before it is defined."""

    def __init__(self, name: str) -> None:
        self.name = name

    def format(self, document: Any) -> bytes:
        raise ValueError(f"form {self.name!r} is used on a page but was never defined")


class _Late(PDFObject):
    """A page's content stream that holds late text: written, filled in, when
    the document is saved."""

    def __init__(self, raw: bytes) -> None:
        self.raw = raw

    def format(self, document: Any) -> bytes:
        data = zlib.compress(document.filled(self.raw), COMPRESSION)
        return _FLATE % len(data) + data + b"\nendstream\n"


def _verbatim(text: str) -> bool:
    """Printable ASCII that a PDF string holds as it is (no escaping)."""
    return text.isascii() and text.isprintable() and not any(c in text for c in "\\()")


class _Written(PDFObject):
    """Stands for an object already written to the output: its offset is known."""


WRITTEN = _Written()


class _PageTree(PDFPages):
    """The page tree, holding the pages' object numbers (not the pages)."""

    def __init__(self, numbers: array) -> None:
        super().__init__()
        self.numbers = numbers

    def check_format(self, document: Any) -> None:
        self.Kids = PDFArray([b"%d 0 R" % n for n in self.numbers])  # references, formatted (bytes are written as they are)
        self.Count = len(self.numbers)


class _Formatted(PDFObject):
    """A direct object formatted once, written as it is wherever it is used."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def format(self, document: Any) -> bytes:
        return self.data


class StreamingDocument(PDFDocument):
    """reportlab's PDFDocument, writing pages to ``out`` as they are finished.

    Make it with :func:`stream_to` on a canvas just made (before anything is
    drawn); call :meth:`flush_page` after each ``showPage``; the canvas's
    ``save`` then writes the rest to the same file object."""

    _out: IO[bytes]
    _file: PDFFile | None
    _offsets: array  # object number -> offset in the file, for objects written
    _page_numbers: array  # the pages' object numbers, in order
    _resources: dict[tuple[tuple[str, ...], bool], Any]  # resource dictionaries pages share
    _boxes: dict[tuple[float, float], Any]  # media boxes, formatted
    _late: dict[bytes, bytes | None]  # stand-in -> the value, once given

    def defer(self, stand_in: str) -> None:
        """Declare ``stand_in`` (printable ASCII, at least 32 characters, that
        no other text can contain: a random one) as late text, replaced by the
        value given to :meth:`fill` before the document is saved."""
        if len(stand_in) < 32 or not _verbatim(stand_in):
            raise ValueError("a stand-in for late text is printable ASCII without \\ ( ), at least 32 characters")
        self._late[stand_in.encode("ascii")] = None

    def fill(self, stand_in: str, value: str) -> None:
        """Give the value of late text: as long as its stand-in, printable ASCII
        that needs no escaping in a PDF string."""
        key = stand_in.encode("ascii")
        if key not in self._late:
            raise ValueError("no such late text")
        if len(value) != len(stand_in) or not _verbatim(value):
            raise ValueError("late text must be printable ASCII without \\ ( ), as long as its stand-in")
        self._late[key] = value.encode("ascii")

    def filled(self, raw: bytes) -> bytes:
        """``raw`` with every stand-in replaced by its value."""
        for key, value in self._late.items():
            if value is None:
                raise ValueError("late text was printed but its value never given")
            raw = raw.replace(key, value)
        return raw

    def _holds_late(self, raw: bytes) -> bool:
        """Whether a page's content stream holds late text; an error if it holds
        a piece of a stand-in (one broken across lines could not be filled in)."""
        held = False
        for key in self._late:
            half = len(key) // 2
            first, second = raw.count(key[:half]), raw.count(key[half:])
            if first or second:  # (most pages hold neither)
                whole = raw.count(key)
                if first != whole or second != whole:
                    raise ValueError("late text was broken across lines or pieces")
                held = True
        return held

    def flush_page(self) -> None:
        """Write the page just shown (and its content stream, compressed) and
        forget them."""
        page = self.Pages.pages.pop()
        name = page.__InternalName__
        if page.XObjects is not None:
            for ref in page.XObjects.dict.values():
                if ref.name not in self.idToObject:
                    self.Reference(_Reserved(ref.name), ref.name)
        self._share(page)
        stream = page.stream or ""
        raw = stream.encode("utf-8") if isinstance(stream, str) else stream
        page.stream = None
        late = bool(self._late) and self._holds_late(raw)
        data = b"" if late else zlib.compress(raw, COMPRESSION)
        page.Contents = _Late(raw) if late else PDFStream(content=data)  # stands for the stream, written below (or at save)
        contents = self._number(self.Reference(page.Contents))
        if self._plain(page):
            # The page dictionary reportlab would write, without formatting it field by field.
            self._write(self._number(self.Reference(page)), _PAGE % (contents, page.MediaBox.data, self._number(self.Reference(self.Pages)), self._number(page.Resources)))
        else:
            self._write_object(name, page)
        # The page is still referred to by name (outline and link destinations); its contents never are.
        self.idToObject[name] = WRITTEN
        if not late:  # else written at save, filled in
            self._write(contents, _FLATE % len(data) + data + b"\nendstream\nendobj\n")
            internal = page.Contents.__InternalName__
            del self.idToObject[internal], self.idToObjectNumberAndVersion[internal]
        self._page_numbers.append(self._number(self.Reference(page)))

    def _number(self, ref: PDFObjectReference) -> int:
        return self.idToObjectNumberAndVersion[ref.name][0]

    @staticmethod
    def _plain(page: PDFPage) -> bool:
        """Whether the page has only what :data:`_PAGE` writes."""
        if page.Override_default_compilation or page.Annots or page.Rotate not in (0, None) or page.Trans is not None:
            return False
        if not isinstance(page.MediaBox, _Formatted) or not isinstance(page.Resources, PDFObjectReference):
            return False
        return all(getattr(page, key, None) is None for key in _OTHER_PAGE_KEYS)

    def _share(self, page: Any) -> None:
        """What most pages have alike is written once: the resource dictionary
        (fonts and forms) is one object that pages with the same forms refer
        to, and the media box is formatted once."""
        if page.Trans is not None and not page.Trans.dict:
            page.Trans = None  # no transition: reportlab would write an empty dictionary
        if page.Rotate in (None, 0) and page.MediaBox is None:
            box = (page.pagewidth, page.pageheight)
            if box not in self._boxes:
                self._boxes[box] = _Formatted(PDFArray([0, 0, *box]).format(self))
            page.MediaBox = self._boxes[box]
        if page.Resources is not None or page.ExtGState or page._colorsUsed or page._shadingUsed:
            return
        forms = tuple(page.XObjects.dict) if page.XObjects is not None else ()
        key = (forms, bool(page.hasImages))
        if key not in self._resources:
            resources = PDFResourceDictionary()
            resources.basicFonts()
            if page.hasImages:
                resources.allProcs()
            if page.XObjects is not None:
                resources.XObject = page.XObjects
            self._resources[key] = self.Reference(resources)
        page.Resources = self._resources[key]

    def _write_object(self, name: str, obj: Any) -> None:
        """Write a registered object as reportlab formats it."""
        data = PDFIndirectObject(name, obj).format(self)
        self._write(self._number(PDFObjectReference(name)), data[data.index(b"\n") + 1 :])

    def _write(self, number: int, body: bytes) -> None:
        """Write object ``number``: ``body`` is what follows ``n 0 obj``, up to
        and including ``endobj``."""
        if self._file is None:
            self._file = _open(self._out, self._pdfVersion)
        self._offsets.extend([0] * (number + 1 - len(self._offsets)))
        self._offsets[number] = self._file.add(b"%d 0 obj\n" % number + body)
        del self.numberToId[number]

    @property
    def page_count(self) -> int:
        return len(self._page_numbers)

    def addForm(self, name: str, form: Any) -> None:
        internal = xObjectName(name)
        if isinstance(self.idToObject.get(internal), _Reserved):
            form.__InternalName__ = internal  # takes the number the pages using it refer to
            self.idToObject[internal] = form
            self.inObject = None
            return
        super().addForm(name, form)

    def SaveToFile(self, filename: Any, canvas: Any) -> None:  # noqa: N802 - reportlab's name
        if getattr(self, "_savedToFile", False):
            raise RuntimeError("a document can be saved only once")
        self._savedToFile = True
        if filename is not self._out:
            raise ValueError("a streaming document is saved to the file it was made for")
        for font in self.delayedFonts:
            font.addObjects(self)
        self.info.invariant = self.invariant
        self.info.digest(self.signature)
        self.Reference(self.Catalog)
        self.Reference(self.info)
        self.Outlines.prepare(self, canvas)
        if self.Outlines.ready < 0:
            self.Catalog.Outlines = None
        self._finish()

    def _finish(self) -> None:
        """reportlab's PDFDocument.format, for the objects not yet written, with
        the cross-reference table written as it is made."""
        if self.Pages.pages:
            raise ValueError("a page was shown but not written (flush_page was not called)")
        self.encrypt.prepare(self)
        if self.encrypt.info():
            raise ValueError("a streaming document cannot be encrypted")
        cat, info = self.Catalog, self.info
        self.Reference(cat)
        self.Reference(info)
        number = 0
        while True:  # objects may be added while others are formatted
            number += 1
            if number < len(self._offsets) and self._offsets[number]:
                continue
            name = self.numberToId.get(number)
            if name is None:
                break
            self._write_object(name, self.idToObject[name])
        count = number - 1
        if self._file is None:
            self._file = _open(self._out, self._pdfVersion)
        out = self._file
        xref = out.add(b"xref\n0 %d\n0000000000 65535 f \n" % (count + 1))
        for n in range(1, count + 1):
            offset = self._offsets[n] if n < len(self._offsets) else 0
            if not offset:
                raise ValueError(f"object {n} was never written")
            out.add(b"%010d 00000 n \n" % offset)
        trailer = PDFTrailer(startxref=xref, Size=count + 1, Root=self.Reference(cat), Info=self.Reference(info), ID=self.ID())
        out.add(trailer.format(self))


def _open(out: IO[bytes], version: tuple[int, int]) -> PDFFile:
    """reportlab's output collector, writing to ``out`` instead of collecting."""
    collector = PDFFile(version)
    header = b"".join(collector.strings)
    collector.strings = []
    collector.write = out.write  # type: ignore[method-assign]
    out.write(header)
    return collector


def stream_to(canvas: Any, out: IO[bytes]) -> StreamingDocument:
    """Make ``canvas`` (just made) write its pages to ``out`` as they are finished."""
    doc = canvas._doc  # noqa: SLF001 - reportlab's document
    if doc.Pages.pages or doc.pageCounter > 1:
        raise ValueError("stream_to needs a canvas that has shown no page yet")
    doc.__class__ = StreamingDocument
    doc._out, doc._file = out, None
    doc._offsets, doc._page_numbers = array("q"), array("l")
    doc._resources, doc._boxes, doc._late = {}, {}, {}
    doc.Pages = doc.Catalog.Pages = _PageTree(doc._page_numbers)
    return doc
