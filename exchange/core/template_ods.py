"""The model declaration as an OpenDocument spreadsheet (.ods, LibreOffice's own format): the same sheets, example
line and column formats as the .xlsx model (identifiers and dates as text, rates as percentages)."""

from __future__ import annotations

import io
import zipfile
from xml.sax.saxutils import escape, quoteattr

from exchange.core.template import RATE_FORMAT, TEXT_FORMAT, column_format, example_value, help_rows
from schemas.declaration import Kind, columns

MIMETYPE = b"application/vnd.oasis.opendocument.spreadsheet"
NS = (
    'xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
    'xmlns:style="urn:oasis:names:tc:opendocument:xmlns:style:1.0" '
    'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" '
    'xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" '
    'xmlns:number="urn:oasis:names:tc:opendocument:xmlns:datastyle:1.0" '
    'xmlns:fo="urn:oasis:names:tc:opendocument:xmlns:xsl-fo-compatible:1.0" '
    'office:version="1.3"'
)
# Data styles and the cell style of each column format (text `@`, number `0,00`, percentage `0,00 %`).
STYLES = (
    '<number:text-style style:name="N_TEXTE"><number:text-content/></number:text-style>'
    '<number:number-style style:name="N_NOMBRE" number:language="fr" number:country="FR">'
    '<number:number number:decimal-places="2" number:min-decimal-places="2" number:min-integer-digits="1"/>'
    "</number:number-style>"
    '<number:percentage-style style:name="N_POURCENT" number:language="fr" number:country="FR">'
    '<number:number number:decimal-places="2" number:min-decimal-places="2" number:min-integer-digits="1"/>'
    "<number:text> %</number:text></number:percentage-style>"
    '<style:style style:name="texte" style:family="table-cell" style:data-style-name="N_TEXTE"/>'
    '<style:style style:name="nombre" style:family="table-cell" style:data-style-name="N_NOMBRE"/>'
    '<style:style style:name="pourcent" style:family="table-cell" style:data-style-name="N_POURCENT"/>'
    '<style:style style:name="entete" style:family="table-cell" style:data-style-name="N_TEXTE">'
    '<style:text-properties fo:font-weight="bold"/></style:style>'
    '<style:style style:name="large" style:family="table-column">'
    '<style:table-column-properties style:column-width="4.5cm"/></style:style>'
)
CELL_STYLE = {TEXT_FORMAT: "texte", RATE_FORMAT: "pourcent"}


def _cell(value: str | float | None, style: str) -> str:
    if value is None:
        return f'<table:table-cell table:style-name="{style}"/>'
    if isinstance(value, float):
        kind = "percentage" if style == "pourcent" else "float"
        shown = f"{value * 100:.2f} %" if kind == "percentage" else f"{value:.2f}"
        return (
            f'<table:table-cell table:style-name="{style}" office:value-type="{kind}" office:value="{value!r}">'
            f"<text:p>{shown.replace('.', ',')}</text:p></table:table-cell>"
        )
    return (
        f'<table:table-cell table:style-name="{style}" office:value-type="string">'
        f"<text:p>{escape(value)}</text:p></table:table-cell>"
    )


def template_ods(kind: Kind) -> bytes:
    """The .ods model: first sheet the declaration (header, example line, formatted columns), second « Aide »."""
    names = columns(kind)
    styles = [CELL_STYLE.get(column_format(c), "nombre") for c in names]
    cols = "".join(
        f'<table:table-column table:style-name="large" table:default-cell-style-name="{s}"/>' for s in styles
    )
    header = "".join(_cell(c, "entete") for c in names)
    example = "".join(_cell(example_value(kind, c), s) for c, s in zip(names, styles, strict=True))
    help_table = "".join(
        "<table:table-row>" + "".join(_cell(v, "texte") for v in row) + "</table:table-row>"
        if row
        else "<table:table-row><table:table-cell/></table:table-row>"
        for row in help_rows(kind, "ods")
    )
    content = (
        f'<?xml version="1.0" encoding="UTF-8"?><office:document-content {NS}>'
        f"<office:automatic-styles>{STYLES}</office:automatic-styles><office:body><office:spreadsheet>"
        f"<table:table table:name={quoteattr(f'Déclaration {kind}')}>{cols}"
        f"<table:table-row>{header}</table:table-row><table:table-row>{example}</table:table-row></table:table>"
        '<table:table table:name="Aide"><table:table-column table:style-name="large" '
        f'table:number-columns-repeated="3"/>{help_table}</table:table>'
        "</office:spreadsheet></office:body></office:document-content>"
    )
    manifest = (
        '<?xml version="1.0" encoding="UTF-8"?><manifest:manifest '
        'xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0" manifest:version="1.3">'
        f'<manifest:file-entry manifest:full-path="/" manifest:media-type="{MIMETYPE.decode()}"/>'
        '<manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml"/>'
        "</manifest:manifest>"
    )
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:  # mimetype first and stored, as OpenDocument requires
        z.writestr(zipfile.ZipInfo("mimetype"), MIMETYPE, compress_type=zipfile.ZIP_STORED)
        z.writestr("content.xml", content, compress_type=zipfile.ZIP_DEFLATED)
        z.writestr("META-INF/manifest.xml", manifest, compress_type=zipfile.ZIP_DEFLATED)
    return out.getvalue()
