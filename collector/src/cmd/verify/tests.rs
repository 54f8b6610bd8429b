use super::*;

fn with_files(names: &[&str]) -> Verification {
    Verification {
        signer: None,
        cert_source: PathBuf::new(),
        signature: Ok(()),
        chain: None,
        parse_error: None,
        files: names
            .iter()
            .map(|n| ((*n).to_owned(), FileStatus::Ok))
            .collect(),
    }
}

#[test]
fn the_month_comes_from_the_exported_file_names() {
    let v = with_files(&["MANIFEST.cert.pem", "csv/zerofault-2026-02-en-hosts.csv"]);
    assert_eq!(month_of(&v), "2026-02");
    assert_eq!(month_of(&with_files(&["zerofault-20x6-02-en.json"])), "");
    assert_eq!(month_of(&with_files(&["zerofault-2.json", "other"])), "");
}
