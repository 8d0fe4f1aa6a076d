"""docker's tables: Go's text/tabwriter as docker/cli vendors it, and formatter.Context.

formatter.go writes tables through ``tabwriter.NewWriter(out, 10, 1, 3, ' ', 0)``: minwidth 10,
tabwidth 1, padding 3, space padding, no flags. A column is as wide as its widest cell plus 3,
never under 10; cells are tab-terminated, so a line's last cell (the text before its newline)
belongs to no column and is never padded. Tab-terminated cells in consecutive lines form a
column; a line with fewer cells ends that column block (elastic tabstops). docker/cli's copy
measures cells with go-runewidth (East Asian wide characters count 2), not rune counts.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping, Sequence
from typing import Any

from cnmsim.docker.gotemplate import HEADER_FUNCS, ExecError, TemplateError, parse, strip_table

MINWIDTH, TABWIDTH, PADDING = 10, 1, 3


def char_width(c: str) -> int:
    """go-runewidth's width of one rune: 0 for controls and combining marks, 2 for wide ones."""
    o = ord(c)
    if o < 0x20 or 0x7F <= o < 0xA0 or o in (0x200B, 0x200C, 0x200D, 0xFEFF):
        return 0
    if unicodedata.category(c) in ("Mn", "Me"):
        return 0
    return 2 if unicodedata.east_asian_width(c) in ("W", "F") else 1


def string_width(s: str) -> int:
    """runewidth.StringWidth: the display width of a cell."""
    return sum(char_width(c) for c in s)


class TabWriter:
    """text/tabwriter.Writer (the docker/cli copy): write text, then flush() for the output."""

    def __init__(self, minwidth: int = MINWIDTH, tabwidth: int = TABWIDTH, padding: int = PADDING,
                 padchar: str = " ", discard_empty_columns: bool = False) -> None:
        self.minwidth, self.tabwidth, self.padding = minwidth, tabwidth, padding
        self.padchar, self.discard_empty = padchar, discard_empty_columns
        self.out: list[str] = []
        self.lines: list[list[tuple[str, int, bool]]] = [[]]  # (text, width, tab-terminated)
        self.cell: list[str] = []
        self.widths: list[int] = []

    def write(self, text: str) -> None:
        for ch in text:
            if ch not in "\t\v\n\f":
                self.cell.append(ch)
                continue
            self._terminate_cell(ch == "\t")
            if ch in "\n\f":
                ncells = len(self.lines[-1])
                self.lines.append([])
                if ch == "\f" or ncells == 1:
                    # a one-cell line cannot affect later columns: format what we have
                    self._flush()

    def flush(self) -> str:
        """Format everything buffered and return all output written so far."""
        self._flush()
        out, self.out = "".join(self.out), []
        return out

    def _terminate_cell(self, htab: bool) -> None:
        text = "".join(self.cell)
        self.lines[-1].append((text, string_width(text), htab))
        self.cell = []

    def _flush(self) -> None:
        if self.cell:
            self._terminate_cell(False)
        self._format(0, len(self.lines))
        self.lines, self.widths = [[]], []

    def _format(self, line0: int, line1: int) -> None:
        column = len(self.widths)
        this = line0
        while this < line1:
            if column >= len(self.lines[this]) - 1:
                this += 1
                continue
            # a cell exists in this column: this line starts a column block
            self._write_lines(line0, this)
            line0 = this
            width, discardable = self.minwidth, True
            while this < line1 and column < len(self.lines[this]) - 1:
                _, w, htab = self.lines[this][column]
                width = max(width, w + self.padding)
                discardable = discardable and w == 0 and not htab
                this += 1
            if discardable and self.discard_empty:
                width = 0
            self.widths.append(width)
            self._format(line0, this)
            self.widths.pop()
            line0 = this
        self._write_lines(line0, line1)

    def _write_lines(self, line0: int, line1: int) -> None:
        for i in range(line0, line1):
            for j, (text, w, _) in enumerate(self.lines[i]):
                self.out.append(text)
                if j < len(self.widths):
                    self._pad(w, self.widths[j])
            if i + 1 < len(self.lines):
                self.out.append("\n")

    def _pad(self, textw: int, cellw: int) -> None:
        if self.padchar == "\t":
            if self.tabwidth:
                cellw = (cellw + self.tabwidth - 1) // self.tabwidth * self.tabwidth
                self.out.append("\t" * ((cellw - textw + self.tabwidth - 1) // self.tabwidth))
            return
        self.out.append(self.padchar * (cellw - textw))


def tabwrite_text(text: str, minwidth: int = MINWIDTH, tabwidth: int = TABWIDTH,
                  padding: int = PADDING, padchar: str = " ") -> str:
    """Run tab-separated text through docker's tabwriter settings (or others)."""
    tw = TabWriter(minwidth, tabwidth, padding, padchar)
    tw.write(text)
    return tw.flush()


def tabwrite(rows: Sequence[Sequence[str]]) -> str:
    """Rows of cells as docker prints a table: tab-separated, newline-terminated, aligned."""
    return tabwrite_text("".join("\t".join(r) + "\n" for r in rows))


class FormatError(Exception):
    """A --format that failed; ``str()`` is the line the CLI prints on stderr (exit status 1)."""


def pre_format(fmt: str) -> tuple[str, bool]:
    """Context.preFormat: strip ``table``, ``json`` means ``{{json .}}``, trim spaces, and turn
    the two-character escapes \\t and \\n into a tab and a newline. Returns (template, is_table)."""
    body, is_table = strip_table(fmt)
    if not is_table and fmt == "json":
        body = "{{json .}}"
    body = body.strip(" ")
    return body.replace("\\t", "\t").replace("\\n", "\n"), is_table


def format_rows(template: str, headers: Mapping[str, str], items: Sequence[Any]) -> str:
    """formatter.Context.Write: one line per item, and for ``table`` formats a header line from
    ``headers`` (run with docker's HeaderFunctions) and tabwriter alignment.

    Raises FormatError (``template parsing error: ...``) when the format does not parse or a row
    fails; an error in the header is ignored, keeping what it printed, as docker does.
    """
    body, is_table = pre_format(template)
    try:
        tmpl = parse(body)
    except TemplateError as e:
        raise FormatError(f"template parsing error: {e}") from None
    lines = []
    for item in items:
        try:
            lines.append(tmpl.execute(item) + "\n")
        except ExecError as e:
            raise FormatError(f"template parsing error: {e}") from None
    if not is_table:
        return "".join(lines)
    try:
        header = tmpl.execute(headers, funcs=HEADER_FUNCS)
    except ExecError as e:
        header = e.partial
    return tabwrite_text(header + "\n" + "".join(lines))
