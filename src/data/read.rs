//! Reading labelled (or unlabelled) text tables — CSV, TSV and JSON Lines — into `(label, text)` rows.
//!
//! One reader serves the CLI (`train`, `eval`, `predict`) and the transfer experiments, so that every
//! dataset on disk, whatever its layout, ends up as the same [`TextTable`]. The reader never panics and
//! never drops data silently: a malformed row is either an error naming the file and the line, or (with
//! [`ReadOptions::skip_bad_rows`]) recorded in [`TextTable::skipped`].

use std::borrow::Cow;
use std::fmt;
use std::path::Path;
use std::str::FromStr;

use serde_json::Value;

use crate::error::{Error, Result};

/// File format of a text table. `None` in [`ReadOptions::format`] means: from the extension
/// (see [`TableFormat::from_path`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TableFormat {
    /// Comma-separated values with RFC 4180 quoting: quoted fields may hold commas, doubled quotes and
    /// line breaks.
    Csv,
    /// Tab-separated values without quoting: a `"` is an ordinary character, because TSV texts
    /// (reviews, questions) contain quotes freely and are never quoted.
    Tsv,
    /// JSON Lines: one JSON object per line, fields picked by key.
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
    let bytes = std::fs::read(path)
        .map_err(|e| Error::File { path: path.to_path_buf(), message: format!("could not read the file: {e}") })?;
    parse_bytes(&bytes, path, opts)
}

/// Parses a text table held in memory; `source` is the name used in errors (e.g. an embedded dataset)
/// and, when [`ReadOptions::format`] is `None`, picks the format by its extension.
pub fn parse_text_table(content: &str, source: &Path, opts: &ReadOptions) -> Result<TextTable> {
    parse_bytes(content.as_bytes(), source, opts)
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
        TableFormat::Tsv => read_delimited(tsv_records(content), Delimiter::Tab, opts, &mut out)?,
        TableFormat::Csv => {
            let records = csv_records(content).map_err(|message| out.error(message))?;
            read_delimited(records, Delimiter::Comma, opts, &mut out)?
        }
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

/// The field separator of a delimited format, for reading and for messages.
#[derive(Clone, Copy)]
enum Delimiter {
    Tab,
    Comma,
}

impl Delimiter {
    fn as_str(self) -> &'static str {
        match self {
            Delimiter::Tab => "\t",
            Delimiter::Comma => ",",
        }
    }

    fn adjective(self) -> &'static str {
        match self {
            Delimiter::Tab => "tab-separated",
            Delimiter::Comma => "comma-separated",
        }
    }
}

/// One non-blank record of a CSV/TSV file, before columns are picked.
struct Record {
    /// 1-based line where the record starts.
    line: usize,
    /// The fields, untrimmed; decoded lossily when `utf8_error` is set (good enough for a header).
    fields: Vec<String>,
    /// Why the record is not valid UTF-8, if it is not.
    utf8_error: Option<String>,
}

/// TSV records: one per physical line, split on every tab. Done by hand rather than with the `csv`
/// crate so that a record is exactly a line (no quoting, `\r` only stripped at the end of a line).
fn tsv_records(content: &[u8]) -> Vec<Record> {
    let mut records = Vec::new();
    for (i, raw) in content.split(|&b| b == b'\n').enumerate() {
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        let (text, utf8_error) = match std::str::from_utf8(raw) {
            Ok(s) => (Cow::Borrowed(s), None),
            Err(e) => (String::from_utf8_lossy(raw), Some(e.to_string())),
        };
        // A line of only spaces and tabs is blank too: it carries no label and no text.
        if utf8_error.is_none() && text.trim().is_empty() {
            continue;
        }
        records.push(Record { line: i + 1, fields: text.split('\t').map(str::to_string).collect(), utf8_error });
    }
    records
}

/// CSV records through the `csv` crate (RFC 4180 quoting, flexible lengths, any line ending). Errors
/// are messages for the file error, starting with `line N: ` where known.
fn csv_records(content: &[u8]) -> Result<Vec<Record>, String> {
    let mut reader = csv::ReaderBuilder::new().has_headers(false).flexible(true).from_reader(content);
    let mut record = csv::ByteRecord::new();
    let mut records = Vec::new();
    let mut last_start = None;
    loop {
        match reader.read_byte_record(&mut record) {
            Ok(true) => {}
            Ok(false) => break,
            // Reading from a byte slice with flexible lengths leaves no error csv can report, but a
            // future version might add one: fail with what it says rather than panic or skip.
            Err(e) => {
                return Err(match e.position() {
                    Some(p) => format!("line {}: could not read CSV: {e}", p.line()),
                    None => format!("could not read CSV: {e}"),
                });
            }
        }
        let (start, line) = record_start(content, record.position());
        last_start = Some((start, line));
        let mut utf8_error = None;
        let fields = record
            .iter()
            .map(|field| match std::str::from_utf8(field) {
                Ok(s) => s.to_string(),
                Err(e) => {
                    utf8_error.get_or_insert_with(|| e.to_string());
                    String::from_utf8_lossy(field).into_owned()
                }
            })
            .collect::<Vec<_>>();
        // csv already skips empty lines; a line of only spaces is one blank field, and blank too.
        if utf8_error.is_none() && fields.len() == 1 && fields[0].trim().is_empty() {
            continue;
        }
        records.push(Record { line, fields, utf8_error });
    }
    // csv ends a quoted field left open at the end of the input as if it were closed, which would
    // swallow the rest of the file into one field without a word. Only the last record can be open,
    // since an open quote runs to the end. This is an error even under skip_bad_rows: skipping the
    // record would silently drop every line after the stray quote.
    if let Some((start, line)) = last_start
        && quote_left_open(&content[start..])
    {
        return Err(format!(
            "line {line}: expected a closing `\"` for a quoted field of the record starting here, \
             found the end of the file (a stray quote? every line after it was read into that field)"
        ));
    }
    Ok(records)
}

/// The byte offset and 1-based line where a csv record really starts. csv's position can point at
/// the line breaks before the record (the end of the previous one, or blank lines it skipped), so those
/// are stepped over, counting lines.
fn record_start(content: &[u8], position: Option<&csv::Position>) -> (usize, usize) {
    let (mut byte, mut line) = position.map_or((0, 1), |p| {
        (usize::try_from(p.byte()).unwrap_or(usize::MAX), usize::try_from(p.line()).unwrap_or(usize::MAX))
    });
    byte = byte.min(content.len());
    while let Some(&b) = content.get(byte) {
        match b {
            b'\n' => line = line.saturating_add(1),
            b'\r' => {}
            _ => break,
        }
        byte += 1;
    }
    (byte, line)
}

/// Whether the CSV text ends inside a quoted field, following the same rules as csv: a `"` opens a
/// quoted field only at the start of a field, `""` inside it is a literal quote, and a `"` elsewhere is
/// an ordinary character.
fn quote_left_open(text: &[u8]) -> bool {
    #[derive(PartialEq)]
    enum State {
        FieldStart,
        Unquoted,
        Quoted,
        QuoteInQuoted,
    }
    let mut state = State::FieldStart;
    for &b in text {
        state = match (state, b) {
            (State::Quoted, b'"') => State::QuoteInQuoted,
            (State::Quoted, _) => State::Quoted,
            (State::QuoteInQuoted, b'"') => State::Quoted,
            (State::FieldStart, b'"') => State::Quoted,
            (_, b',' | b'\n' | b'\r') => State::FieldStart,
            _ => State::Unquoted,
        };
    }
    state == State::Quoted
}

/// Which fields of a CSV/TSV record make the text.
enum TextColumns {
    /// Every field except the label's (`None` when unlabelled: every field).
    AllExcept(Option<usize>),
    /// These fields, in this order.
    List(Vec<usize>),
}

/// The columns to read, resolved to indices, with the header (if any) for naming them in messages.
struct Plan {
    label: Option<usize>,
    text: TextColumns,
    header: Option<Vec<String>>,
    delimiter: Delimiter,
}

impl Plan {
    /// The fewest fields a record must have. With default text columns a labelled row needs at least
    /// one field besides the label: `1` alone is a label without text, as in a line with no tab.
    fn min_fields(&self) -> usize {
        match (&self.text, self.label) {
            (TextColumns::AllExcept(_), Some(label)) => (label + 1).max(2),
            (TextColumns::AllExcept(_), None) => 1,
            (TextColumns::List(cols), label) => cols.iter().copied().chain(label).max().map_or(1, |m| m + 1),
        }
    }

    /// `column 2`, or `column 2 ("Title")` when there is a header.
    fn name(&self, index: usize) -> String {
        match self.header.as_ref().and_then(|h| h.get(index)) {
            Some(name) => format!("column {index} ({:?})", name.trim()),
            None => format!("column {index}"),
        }
    }

    /// Where the label and text are expected, for the "too few fields" message.
    fn layout(&self) -> String {
        let text = match &self.text {
            TextColumns::AllExcept(Some(_)) => "text in the other columns".to_string(),
            TextColumns::AllExcept(None) => "text in all columns".to_string(),
            TextColumns::List(cols) => {
                format!("text in {}", cols.iter().map(|&c| self.name(c)).collect::<Vec<_>>().join(" + "))
            }
        };
        match self.label {
            Some(label) => format!("label in {}, {text}", self.name(label)),
            None => text,
        }
    }

    /// The label and text of a record, or why it is malformed.
    fn row(&self, record: &Record) -> Result<(Option<String>, String), String> {
        if let Some(e) = &record.utf8_error {
            return Err(format!("expected UTF-8 text, found invalid bytes ({e})"));
        }
        let fields = &record.fields;
        let need = self.min_fields();
        if fields.len() < need {
            return Err(format!(
                "expected at least {need} {} fields ({}), found {}: {}",
                self.delimiter.adjective(),
                self.layout(),
                fields.len(),
                snippet(&fields.join(self.delimiter.as_str()))
            ));
        }
        let label = match self.label {
            Some(i) => {
                let label = fields[i].trim();
                if label.is_empty() {
                    return Err(format!("expected a label in {}, found an empty field", self.name(i)));
                }
                Some(label.to_string())
            }
            None => None,
        };
        let text = match &self.text {
            TextColumns::AllExcept(skip) => {
                join_texts(fields.iter().enumerate().filter(|(i, _)| Some(*i) != *skip).map(|(_, f)| f.as_str()))
            }
            TextColumns::List(cols) => join_texts(cols.iter().map(|&i| fields[i].as_str())),
        };
        Ok((label, text))
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

/// Reads CSV/TSV records into `out`; returns the header's line when there is a header.
fn read_delimited(records: Vec<Record>, delimiter: Delimiter, opts: &ReadOptions, out: &mut Collector) -> Result<Option<usize>> {
    let label_column = if opts.unlabeled { None } else { Some(opts.label.clone().unwrap_or(Column::Index(0))) };
    let named = label_column.iter().chain(&opts.text).find(|c| matches!(c, Column::Name(_)));
    let has_header = opts.header.unwrap_or(named.is_some());
    if let (false, Some(column)) = (has_header, named) {
        return Err(out.error(format!(
            "column {column} is given by name, but the file is read without a header row; \
             give columns by 0-based index, or read the first row as a header"
        )));
    }
    let mut records = records.into_iter();
    let header = if has_header {
        match records.next() {
            Some(header) => Some(header),
            // No header row means no rows at all: "no examples" says so better than a missing column.
            None => return Ok(None),
        }
    } else {
        None
    };
    let header_line = header.as_ref().map(|h| h.line);
    let header_fields = header.map(|h| h.fields);
    let resolve = |column: &Column| -> Result<usize> {
        match column {
            Column::Index(i) => Ok(*i),
            Column::Name(name) => {
                // `named` forced a header whenever a name is used, so the header is there.
                let fields = header_fields.as_deref().unwrap_or_default();
                fields.iter().position(|f| f.trim() == name.trim()).ok_or_else(|| {
                    let columns = fields.iter().map(|f| format!("{:?}", f.trim())).collect::<Vec<_>>().join(", ");
                    out.error(format!(
                        "line {}: expected a column named {name:?} in the header, found only: {columns}",
                        header_line.unwrap_or(1)
                    ))
                })
            }
        }
    };
    let label = label_column.as_ref().map(resolve).transpose()?;
    let text = if opts.text.is_empty() {
        TextColumns::AllExcept(label)
    } else {
        TextColumns::List(opts.text.iter().map(resolve).collect::<Result<_>>()?)
    };
    let plan = Plan { label, text, header: header_fields, delimiter };
    for record in records {
        out.take(record.line, plan.row(&record))?;
    }
    Ok(header_line)
}

/// Reads JSON Lines into `out`: each non-blank line one object, label and text picked by key.
fn read_jsonl(content: &[u8], opts: &ReadOptions, out: &mut Collector) -> Result<()> {
    // Indices are meaningless for objects (key order is not part of JSON): a mistake in the options,
    // not in any row, so it fails even under skip_bad_rows.
    let key = |column: &Column| match column {
        Column::Name(name) => Ok(name.trim().to_string()),
        Column::Index(i) => Err(out.error(format!(
            "JSONL fields are picked by key, but column {i} is given by index; give the key instead \
             (the defaults are \"label\" and \"text\")"
        ))),
    };
    let label_key = match (&opts.label, opts.unlabeled) {
        (_, true) => None,
        (Some(column), false) => Some(key(column)?),
        (None, false) => Some("label".to_string()),
    };
    let text_keys = if opts.text.is_empty() {
        vec!["text".to_string()]
    } else {
        opts.text.iter().map(key).collect::<Result<Vec<_>>>()?
    };
    for (i, raw) in content.split(|&b| b == b'\n').enumerate() {
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        let outcome = match std::str::from_utf8(raw) {
            Ok(line) if line.trim().is_empty() => continue,
            Ok(line) => json_row(line, label_key.as_deref(), &text_keys),
            Err(e) => Err(format!("expected UTF-8 text, found invalid bytes ({e})")),
        };
        out.take(i + 1, outcome)?;
    }
    Ok(())
}

/// The label and text of one JSON Lines line, or why it is malformed.
fn json_row(line: &str, label_key: Option<&str>, text_keys: &[String]) -> Result<(Option<String>, String), String> {
    // The usual mistake is a whole-file JSON array given as JSON Lines; say so.
    let hint = if line.trim_start().starts_with('[') { " (JSON Lines needs one object per line, not a JSON array)" } else { "" };
    let value: Value = serde_json::from_str(line).map_err(|e| {
        // serde_json counts lines within the one line it was given; only the column is news.
        let message = e.to_string();
        let message = message.strip_suffix(&format!(" at line {} column {}", e.line(), e.column())).unwrap_or(&message);
        format!("expected a JSON object, found invalid JSON ({message} at column {}){hint}", e.column())
    })?;
    let map = match value {
        Value::Object(map) => map,
        other => return Err(format!("expected a JSON object, found {}{hint}", kind(&other))),
    };
    let get = |key: &str| {
        map.get(key).ok_or_else(|| {
            let mut keys = map.keys().take(10).map(|k| format!("{k:?}")).collect::<Vec<_>>().join(", ");
            if map.len() > 10 {
                keys.push_str(", …");
            }
            if keys.is_empty() { format!("expected key {key:?}, found an empty object") } else { format!("expected key {key:?}, found keys {keys}") }
        })
    };
    let label = match label_key {
        Some(key) => {
            let label = match get(key)? {
                Value::String(s) => s.trim().to_string(),
                Value::Number(n) => n.to_string(),
                Value::Bool(b) => b.to_string(),
                other => return Err(format!("expected {key:?} to be a string, number or boolean label, found {}", kind(other))),
            };
            if label.is_empty() {
                return Err(format!("expected a label in {key:?}, found an empty string"));
            }
            Some(label)
        }
        None => None,
    };
    let mut parts = Vec::with_capacity(text_keys.len());
    for key in text_keys {
        parts.push(match get(key)? {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            other => return Err(format!("expected {key:?} to be a string, found {}", kind(other))),
        });
    }
    Ok((label, join_texts(parts.iter().map(String::as_str))))
}

/// "an array", "null", ...: what a JSON value is, for messages.
fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn parse(content: &str, name: &str, opts: &ReadOptions) -> Result<TextTable> {
        parse_text_table(content, Path::new(name), opts)
    }

    fn err(content: &str, name: &str, opts: &ReadOptions) -> String {
        parse(content, name, opts).unwrap_err().to_string()
    }

    /// `(label, text, line)` triples, for compact assertions.
    fn triples(table: &TextTable) -> Vec<(Option<&str>, &str, usize)> {
        table.rows.iter().map(|r| (r.label.as_deref(), r.text.as_str(), r.line)).collect()
    }

    fn names(names: &[&str]) -> Vec<Column> {
        names.iter().map(|n| Column::Name(n.to_string())).collect()
    }

    #[test]
    fn headerless_tsv_with_defaults() {
        let content = "1\tWow... Loved this place.\n\n0\t  Crust is not good. \nDESC\tpart one\tpart two\n1\t\n";
        let table = parse(content, "fake.tsv", &ReadOptions::default()).unwrap();
        assert_eq!(
            triples(&table),
            [
                (Some("1"), "Wow... Loved this place.", 1),
                (Some("0"), "Crust is not good.", 3),
                (Some("DESC"), "part one part two", 4),
                (Some("1"), "", 5),
            ]
        );
        assert!(table.skipped.is_empty());
        // .txt and unknown extensions read as TSV too.
        assert_eq!(parse(content, "fake.txt", &ReadOptions::default()).unwrap().rows, table.rows);
        assert_eq!(parse(content, "embedded", &ReadOptions::default()).unwrap().rows, table.rows);
    }

    #[test]
    fn tsv_keeps_quotes_inside_text() {
        let content = "1\tHe said \"great\"\n0\t\"unbalanced quote\n1\t\"quoted\"\n";
        let table = parse(content, "fake.tsv", &ReadOptions::default()).unwrap();
        assert_eq!(
            triples(&table),
            [(Some("1"), "He said \"great\"", 1), (Some("0"), "\"unbalanced quote", 2), (Some("1"), "\"quoted\"", 3)]
        );
    }

    #[test]
    fn csv_with_header_and_named_columns() {
        let content = "\"Class Index\",Title,Description\n\
                       3,\"Wall St, Bears\",\"Short-sellers are\nseeing green again.\"\n\
                       \n\
                       4,Tech,\"He said \"\"plain\"\"\"\n\
                       2,Only title,\n";
        let opts = ReadOptions {
            label: Some(Column::Name("Class Index".into())),
            text: names(&["Title", "Description"]),
            ..Default::default()
        };
        let table = parse(content, "fake.csv", &opts).unwrap();
        assert_eq!(
            triples(&table),
            [
                (Some("3"), "Wall St, Bears Short-sellers are\nseeing green again.", 2),
                (Some("4"), "Tech He said \"plain\"", 5),
                (Some("2"), "Only title", 6),
            ]
        );
        // Text by name in another order; label by index; the header given explicitly.
        let opts = ReadOptions { text: names(&["Description"]), header: Some(true), ..Default::default() };
        let table = parse(content, "fake.csv", &opts).unwrap();
        assert_eq!(table.rows[0].text, "Short-sellers are\nseeing green again.");
        assert_eq!(table.rows[2].text, "");
    }

    #[test]
    fn ag_news_style_headerless_csv_by_indices() {
        let content = "\"3\",\"Wall St. Bears Claw Back Into the Black (Reuters)\",\"Reuters - Short-sellers, Wall Street's dwindling\\band of ultra-cynics, are seeing green again.\"\n\
                       \"4\",\"Title two\",\"Description two\"\n";
        let opts = ReadOptions { label: Some(Column::Index(0)), text: vec![Column::Index(1), Column::Index(2)], ..Default::default() };
        let table = parse(content, "train.csv", &opts).unwrap();
        assert_eq!(
            triples(&table),
            [
                (
                    Some("3"),
                    "Wall St. Bears Claw Back Into the Black (Reuters) Reuters - Short-sellers, Wall Street's dwindling\\band of ultra-cynics, are seeing green again.",
                    1
                ),
                (Some("4"), "Title two Description two", 2),
            ]
        );
        // The defaults (label 0, text = the rest) read the same.
        assert_eq!(parse(content, "train.csv", &ReadOptions::default()).unwrap().rows, table.rows);
        // Label in the last column.
        let opts = ReadOptions { label: Some(Column::Index(2)), ..Default::default() };
        let table = parse("a,b,x\nc,d,y\n", "fake.csv", &opts).unwrap();
        assert_eq!(triples(&table), [(Some("x"), "a b", 1), (Some("y"), "c d", 2)]);
    }

    #[test]
    fn jsonl_labels_and_keys() {
        let content = "{\"label\": 1, \"text\": \"good\"}\n{\"label\": \"neg\", \"text\": \" bad \"}\n\n{\"label\": true, \"text\": 5}\r\n";
        let table = parse(content, "fake.jsonl", &ReadOptions::default()).unwrap();
        assert_eq!(triples(&table), [(Some("1"), "good", 1), (Some("neg"), "bad", 2), (Some("true"), "5", 4)]);

        let content = "{\"y\": 0, \"title\": \"T\", \"body\": \"B\"}\n{\"y\": \"1\", \"title\": \"T2\", \"body\": \"\"}\n";
        let opts = ReadOptions { label: Some(Column::Name("y".into())), text: names(&["title", "body"]), ..Default::default() };
        let table = parse(content, "fake.ndjson", &opts).unwrap();
        assert_eq!(triples(&table), [(Some("0"), "T B", 1), (Some("1"), "T2", 2)]);

        // Index columns are an options error, even when skipping bad rows.
        let opts = ReadOptions { text: vec![Column::Index(1)], skip_bad_rows: true, ..Default::default() };
        let e = err(content, "fake.json", &opts);
        assert!(e.contains("fake.json") && e.contains("by index") && e.contains("column 1"), "{e}");

        // Bad rows of each kind, with their reasons.
        let content = "{\"label\": 1, \"text\": \"ok\"}\n\
                       {\"label\": 1, \"text\": \n\
                       [1, 2]\n\
                       {\"label\": 1}\n\
                       {\"label\": null, \"text\": \"x\"}\n\
                       {\"label\": 1, \"text\": [\"x\"]}\n\
                       {\"label\": \" \", \"text\": \"x\"}\n";
        let opts = ReadOptions { skip_bad_rows: true, ..Default::default() };
        let table = parse(content, "fake.jsonl", &opts).unwrap();
        assert_eq!(table.rows.len(), 1);
        let s = &table.skipped;
        assert_eq!(s.len(), 6, "{s:?}");
        assert!(s[0].starts_with("line 2: expected a JSON object, found invalid JSON"), "{}", s[0]);
        assert!(s[1].starts_with("line 3: ") && s[1].contains("an array") && s[1].contains("one object per line"), "{}", s[1]);
        assert!(s[2].starts_with("line 4: expected key \"text\", found keys \"label\""), "{}", s[2]);
        assert!(s[3].starts_with("line 5: ") && s[3].contains("found null"), "{}", s[3]);
        assert!(s[4].starts_with("line 6: ") && s[4].contains("found an array"), "{}", s[4]);
        assert!(s[5].starts_with("line 7: expected a label"), "{}", s[5]);
    }

    #[test]
    fn unlabeled_rows() {
        let opts = ReadOptions { unlabeled: true, ..Default::default() };
        let table = parse("hello world\nfoo\tbar\n\n 1 \n", "fake.tsv", &opts).unwrap();
        assert_eq!(triples(&table), [(None, "hello world", 1), (None, "foo bar", 2), (None, "1", 4)]);
        let table = parse("a,\"b, c\"\nd\n", "fake.csv", &opts).unwrap();
        assert_eq!(triples(&table), [(None, "a b, c", 1), (None, "d", 2)]);
        let table = parse("{\"text\": \"t\"}\n{\"text\": \"u\", \"label\": 3}\n", "fake.jsonl", &opts).unwrap();
        assert_eq!(triples(&table), [(None, "t", 1), (None, "u", 2)]);
        // Named text with a header; the label option is ignored, not required.
        let opts = ReadOptions { unlabeled: true, label: Some(Column::Name("nope".into())), text: names(&["text"]), ..Default::default() };
        let table = parse("id,text\n1,x\n", "fake.csv", &opts).unwrap();
        assert_eq!(triples(&table), [(None, "x", 2)]);
    }

    #[test]
    fn bad_row_error_names_file_and_line() {
        let e = err("1\tgood\n0\tfine\nno tab here\n1\tlater\n", "fake.tsv", &ReadOptions::default());
        assert!(e.contains("fake.tsv") && e.contains("line 3: expected at least 2 tab-separated fields"), "{e}");
        assert!(e.contains("found 1: \"no tab here\""), "{e}");
        let e = err("1\tgood\n\n\t text\n", "fake.tsv", &ReadOptions::default());
        assert!(e.contains("line 3: expected a label in column 0, found an empty field"), "{e}");
        // A CSV row that is too short, with a header to name the columns.
        let opts = ReadOptions { text: names(&["Title", "Description"]), ..Default::default() };
        let e = err("Class,Title,Description\n1,a,b\n2,only\n", "fake.csv", &opts);
        assert!(e.contains("fake.csv") && e.contains("line 3: expected at least 3 comma-separated fields"), "{e}");
        assert!(e.contains("column 2 (\"Description\")") && e.contains("found 2"), "{e}");
    }

    #[test]
    fn skip_bad_rows_counts_and_records() {
        let content = "1\tgood\n0\tfine\nno tab here\n\t empty label\n1\tlast\n";
        let opts = ReadOptions { skip_bad_rows: true, ..Default::default() };
        let table = parse(content, "fake.tsv", &opts).unwrap();
        assert_eq!(table.rows.iter().map(|r| r.line).collect::<Vec<_>>(), [1, 2, 5]);
        assert_eq!(table.skipped.len(), 2);
        assert!(table.skipped[0].starts_with("line 3: "), "{:?}", table.skipped);
        assert!(table.skipped[1].starts_with("line 4: expected a label"), "{:?}", table.skipped);
        // Everything skipped is still "no examples", with the first reason.
        let e = err("a\nb\n", "fake.tsv", &opts);
        assert!(e.contains("fake.tsv") && e.contains("no examples: all 2 rows") && e.contains("line 1: "), "{e}");
    }

    #[test]
    fn invalid_utf8_is_a_bad_row_with_its_line() {
        let source = Path::new("fake.tsv");
        let content = b"1\tok\n0\tbad \xff byte\n1\tok too\n";
        let e = parse_bytes(content, source, &ReadOptions::default()).unwrap_err().to_string();
        assert!(e.contains("fake.tsv") && e.contains("line 2: expected UTF-8"), "{e}");
        let opts = ReadOptions { skip_bad_rows: true, ..Default::default() };
        let table = parse_bytes(content, source, &opts).unwrap();
        assert_eq!((table.rows.len(), table.skipped.len()), (2, 1));
        let csv = b"1,ok\n\n0,\"multi\nline \xff\"\n1,ok\n";
        let e = parse_bytes(csv, Path::new("fake.csv"), &ReadOptions::default()).unwrap_err().to_string();
        assert!(e.contains("line 3: expected UTF-8"), "{e}");
        let e = parse_bytes(b"{\"label\": 1, \"text\": \"\xff\"}\n", Path::new("f.jsonl"), &ReadOptions::default()).unwrap_err().to_string();
        assert!(e.contains("line 1: expected UTF-8"), "{e}");
    }

    #[test]
    fn unknown_column_name_lists_the_header() {
        let opts = ReadOptions { label: Some(Column::Name("Class".into())), skip_bad_rows: true, ..Default::default() };
        let e = err("\n\"Class Index\",Title,Description\n1,a,b\n", "fake.csv", &opts);
        assert!(e.contains("fake.csv") && e.contains("line 2: expected a column named \"Class\""), "{e}");
        assert!(e.contains("\"Class Index\", \"Title\", \"Description\""), "{e}");
        // A name with the header turned off is an error too, not a guess.
        let opts = ReadOptions { text: names(&["Title"]), header: Some(false), ..Default::default() };
        let e = err("1,a\n", "fake.csv", &opts);
        assert!(e.contains("\"Title\" is given by name") && e.contains("without a header"), "{e}");
    }

    #[test]
    fn empty_inputs_are_errors() {
        for (content, name, why) in [
            ("", "fake.tsv", "no non-blank lines"),
            ("\n \n\t\n", "fake.tsv", "no non-blank lines"),
            ("", "fake.csv", "no non-blank lines"),
            ("\n\n", "fake.jsonl", "no non-blank lines"),
        ] {
            let e = err(content, name, &ReadOptions::default());
            assert!(e.contains(name) && e.contains("no examples") && e.contains(why), "{e}");
        }
        let opts = ReadOptions { header: Some(true), ..Default::default() };
        let e = err("label,text\n\n", "fake.csv", &opts);
        assert!(e.contains("no examples: the file has only a header row (line 1)"), "{e}");
    }

    #[test]
    fn crlf_line_endings() {
        let table = parse("1\tone\r\n\r\n0\ttwo\r\n", "fake.tsv", &ReadOptions::default()).unwrap();
        assert_eq!(triples(&table), [(Some("1"), "one", 1), (Some("0"), "two", 3)]);
        let opts = ReadOptions { text: names(&["text"]), ..Default::default() };
        let table = parse("label,text\r\n1,\"a\r\nb\"\r\n\r\n0,c\r\n", "fake.csv", &opts).unwrap();
        assert_eq!(triples(&table), [(Some("1"), "a\r\nb", 2), (Some("0"), "c", 5)]);
    }

    #[test]
    fn csv_multiline_fields_report_their_first_line() {
        let content = "1,\"first\nsecond\nthird\"\n\n\n0,next\n2,\"x\"\n";
        let table = parse(content, "fake.csv", &ReadOptions::default()).unwrap();
        assert_eq!(triples(&table), [(Some("1"), "first\nsecond\nthird", 1), (Some("0"), "next", 6), (Some("2"), "x", 7)]);
        // A quote left open would swallow the rest of the file: an error even when skipping bad rows.
        let opts = ReadOptions { skip_bad_rows: true, ..Default::default() };
        let e = err("1,ok\n0,\"open\n1,lost\n", "fake.csv", &opts);
        assert!(e.contains("fake.csv") && e.contains("line 2: expected a closing `\"`"), "{e}");
        // Quotes that csv treats as ordinary characters are fine.
        let table = parse("1,a \"b\" c\n0,\"x\"\"\"\n", "fake.csv", &ReadOptions::default()).unwrap();
        assert_eq!(triples(&table), [(Some("1"), "a \"b\" c", 1), (Some("0"), "x\"", 2)]);
    }

    #[test]
    fn column_parsing_and_formats() {
        assert_eq!("2".parse::<Column>(), Ok(Column::Index(2)));
        assert_eq!("Title".parse::<Column>(), Ok(Column::Name("Title".into())));
        assert_eq!("+2".parse::<Column>(), Ok(Column::Name("+2".into())));
        assert_eq!("99999999999999999999999".parse::<Column>(), Ok(Column::Name("99999999999999999999999".into())));
        assert!("".parse::<Column>().is_err());
        for (name, format) in [
            ("a.csv", TableFormat::Csv),
            ("a.CSV", TableFormat::Csv),
            ("a.tsv", TableFormat::Tsv),
            ("a.txt", TableFormat::Tsv),
            ("a.jsonl", TableFormat::Jsonl),
            ("a.json", TableFormat::Jsonl),
            ("a.ndjson", TableFormat::Jsonl),
            ("a.data", TableFormat::Tsv),
            ("noext", TableFormat::Tsv),
        ] {
            assert_eq!(TableFormat::from_path(Path::new(name)), format, "{name}");
        }
        // An explicit format wins over the extension.
        let opts = ReadOptions { format: Some(TableFormat::Csv), ..Default::default() };
        assert_eq!(triples(&parse("1,a\n", "x.tsv", &opts).unwrap()), [(Some("1"), "a", 1)]);
    }

    #[test]
    fn reads_files_and_names_them() {
        let dir = std::env::temp_dir().join(format!("lstm-transfer-read-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("bom.csv");
        std::fs::write(&path, b"\xEF\xBB\xBFlabel,text\n1,x\n").unwrap();
        let opts = ReadOptions { text: names(&["text"]), ..Default::default() };
        let table = read_text_table(&path, &opts).unwrap();
        assert_eq!(triples(&table), [(Some("1"), "x", 2)]);
        let missing = dir.join("missing.tsv");
        let e = read_text_table(&missing, &ReadOptions::default()).unwrap_err().to_string();
        assert!(e.contains("missing.tsv") && e.contains("could not read"), "{e}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// The project's shared datasets, when this machine has them: every line must read with defaults.
    #[test]
    fn shared_label_tsv_files_read_with_defaults_if_present() {
        for name in ["sentiment/uci_yelp.tsv", "topic/trec_coarse.tsv"] {
            let path = PathBuf::from("/work/shared/data").join(name);
            let Ok(bytes) = std::fs::read(&path) else { continue };
            let table = read_text_table(&path, &ReadOptions::default()).unwrap();
            let lines = bytes.split(|&b| b == b'\n').filter(|l| !l.trim_ascii().is_empty()).count();
            assert_eq!(table.rows.len(), lines, "{name}");
        }
    }
}
