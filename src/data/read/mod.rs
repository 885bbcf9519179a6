//! Reading labelled (or unlabelled) text tables — CSV, TSV and JSON Lines — into `(label, text)` rows.
//!
//! One reader serves the CLI (`train`, `eval`, `predict`) and the transfer experiments, so that every
//! dataset on disk, whatever its layout, ends up as the same [`TextTable`]. The reader never panics and
//! never drops data silently: a malformed row is either an error naming the file and the line, or (with
//! [`ReadOptions::skip_bad_rows`]) recorded in [`TextTable::skipped`].
//!
//! Layout: this file holds the public types, the entry points and the bad-row policy; `delimited.rs`
//! reads CSV and TSV, `jsonl.rs` JSON Lines.

mod delimited;
mod jsonl;
#[cfg(test)]
mod tests;

use std::fmt;
use std::path::Path;
use std::str::FromStr;

use crate::error::{Error, Result};
use delimited::{read_csv, read_tsv};
use jsonl::read_jsonl;

/// File format of a text table. `None` in [`ReadOptions::format`] means: from the extension
/// (see [`TableFormat::from_path`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
pub enum TableFormat {
    /// Comma-separated values with RFC 4180 quoting: quoted fields may hold commas, doubled quotes and
    /// line breaks.
    Csv,
    /// Tab-separated values without quoting: a `"` is an ordinary character, because TSV texts
    /// (reviews, questions) contain quotes freely and are never quoted.
    Tsv,
    /// JSON Lines: one JSON object per line, fields picked by key.
    #[cfg_attr(feature = "cli", value(alias = "json"))]
    Jsonl,
}

impl TableFormat {
    /// The format implied by a file name: `.csv` → CSV; `.jsonl`, `.json`, `.ndjson` → JSONL; `.tsv`,
    /// `.txt` and anything else → TSV (the project's own datasets are headerless `label<TAB>text`).
    /// The extension is compared case-insensitively.
    pub fn from_path(path: &Path) -> TableFormat {
        let ext = path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase);
        match ext.as_deref() {
            Some("csv") => TableFormat::Csv,
            Some("jsonl" | "json" | "ndjson") => TableFormat::Jsonl,
            _ => TableFormat::Tsv,
        }
    }
}

/// A column picked by header name (CSV/TSV with a header) or key (JSONL), or by 0-based index
/// (CSV/TSV only).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Column {
    /// A header name (CSV/TSV) or object key (JSONL), compared after trimming surrounding whitespace.
    Name(String),
    /// A 0-based field index (CSV/TSV).
    Index(usize),
}

impl FromStr for Column {
    type Err = String;

    /// `"2"` → `Index(2)`; anything else → `Name`. Only plain ASCII digits make an index (`"+2"` or
    /// `" 2"` stay names), so that a header really named `+2` can still be picked. An empty string is
    /// rejected: it can only be a mistake on the command line.
    fn from_str(s: &str) -> Result<Self, String> {
        if s.is_empty() {
            return Err("expected a column name or a 0-based column index, found an empty string".to_string());
        }
        if s.bytes().all(|b| b.is_ascii_digit()) {
            // An index too large for usize cannot address any field; keeping it as a name gives the
            // "no column named ..." error, which lists what there is.
            if let Ok(i) = s.parse() {
                return Ok(Column::Index(i));
            }
        }
        Ok(Column::Name(s.to_string()))
    }
}

impl fmt::Display for Column {
    /// `"Title"` (quoted) for a name, `column 2` for an index: the form used in error messages.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Column::Name(name) => write!(f, "{name:?}"),
            Column::Index(i) => write!(f, "column {i}"),
        }
    }
}

/// How to read a text table. The default reads the project's headerless `label<TAB>text` files (and
/// `label,text` CSV, and JSONL objects with `label` and `text` keys).
///
/// ```
/// use lstm_transfer::data::{Column, ReadOptions, TableFormat, parse_text_table};
///
/// let csv = "stars,title,body\n5,Great,\"Loved it, truly\"\n1,Bad,Cold food\n";
/// let options = ReadOptions {
///     format: Some(TableFormat::Csv),
///     label: Some(Column::Name("stars".into())),
///     text: vec![Column::Name("title".into()), Column::Name("body".into())],
///     ..Default::default()
/// };
/// let table = parse_text_table(csv, "reviews.csv".as_ref(), &options)?;
/// assert_eq!(table.rows[0].label.as_deref(), Some("5"));
/// assert_eq!(table.rows[0].text, "Great Loved it, truly");
/// assert_eq!(table.rows[1].line, 3);
/// # Ok::<(), lstm_transfer::Error>(())
/// ```
#[derive(Clone, Debug, Default)]
pub struct ReadOptions {
    /// File format; `None` → from the extension ([`TableFormat::from_path`]).
    pub format: Option<TableFormat>,
    /// Label column. `None` → default: index 0 for CSV/TSV, key `"label"` for JSONL.
    pub label: Option<Column>,
    /// Text columns, joined with a single space when several (AG News: title + description); empty
    /// fields are left out of the join. Empty → default: every column except the label one for
    /// CSV/TSV; key `"text"` for JSONL.
    pub text: Vec<Column>,
    /// CSV/TSV: whether the first non-blank row is a header. `None` → true iff a column that is read
    /// is given by [`Column::Name`]. Ignored for JSONL.
    pub header: Option<bool>,
    /// Rows have no label at all (unlabelled text, e.g. DANN target data or `predict` input): `label`
    /// is `None` in every row and the label column is neither read nor required (so `label` here is
    /// ignored); with default text columns, a CSV/TSV row's text is all its columns joined.
    pub unlabeled: bool,
    /// Skip malformed rows, recording why in [`TextTable::skipped`], instead of failing on the first.
    /// Problems with the options themselves (an unknown column name, an index for JSONL) still fail.
    pub skip_bad_rows: bool,
    /// CSV only: quoted fields may hold line breaks. Off by default, since a quote left open by
    /// mistake would otherwise merge the following rows into one field without a word.
    pub multiline_fields: bool,
}

/// One example read from a table.
#[derive(Clone, Debug, PartialEq)]
pub struct TextRow {
    /// The label, trimmed, as a string (`"1"`, `"DESC"`, `"true"`); `None` when reading unlabelled.
    pub label: Option<String>,
    /// The text as found, trimmed of surrounding whitespace; may be empty.
    pub text: String,
    /// 1-based line in the file where the row starts (a quoted CSV field may continue on later lines).
    pub line: usize,
}

/// The rows of a table, in file order, and the malformed rows that were skipped.
#[derive(Clone, Debug, Default)]
pub struct TextTable {
    /// The examples, in file order.
    pub rows: Vec<TextRow>,
    /// `"line N: reason"` for each row skipped under [`ReadOptions::skip_bad_rows`], so that callers
    /// can report how much was dropped and why.
    pub skipped: Vec<String>,
}

/// Reads a text table from a file. Errors name the file, and the line where there is one.
pub fn read_text_table(path: &Path, opts: &ReadOptions) -> Result<TextTable> {
    // Bytes, not a String: a single line of invalid UTF-8 must be a bad row with its line number, not a
    // failure of the whole file without one.
    let bytes = crate::fsutil::read_text_file(path)?;
    parse_bytes(&bytes, path, opts)
}

/// Parses a text table held in memory; `source` is the name used in errors (e.g. an embedded dataset)
/// and, when [`ReadOptions::format`] is `None`, picks the format by its extension.
pub fn parse_text_table(content: &str, source: &Path, opts: &ReadOptions) -> Result<TextTable> {
    parse_bytes(content.as_bytes(), source, opts)
}

/// [`parse_text_table`] on bytes (invalid UTF-8 is a bad row with its line).
pub fn parse_text_bytes(content: &[u8], source: &Path, opts: &ReadOptions) -> Result<TextTable> {
    parse_bytes(content, source, opts)
}

/// The reader proper, on bytes so that invalid UTF-8 is found per line.
fn parse_bytes(content: &[u8], source: &Path, opts: &ReadOptions) -> Result<TextTable> {
    // Editors on Windows save UTF-8 with a byte-order mark; left in, it would become part of the first
    // label or header name. It holds no line break, so line numbers are unaffected.
    let content = content.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(content);
    let format = opts.format.unwrap_or_else(|| TableFormat::from_path(source));
    let mut out = Collector { source, skip: opts.skip_bad_rows, table: TextTable::default(), data_rows: 0 };
    let header_line = match format {
        TableFormat::Jsonl => {
            read_jsonl(content, opts, &mut out)?;
            None
        }
        TableFormat::Tsv => read_tsv(content, opts, &mut out)?,
        TableFormat::Csv => read_csv(content, opts, &mut out)?,
    };
    out.finish(header_line)
}

/// Gathers rows and applies the bad-row policy in one place for every format.
struct Collector<'a> {
    source: &'a Path,
    skip: bool,
    table: TextTable,
    /// Non-blank, non-header rows seen, good or bad: tells "empty file" from "everything skipped".
    data_rows: usize,
}

impl Collector<'_> {
    fn error(&self, message: String) -> Error {
        Error::File { path: self.source.to_path_buf(), message }
    }

    /// Keeps a good row; records a bad one under `skip_bad_rows`, or fails with it.
    fn take(&mut self, line: usize, outcome: Result<(Option<String>, String), String>) -> Result<()> {
        self.data_rows += 1;
        match outcome {
            Ok((label, text)) => self.table.rows.push(TextRow { label, text, line }),
            Err(reason) => {
                let message = format!("line {line}: {reason}");
                if !self.skip {
                    return Err(self.error(message));
                }
                self.table.skipped.push(message);
            }
        }
        Ok(())
    }

    /// The table, or an error when it holds no example: training on nothing must not look like success.
    fn finish(self, header_line: Option<usize>) -> Result<TextTable> {
        if !self.table.rows.is_empty() {
            return Ok(self.table);
        }
        let why = if let Some(first) = self.table.skipped.first() {
            format!("all {} rows were malformed and skipped; the first: {first}", self.table.skipped.len())
        } else if let Some(line) = header_line.filter(|_| self.data_rows == 0) {
            format!("the file has only a header row (line {line})")
        } else {
            "the file has no non-blank lines".to_string()
        };
        Err(self.error(format!("no examples: {why}")))
    }
}

/// Joins text fields with one space, each trimmed, leaving out empty ones (no double or trailing
/// spaces when, say, an AG News description is missing).
fn join_texts<'a>(parts: impl Iterator<Item = &'a str>) -> String {
    parts.map(str::trim).filter(|s| !s.is_empty()).collect::<Vec<_>>().join(" ")
}

/// A record as found, shortened for messages; `{:?}` makes tabs and quotes visible.
fn snippet(text: &str) -> String {
    const MAX: usize = 80;
    match text.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{:?}…", &text[..cut]),
        None => format!("{text:?}"),
    }
}
