//! CSV (RFC 4180 quoting) and TSV (no quoting) records, and the column plan that turns them into rows.

use std::borrow::Cow;

use super::{Collector, Column, ReadOptions, join_texts, snippet};
use crate::error::Result;

/// Reads a TSV file into `out`; returns the header's line when there is one.
pub(super) fn read_tsv(content: &[u8], opts: &ReadOptions, out: &mut Collector) -> Result<Option<usize>> {
    read_delimited(tsv_records(content), Delimiter::Tab, opts, out)
}

/// Reads a CSV file into `out`; returns the header's line when there is one.
pub(super) fn read_csv(content: &[u8], opts: &ReadOptions, out: &mut Collector) -> Result<Option<usize>> {
    let records = csv_records(content, opts.multiline_fields).map_err(|message| out.error(message))?;
    read_delimited(records, Delimiter::Comma, opts, out)
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
fn csv_records(content: &[u8], multiline_fields: bool) -> Result<Vec<Record>, String> {
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
        // A field spanning lines is most often a quote left open, which merges the rows after it.
        if !multiline_fields && record.iter().any(|f| f.contains(&b'\n')) {
            return Err(format!(
                "line {line}: a quoted field runs over several lines (an unclosed `\"`? it would merge the rows after it); \
                 if the texts really hold line breaks, pass --multiline-fields"
            ));
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
    let (mut byte, mut line) =
        position.map_or((0, 1), |p| (usize::try_from(p.byte()).unwrap_or(usize::MAX), usize::try_from(p.line()).unwrap_or(usize::MAX)));
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
