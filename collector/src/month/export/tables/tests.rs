use super::*;

#[test]
fn titles_are_valid_excel_sheet_names() {
    for lang in [Lang::En, Lang::ZhCn] {
        let mut seen = std::collections::HashSet::new();
        for id in TableId::ALL {
            let t = id.title(lang);
            assert!(!t.is_empty() && t.chars().count() <= 31, "{t:?}");
            assert!(!t.chars().any(|c| "[]:*?/\\".contains(c)), "{t:?}");
            assert!(!t.starts_with('\'') && !t.ends_with('\''), "{t:?}");
            assert!(seen.insert(t.to_lowercase()), "duplicate sheet name {t:?}");
        }
    }
}

#[test]
fn table_names_parse_back() {
    for id in TableId::ALL {
        assert_eq!(id.name().parse::<TableId>().unwrap(), id);
    }
    assert!("hostz".parse::<TableId>().is_err());
}
