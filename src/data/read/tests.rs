//! Tests of the table reader.

use std::path::{Path, PathBuf};

use super::*;
use crate::error::Result;

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
    assert_eq!(triples(&table), [(Some("1"), "He said \"great\"", 1), (Some("0"), "\"unbalanced quote", 2), (Some("1"), "\"quoted\"", 3)]);
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
        multiline_fields: true,
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
    let opts = ReadOptions { text: names(&["Description"]), header: Some(true), multiline_fields: true, ..Default::default() };
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
    let multiline = ReadOptions { multiline_fields: true, ..Default::default() };
    let e = parse_bytes(csv, Path::new("fake.csv"), &multiline).unwrap_err().to_string();
    assert!(e.contains("line 3: expected UTF-8"), "{e}");
    let e = parse_bytes(b"{\"label\": 1, \"text\": \"\xff\"}\n", Path::new("f.jsonl"), &ReadOptions::default()).unwrap_err().to_string();
    assert!(e.contains("line 1: expected UTF-8"), "{e}");
}

#[test]
fn unknown_column_name_lists_the_header() {
    let opts = ReadOptions { label: Some(Column::Name("Class".into())), skip_bad_rows: true, multiline_fields: true, ..Default::default() };
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
    let opts = ReadOptions { text: names(&["text"]), multiline_fields: true, ..Default::default() };
    let table = parse("label,text\r\n1,\"a\r\nb\"\r\n\r\n0,c\r\n", "fake.csv", &opts).unwrap();
    assert_eq!(triples(&table), [(Some("1"), "a\r\nb", 2), (Some("0"), "c", 5)]);
}

#[test]
fn csv_multiline_fields_report_their_first_line() {
    let content = "1,\"first\nsecond\nthird\"\n\n\n0,next\n2,\"x\"\n";
    let table = parse(content, "fake.csv", &ReadOptions { multiline_fields: true, ..Default::default() }).unwrap();
    assert_eq!(triples(&table), [(Some("1"), "first\nsecond\nthird", 1), (Some("0"), "next", 6), (Some("2"), "x", 7)]);
    // Without --multiline-fields a field spanning lines is refused: most often a quote left open
    // mid-file, which merges the rows after it into one field.
    let e = err("1,ok\n0,\"open\n1,lost\n0,\"closed here\"\n", "fake.csv", &ReadOptions::default());
    assert!(e.contains("line 2: a quoted field runs over several lines") && e.contains("--multiline-fields"), "{e}");
    // A quote left open would swallow the rest of the file: an error even when skipping bad rows.
    let opts = ReadOptions { skip_bad_rows: true, multiline_fields: true, ..Default::default() };
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
