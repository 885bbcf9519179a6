//! The CSV / TSV / JSONL reader with the option combinations the command line offers: the first
//! byte picks format, header, columns, unlabelled, skip and multiline; the rest is the file.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use lstm_transfer::data::{Column, ReadOptions, TableFormat, parse_text_bytes};

fuzz_target!(|data: &[u8]| {
    let Some((&knobs, content)) = data.split_first() else { return };
    let format = [TableFormat::Csv, TableFormat::Tsv, TableFormat::Jsonl][(knobs % 3) as usize];
    let opts = ReadOptions {
        format: Some(format),
        label: (knobs & 4 != 0).then(|| if format == TableFormat::Jsonl { Column::Name("label".into()) } else { Column::Index(1) }),
        text: if knobs & 8 != 0 { vec![Column::Index(0), Column::Name("text".into())] } else { Vec::new() },
        header: (knobs & 16 != 0).then_some(true),
        unlabeled: knobs & 32 != 0,
        skip_bad_rows: knobs & 64 != 0,
        multiline_fields: knobs & 128 != 0,
    };
    let _ = parse_text_bytes(content, Path::new("fuzz.txt"), &opts);
});
