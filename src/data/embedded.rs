//! Datasets compiled into the binary (CC BY 4.0, see data/README.md), so the demo and the default
//! `train` run on a fresh machine with no files. Referenced as `embedded:NAME`.

/// (name, `label<TAB>text` content) of every embedded dataset.
pub const EMBEDDED: [(&str, &str); 3] = [
    ("uci_yelp", include_str!("../../data/uci_yelp.tsv")),
    ("uci_imdb", include_str!("../../data/uci_imdb.tsv")),
    ("uci_amazon", include_str!("../../data/uci_amazon.tsv")),
];

/// The content of `embedded:NAME` (or of plain `NAME`).
pub fn embedded(name: &str) -> Option<&'static str> {
    let name = name.strip_prefix("embedded:").unwrap_or(name);
    EMBEDDED.iter().find(|(n, _)| *n == name).map(|(_, text)| *text)
}

/// Reads `path`, or the embedded dataset when `path` is `embedded:NAME`.
pub fn read_table(path: &std::path::Path, opts: &super::ReadOptions) -> crate::Result<super::TextTable> {
    match path.to_str().and_then(|p| p.strip_prefix("embedded:")) {
        Some(name) => {
            let text = embedded(name).ok_or_else(|| {
                crate::Error::InvalidInput(format!(
                    "no embedded dataset '{name}': there are {}",
                    EMBEDDED.map(|(n, _)| format!("embedded:{n}")).join(", ")
                ))
            })?;
            super::parse_text_table(text, path, opts)
        }
        None => super::read_text_table(path, opts),
    }
}
