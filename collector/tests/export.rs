//! Exports of the monthly report (`zerofault_collector::month::export`).
//!
//! The fixture is a hand-built January 2026 report (Asia/Shanghai) in English and in
//! Chinese: hosts with and without figures, a link fault that suppressed a host and a
//! link, a backbone level without links, a collector gap, an unknown label and a name
//! with HTML metacharacters.
//!
//! - JSON, every CSV table and the HTML page are compared byte for byte with
//!   `tests/golden/export/<lang>/`. An export is an interface (people's spreadsheets and
//!   scripts read it), so a change must be deliberate: regenerate with
//!   `ZEROFAULT_UPDATE_GOLDEN=1 cargo test -p zerofault-collector --test export` and
//!   review the diff.
//! - The XLSX workbook is read back by a real reader (Debian's openpyxl): values equal the
//!   model's, number formats are the documented ones.
//! - The HTML page is printed to PDF by headless Chromium.
//!
//! Missing openpyxl or Chromium fails the test (scripts/test installs both).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use zerofault_collector::month::export::tables::{self, TableId};
use zerofault_collector::month::export::{self, ExportError, Format, Lang};
use zerofault_collector::month::sla::model::*;
use zerofault_tests::golden;

/// Debian's interpreter, which sees the Debian package python3-openpyxl (a python3
/// earlier on PATH, e.g. from pyenv, may not).
const PYTHON: &str = "/usr/bin/python3";
const CHROMIUM: &str = "/usr/bin/chromium";

// Instants of the fixture, Unix ms (Asia/Shanghai is UTC+8 all year).
/// 2026-01-01T00:00+08:00.
const MONTH_START: i64 = 1_767_196_800_000;
/// 2026-02-01T00:00+08:00.
const MONTH_END: i64 = 1_769_875_200_000;
/// 2026-02-01T09:30+08:00: fixed, so the golden files do not change with the clock.
const GENERATED: i64 = 1_769_909_400_000;
/// 2026-01-10T10:00+08:00 .. 10:30: the city-county link fault.
const LINK_FAULT: (i64, i64) = (1_768_010_400_000, 1_768_012_200_000);
/// 2026-01-20T03:15+08:00 .. 03:35: the host fault.
const HOST_FAULT: (i64, i64) = (1_768_850_100_000, 1_768_851_300_000);
/// 2026-01-25T23:50+08:00 .. 2026-01-26T00:00: the collector gap.
const GAP: (i64, i64) = (1_769_356_200_000, 1_769_356_800_000);

const MONTH_MINUTES: f64 = 31.0 * 1440.0;

/// Figures from minutes, computed as docs/sla.md defines them (fixture input, not a
/// result under test: the exports only show figures).
/// `minutes` is `[degraded, down, maintenance, unknown]`; up is the rest of the month.
fn figures(
    minutes: [f64; 4],
    faults: u32,
    fault_minutes: f64,
    longest: f64,
    target: Option<f64>,
) -> Figures {
    let [degraded, down, maintenance, unknown] = minutes;
    let up = MONTH_MINUTES - degraded - down - maintenance - unknown;
    let avail_base = up + degraded + down;
    let availability = (avail_base > 0.0).then(|| (up + degraded) / avail_base);
    let outside = MONTH_MINUTES - maintenance;
    Figures {
        availability,
        coverage: (outside > 0.0).then(|| avail_base / outside),
        minutes: StateMinutes {
            up,
            degraded,
            down,
            maintenance,
            unknown,
        },
        faults,
        fault_minutes,
        mttr_minutes: (faults > 0).then(|| fault_minutes / f64::from(faults)),
        mtbf_minutes: (faults > 0).then(|| (up + degraded) / f64::from(faults)),
        longest_outage_minutes: longest,
        target,
        target_met: match (availability, target) {
            (Some(a), Some(t)) => Some(a >= t),
            _ => None,
        },
    }
}

fn s(v: &str) -> String {
    v.to_string()
}

/// The fixture report, names in `lang`.
fn fixture(lang: Lang) -> MonthReport {
    let zh = lang == Lang::ZhCn;
    let name = |en: &str, cn: &str| if zh { s(cn) } else { s(en) };
    let host_a = figures([0.0, 20.0, 120.0, 0.0], 1, 20.0, 20.0, Some(0.999));
    let host_b = figures([0.0, 45.0, 0.0, 15.0], 0, 0.0, 30.0, Some(0.9995));
    // Installed on the last day: unknown all month, so availability is not defined.
    let host_c = figures([0.0, 0.0, 0.0, MONTH_MINUTES], 0, 0.0, 0.0, Some(0.999));
    let link_pc = figures([90.0, 0.0, 240.0, 0.0], 0, 0.0, 0.0, Some(0.9999));
    let link_cc = figures([0.0, 30.0, 0.0, 0.0], 1, 30.0, 30.0, Some(0.9999));
    let link_ct = figures([0.0, 30.0, 0.0, 10.0], 0, 0.0, 30.0, None);
    let group = |code: &str, n: &str, members: u32, meeting: u32, f: &Figures| GroupRow {
        code: s(code),
        name: n.to_string(),
        members,
        members_meeting_target: meeting,
        figures: f.clone(),
    };
    let mut fin = host_a.clone();
    fin.availability = Some((host_a.availability.unwrap() + host_b.availability.unwrap()) / 2.0);
    fin.faults = 1;
    // The department's own target (inventory `departments[].target`), not a host's.
    fin.target = Some(0.9995);
    fin.target_met = fin.availability.map(|a| a >= 0.9995);
    // Data centers have no target in the inventory.
    let mut dc = fin.clone();
    dc.target = None;
    dc.target_met = None;
    MonthReport {
        model_version: MODEL_VERSION,
        month: s("2026-01"),
        time_zone: s("Asia/Shanghai"),
        start_unix_ms: MONTH_START,
        end_unix_ms: MONTH_END,
        slot_seconds: 60,
        fault_min_seconds: 180,
        generated_unix_ms: GENERATED,
        lang: s(lang.tag()),
        closed: true,
        month_to_date: false,
        as_of_unix_ms: None,
        organisation: name("Huzhou Big Data Bureau", "湖州市大数据发展管理局"),
        seal: Some(Seal {
            closed_unix_ms: GENERATED,
            manifest: s("MANIFEST.sha256"),
            signature: s("MANIFEST.sha256.sig"),
            manifest_sha256: Some(s(
                "9f2c5e0d8a4b7c1e3f6a9d2b5c8e1f4a7d0c3b6e9f2a5d8c1b4e7f0a3d6c9b2e",
            )),
        }),
        collector_gaps: vec![CollectorGap {
            start_unix_ms: GAP.0,
            end_unix_ms: GAP.1,
        }],
        hosts: vec![
            HostRow {
                agent_id: s("agent-a"),
                hostname: s("app-01"),
                department: s("fin"),
                business_system: s("tax"),
                data_center: s("dc1"),
                site: s("city-a"),
                figures: host_a.clone(),
                suppressed_by: vec![],
            },
            HostRow {
                agent_id: s("agent-b"),
                hostname: s("db-01"),
                department: s("fin"),
                business_system: s("tax"),
                data_center: s("dc1"),
                site: s("county-b"),
                figures: host_b.clone(),
                suppressed_by: vec![s("link-cc-1")],
            },
            HostRow {
                agent_id: s("agent-c"),
                hostname: s("edge-03"),
                department: s("rnd"),
                business_system: s(""),
                data_center: s(""),
                site: s(""),
                figures: host_c.clone(),
                suppressed_by: vec![],
            },
        ],
        links: vec![
            LinkRow {
                link_id: s("link-cc-1"),
                name: name("City A - County B", "甲市-乙县"),
                level: s("city-county"),
                domain: s("public"),
                from_site: s("city-a"),
                to_site: s("county-b"),
                figures: link_cc.clone(),
                avg_loss_ratio: Some(0.0034),
                avg_rtt_ms: Some(7.25),
                p95_rtt_ms: Some(11.5),
                jitter_ms: Some(0.8),
                suppressed_by: vec![],
            },
            LinkRow {
                link_id: s("link-ct-1"),
                name: name("County B - Township C", "乙县-丙乡"),
                level: s("county-township"),
                domain: s("administrative"),
                from_site: s("county-b"),
                to_site: s("town-c"),
                figures: link_ct.clone(),
                avg_loss_ratio: None,
                avg_rtt_ms: None,
                p95_rtt_ms: None,
                jitter_ms: None,
                suppressed_by: vec![s("link-cc-1")],
            },
            LinkRow {
                link_id: s("link-pc-1"),
                name: s(""),
                level: s("province-city"),
                domain: s("administrative"),
                from_site: s("province"),
                to_site: s("city-a"),
                figures: link_pc.clone(),
                avg_loss_ratio: Some(0.000125),
                avg_rtt_ms: Some(3.2),
                p95_rtt_ms: Some(5.9),
                jitter_ms: Some(0.4),
                suppressed_by: vec![],
            },
        ],
        business_systems: vec![group("tax", &name("Tax filing", "税务申报"), 2, 1, &fin)],
        departments: vec![
            group("fin", &name("Finance Bureau", "财政局"), 2, 1, &fin),
            group(
                "rnd",
                &name("R&D \"Lab\" <2>", "研发<实验室> & 二部"),
                1,
                0,
                &host_c,
            ),
        ],
        data_centers: vec![group(
            "dc1",
            &name("Main data center", "主数据中心"),
            2,
            1,
            &dc,
        )],
        backbone: vec![
            BackboneRow {
                level: s("city-county"),
                domain: s("public"),
                links: 1,
                fault_free: false,
                figures: link_cc.clone(),
                worst_links: vec![s("link-cc-1")],
            },
            BackboneRow {
                level: s("county-township"),
                domain: s("administrative"),
                links: 1,
                fault_free: true,
                figures: link_ct.clone(),
                worst_links: vec![s("link-ct-1")],
            },
            BackboneRow {
                level: s("province-city"),
                domain: s("administrative"),
                links: 1,
                fault_free: true,
                figures: link_pc.clone(),
                worst_links: vec![s("link-pc-1")],
            },
            BackboneRow {
                level: s("province-city"),
                domain: s("public"),
                links: 0,
                fault_free: true,
                figures: Figures::default(),
                worst_links: vec![],
            },
        ],
        incidents: vec![
            Incident {
                kind: s("link"),
                id: s("link-cc-1"),
                level: s("city-county"),
                domain: s("public"),
                start_unix_ms: LINK_FAULT.0,
                end_unix_ms: LINK_FAULT.1,
                minutes: 30.0,
                suppressed_hosts: vec![s("agent-b")],
                suppressed_links: vec![s("link-ct-1")],
            },
            Incident {
                kind: s("host"),
                id: s("agent-a"),
                level: s(""),
                domain: s(""),
                start_unix_ms: HOST_FAULT.0,
                end_unix_ms: HOST_FAULT.1,
                minutes: 20.0,
                suppressed_hosts: vec![],
                suppressed_links: vec![],
            },
        ],
        capacity: vec![
            CapacityRow {
                kind: s("data_center"),
                code: s("dc1"),
                name: name("Main data center", "主数据中心"),
                hosts: 2,
                cpu_cores: 48,
                memory_bytes: 192 * (1 << 30),
                storage_bytes: 4 * (1 << 40),
                cpu_avg: Some(0.231),
                cpu_peak: Some(0.97),
                memory_avg: Some(0.612),
                memory_peak: Some(0.88),
                storage_avg: Some(0.55),
                storage_peak: Some(0.71),
                storage_growth: Some(0.05),
                days_until_full: Some(123.4),
                fullest_filesystem: s("agent-b:/var/lib/mysql"),
                cpu_steal_avg: Some(0.031),
                cpu_steal_peak: Some(0.18),
                disk_util_peak: Some(0.92),
                busiest_disk: s("agent-b:sdb"),
                inode_days_until_full: Some(45.6),
                inode_fullest_filesystem: s("agent-a:/var/spool"),
                hosts_clock_unsynchronised: Some(1),
            },
            CapacityRow {
                kind: s("department"),
                code: s("fin"),
                name: name("Finance Bureau", "财政局"),
                hosts: 2,
                cpu_cores: 48,
                memory_bytes: 192 * (1 << 30),
                storage_bytes: 4 * (1 << 40),
                cpu_avg: Some(0.231),
                cpu_peak: Some(0.97),
                memory_avg: Some(0.612),
                memory_peak: Some(0.88),
                storage_avg: Some(0.55),
                storage_peak: Some(0.71),
                storage_growth: None,
                days_until_full: None,
                fullest_filesystem: s(""),
                // A month before issue 17's figures: all empty, none 0.
                cpu_steal_avg: None,
                cpu_steal_peak: None,
                disk_util_peak: None,
                busiest_disk: s(""),
                inode_days_until_full: None,
                inode_fullest_filesystem: s(""),
                hosts_clock_unsynchronised: None,
            },
        ],
        unknown_labels: vec![UnknownLabel {
            agent_id: s("agent-c"),
            label: s("department"),
            value: s("hr-old"),
        }],
        adjustments: vec![
            AdjustmentRow {
                id: 12,
                kind: s("site"),
                code: s("wuxing"),
                // The link fault's half hour, agreed as force majeure (a power cut).
                start_unix_ms: LINK_FAULT.0,
                end_unix_ms: LINK_FAULT.1,
                minutes: 30.0,
                reason: name(
                    "Power cut, force majeure (grid notice 2026-017)",
                    "市电停电，不可抗力（电网通知2026-017）",
                ),
                actor: s("operator:li"),
                created_unix_ms: GENERATED - 86_400_000,
                late: false,
                withdrawn: None,
            },
            AdjustmentRow {
                id: 15,
                kind: s("host"),
                code: s("agent-b"),
                start_unix_ms: HOST_FAULT.0,
                end_unix_ms: HOST_FAULT.1,
                minutes: 0.0,
                reason: s("entered for the wrong host"),
                actor: s("operator:li"),
                created_unix_ms: GENERATED - 3_600_000,
                late: false,
                withdrawn: Some(AdjustmentWithdrawal {
                    actor: s("operator:wang"),
                    at_unix_ms: GENERATED - 1_800_000,
                    reason: s("duplicate of #12"),
                }),
            },
        ],
    }
}

const LANGS: [Lang; 2] = [Lang::En, Lang::ZhCn];

fn golden_dir(lang: Lang) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden/export")
        .join(lang.tag())
}

#[test]
fn json_csv_and_html_match_the_golden_files() {
    for lang in LANGS {
        let report = fixture(lang);
        let dir = golden_dir(lang);
        let mut files = Vec::new();
        for format in [Format::Json, Format::Csv, Format::Html] {
            files.extend(export::render_files(&report, format, lang).unwrap());
        }
        // 1 JSON + 13 CSV tables + 1 HTML.
        assert_eq!(files.len(), 15, "{lang}");
        if golden::updating() {
            std::fs::create_dir_all(&dir).unwrap();
            // Drop stale files so a renamed table does not leave an orphan golden file.
            for e in std::fs::read_dir(&dir).unwrap() {
                std::fs::remove_file(e.unwrap().path()).unwrap();
            }
        }
        for f in &files {
            golden::check(&dir.join(&f.file_name), &f.bytes);
        }
        let on_disk = std::fs::read_dir(&dir).unwrap().count();
        assert_eq!(
            on_disk,
            files.len(),
            "stale golden files in {}",
            dir.display()
        );
    }
}

#[test]
fn json_is_the_model() {
    let report = fixture(Lang::ZhCn);
    let bytes = export::json::render(&report).unwrap();
    let back: MonthReport = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(back, report);
    let v: Value = serde_json::from_slice(&bytes).unwrap();
    assert!(
        v["hosts"][2]["figures"]["availability"].is_null(),
        "None stays null, not 0"
    );
}

fn parse_csv(bytes: &[u8]) -> Vec<Vec<String>> {
    assert!(
        bytes.starts_with(export::csv::BOM),
        "CSV must start with the UTF-8 BOM"
    );
    let mut r = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(&bytes[export::csv::BOM.len()..]);
    r.records()
        .map(|rec| rec.unwrap().iter().map(str::to_string).collect())
        .collect()
}

fn column(
    headers: &[String],
    lang: Lang,
    key: zerofault_collector::month::export::i18n::Key,
) -> usize {
    let h = key.text(lang);
    headers
        .iter()
        .position(|x| x == h)
        .unwrap_or_else(|| panic!("no column {h:?}"))
}

#[test]
fn csv_tables_hold_the_model_numbers() {
    use zerofault_collector::month::export::i18n::Key;
    for lang in LANGS {
        let report = fixture(lang);
        let all = export::csv::render_all(&report, lang).unwrap();
        assert_eq!(
            all.iter().map(|(id, _)| *id).collect::<Vec<_>>(),
            TableId::ALL.to_vec()
        );
        for (id, bytes) in &all {
            let rows = parse_csv(bytes);
            let t = tables::table(&report, lang, *id);
            assert_eq!(rows[0], t.headers, "{id:?} headers");
            assert_eq!(rows.len(), t.rows.len() + 1, "{id:?} rows");
        }
        let hosts = parse_csv(&all[1].1);
        let avail = column(&hosts[0], lang, Key::Availability);
        let down = column(&hosts[0], lang, Key::DownMinutes);
        for (row, host) in hosts[1..].iter().zip(&report.hosts) {
            match host.figures.availability {
                // Rounded to the stated 8 decimals: within 5e-9 of the model, no noise.
                Some(a) => {
                    let got = row[avail].parse::<f64>().unwrap();
                    assert!((got - a).abs() <= 5e-9, "{got} vs {a}");
                    assert!(row[avail].len() <= 10, "{}", row[avail]);
                }
                None => assert_eq!(row[avail], "", "not defined is empty, not 0"),
            }
            assert_eq!(row[down].parse::<f64>().unwrap(), host.figures.minutes.down);
        }
        let incidents = parse_csv(&all[7].1);
        let start = column(&incidents[0], lang, Key::Start);
        assert_eq!(incidents[1][start], "2026-01-10T10:00:00+08:00");
    }
}

#[test]
fn render_to_bytes_and_write() {
    let report = fixture(Lang::En);
    assert!(matches!(
        export::render_to_bytes(&report, Format::Csv, Lang::En, None),
        Err(ExportError::TableRequired)
    ));
    let one =
        export::render_to_bytes(&report, Format::Csv, Lang::En, Some(TableId::Links)).unwrap();
    assert_eq!(one.file_name, "zerofault-2026-01-en-links.csv");
    assert_eq!(parse_csv(&one.bytes).len(), report.links.len() + 1);
    let html = export::render_to_bytes(&report, Format::Html, Lang::En, None).unwrap();
    assert_eq!(html.file_name, "zerofault-2026-01-en.html");

    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("exports/2026-01");
    let csv = export::write(&report, Format::Csv, Lang::En, &out).unwrap();
    assert_eq!(csv.len(), TableId::ALL.len());
    let xlsx = export::write(&report, Format::Xlsx, Lang::En, &out).unwrap();
    assert_eq!(xlsx, vec![out.join("zerofault-2026-01-en.xlsx")]);
    for p in csv.iter().chain(&xlsx) {
        assert!(std::fs::metadata(p).unwrap().len() > 0, "{}", p.display());
    }
    // Only the exports are left behind: no temporary files.
    assert_eq!(std::fs::read_dir(&out).unwrap().count(), csv.len() + 1);

    // A file where the directory should be: the error names the path.
    let blocked = tmp.path().join("blocked");
    std::fs::write(&blocked, b"").unwrap();
    let err = export::write(&report, Format::Json, Lang::En, &blocked).unwrap_err();
    assert!(
        err.to_string().contains(&*blocked.to_string_lossy()),
        "{err}"
    );
}

#[test]
fn html_escapes_text_and_states_the_verdicts() {
    let en =
        String::from_utf8(export::html::render(&fixture(Lang::En), Lang::En).unwrap()).unwrap();
    assert!(en.starts_with("<!DOCTYPE html>\n<html lang=\"en\">"));
    assert!(
        en.contains("R&#38;D &#34;Lab&#34; &#60;2&#62;"),
        "escaped name"
    );
    assert!(!en.contains("<2>"));
    assert!(en.contains("fault-free") && en.contains("1 fault") && en.contains("no links"));
    let zh =
        String::from_utf8(export::html::render(&fixture(Lang::ZhCn), Lang::ZhCn).unwrap()).unwrap();
    assert!(zh.contains("<html lang=\"zh-CN\">"));
    assert!(zh.contains("研发&#60;实验室&#62; &#38; 二部"));
    for text in [
        "零故障",
        "1 次故障",
        "无链路",
        "省-市",
        "行政服务域",
        "公共服务域",
        "可用率",
    ] {
        assert!(zh.contains(text), "{text}");
    }
    for page in [&en, &zh] {
        assert!(
            !page.contains("http://") && !page.contains("https://"),
            "external reference"
        );
        // Nothing that could load a resource even by a relative reference.
        for tag in [
            "<script", "<link", "<img", "<iframe", "<object", "url(", "@import", "src=",
        ] {
            assert!(!page.contains(tag), "{tag} in a self-contained page");
        }
        assert!(page.contains("@page { size: A4"));
        assert_eq!(page.matches("<svg ").count(), 2, "two inline charts");
    }
}

/// Runs `cmd` with a deadline; kills it (by its own pid) when it overruns.
fn run_with_timeout(cmd: &mut Command, limit: Duration) -> std::process::Output {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            return child.wait_with_output().unwrap();
        }
        if start.elapsed() > limit {
            child.kill().ok();
            let out = child.wait_with_output().unwrap();
            panic!(
                "{cmd:?} did not finish within {limit:?}; stderr:\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

const OPENPYXL_DUMP: &str = r#"
import datetime, json, sys
try:
    import openpyxl
except ImportError:
    print("MISSING-OPENPYXL")
    sys.exit(3)
wb = openpyxl.load_workbook(sys.argv[1])
sheets = []
for ws in wb.worksheets:
    rows = []
    for row in ws.iter_rows():
        cells = []
        for c in row:
            v = c.value
            if isinstance(v, datetime.datetime):
                v = {"datetime": v.isoformat()}
            cells.append({"v": v, "fmt": c.number_format, "bold": bool(c.font and c.font.b)})
        rows.append(cells)
    # openpyxl merges adjacent columns of equal width into one range: expand it.
    widths = {}
    for d in ws.column_dimensions.values():
        for i in range(d.min, d.max + 1):
            widths[i] = d.width
    sheets.append({"name": ws.title, "freeze": ws.freeze_panes, "rows": rows, "widths": widths})
print(json.dumps(sheets))
"#;

fn read_xlsx(path: &Path) -> Vec<Value> {
    if !Path::new(PYTHON).exists() {
        panic!("{PYTHON} is missing: install python3 and python3-openpyxl (scripts/test does)");
    }
    let out = run_with_timeout(
        Command::new(PYTHON).arg("-c").arg(OPENPYXL_DUMP).arg(path),
        Duration::from_secs(60),
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    if stdout.contains("MISSING-OPENPYXL") {
        panic!("python3-openpyxl is missing: apt-get install python3-openpyxl (scripts/test does)");
    }
    assert!(
        out.status.success(),
        "openpyxl failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice::<Vec<Value>>(&out.stdout).unwrap()
}

fn col_of(sheet: &Value, header: &str) -> usize {
    sheet["rows"][0]
        .as_array()
        .unwrap()
        .iter()
        .position(|c| c["v"] == header)
        .unwrap_or_else(|| panic!("no column {header:?} in {}", sheet["name"]))
}

/// Asserts one cell holds `want` (or is empty for `None`) with number format `fmt`.
fn assert_number(sheet: &Value, row: usize, header: &str, want: Option<f64>, fmt: &str) {
    let cell = &sheet["rows"][row][col_of(sheet, header)];
    match want {
        Some(w) => {
            assert_eq!(
                cell["v"].as_f64(),
                Some(w),
                "{} row {row} {header}",
                sheet["name"]
            );
            assert_eq!(cell["fmt"], fmt, "{} row {row} {header}", sheet["name"]);
        }
        None => assert!(
            cell["v"].is_null(),
            "{} row {row} {header}: {cell}",
            sheet["name"]
        ),
    }
}

#[test]
fn xlsx_is_reproducible() {
    // The creation date is the report's generation time, not the clock: the same report
    // gives the same bytes (a re-export of a closed month signs identically).
    let report = fixture(Lang::ZhCn);
    let a = export::xlsx::render(&report, Lang::ZhCn).unwrap();
    std::thread::sleep(Duration::from_millis(1100));
    let b = export::xlsx::render(&report, Lang::ZhCn).unwrap();
    assert!(a == b, "two renders of one report differ");
}

#[test]
fn xlsx_reads_back_in_openpyxl() {
    use zerofault_collector::month::export::i18n::Key;
    let tmp = tempfile::tempdir().unwrap();
    for lang in LANGS {
        let report = fixture(lang);
        let path = export::write(&report, Format::Xlsx, lang, tmp.path())
            .unwrap()
            .remove(0);
        let sheets = read_xlsx(&path);
        let names: Vec<&str> = sheets.iter().map(|s| s["name"].as_str().unwrap()).collect();
        let want: Vec<&str> = TableId::ALL.iter().map(|t| t.title(lang)).collect();
        assert_eq!(names, want);
        for (sheet, id) in sheets.iter().zip(TableId::ALL) {
            assert_eq!(sheet["freeze"], "A2", "{id:?}: header row frozen");
            let t = tables::table(&report, lang, id);
            let header: Vec<&Value> = sheet["rows"][0].as_array().unwrap().iter().collect();
            assert_eq!(header.len(), t.headers.len(), "{id:?}");
            for (cell, h) in header.iter().zip(&t.headers) {
                assert_eq!(cell["v"], *h, "{id:?}");
                assert_eq!(cell["bold"], true, "{id:?}: header bold");
            }
            assert_eq!(
                sheet["rows"].as_array().unwrap().len(),
                t.rows.len() + 1,
                "{id:?}"
            );
            assert_eq!(
                sheet["widths"].as_object().unwrap().len(),
                t.headers.len(),
                "{id:?}: every column has a width"
            );
        }
        let k = |key: Key| key.text(lang);
        let hosts = &sheets[1];
        for (i, h) in report.hosts.iter().enumerate() {
            let f = &h.figures;
            assert_number(hosts, i + 1, k(Key::Availability), f.availability, "0.000%");
            assert_number(hosts, i + 1, k(Key::Coverage), f.coverage, "0.000%");
            assert_number(
                hosts,
                i + 1,
                k(Key::DownMinutes),
                Some(f.minutes.down),
                "#,##0",
            );
            assert_number(hosts, i + 1, k(Key::Faults), Some(f64::from(f.faults)), "0");
            assert_number(hosts, i + 1, k(Key::Mttr), f.mttr_minutes, "#,##0");
            assert_number(hosts, i + 1, k(Key::Target), f.target, "0.000%");
        }
        let links = &sheets[2];
        for (i, l) in report.links.iter().enumerate() {
            assert_number(
                links,
                i + 1,
                k(Key::Availability),
                l.figures.availability,
                "0.000%",
            );
            assert_number(links, i + 1, k(Key::AvgLoss), l.avg_loss_ratio, "0.000%");
            assert_number(links, i + 1, k(Key::P95Rtt), l.p95_rtt_ms, "0.00");
        }
        let departments = &sheets[4];
        for (i, d) in report.departments.iter().enumerate() {
            assert_eq!(departments["rows"][i + 1][1]["v"], d.name.as_str());
            assert_number(
                departments,
                i + 1,
                k(Key::Availability),
                d.figures.availability,
                "0.000%",
            );
        }
        let capacity = &sheets[8];
        assert_number(
            capacity,
            1,
            k(Key::MemoryBytes),
            Some(report.capacity[0].memory_bytes as f64),
            "#,##0",
        );
        assert_number(capacity, 2, k(Key::DaysUntilFull), None, "0.0");
        // Times are Excel datetimes in the report's time zone (Asia/Shanghai).
        let incidents = &sheets[7];
        let start = &incidents["rows"][1][col_of(incidents, k(Key::Start))];
        assert_eq!(start["v"]["datetime"], "2026-01-10T10:00:00");
        assert_eq!(start["fmt"], "yyyy-mm-dd hh:mm:ss");
        let gaps = &sheets[11];
        assert_eq!(gaps["rows"][1][1]["v"]["datetime"], "2026-01-26T00:00:00");
        assert_number(gaps, 1, k(Key::Minutes), Some(10.0), "#,##0");
    }
}

#[test]
fn html_prints_to_pdf_in_headless_chromium() {
    if !Path::new(CHROMIUM).exists() {
        panic!("{CHROMIUM} is missing: apt-get install chromium (scripts/test does)");
    }
    let tmp = tempfile::tempdir().unwrap();
    for lang in LANGS {
        let html = export::write(&fixture(lang), Format::Html, lang, tmp.path())
            .unwrap()
            .remove(0);
        let text = std::fs::read_to_string(&html).unwrap();
        assert!(
            !text.contains("http://") && !text.contains("https://"),
            "external reference"
        );
        let pdf = tmp.path().join(format!("{}.pdf", lang.tag()));
        let profile = tmp.path().join(format!("profile-{}", lang.tag()));
        let started = Instant::now();
        let out = run_with_timeout(
            Command::new(CHROMIUM)
                .args([
                    "--headless",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-quic",
                    "--no-first-run",
                    "--disable-background-networking",
                    "--disable-component-update",
                    "--disable-sync",
                ])
                .arg(format!("--user-data-dir={}", profile.display()))
                .arg(format!("--print-to-pdf={}", pdf.display()))
                .arg(format!("file://{}", html.display())),
            Duration::from_secs(120),
        );
        let elapsed = started.elapsed();
        let bytes = std::fs::read(&pdf).unwrap_or_else(|e| {
            panic!(
                "{}: {e}; chromium exited {:?}, stderr:\n{}",
                pdf.display(),
                out.status,
                String::from_utf8_lossy(&out.stderr)
            )
        });
        eprintln!(
            "{lang}: chromium printed {} bytes of PDF in {elapsed:?}",
            bytes.len()
        );
        assert!(bytes.starts_with(b"%PDF-"), "not a PDF");
        // A page with four tables of text and two charts; an empty page is ~1 KiB.
        assert!(
            bytes.len() > 10_000,
            "PDF suspiciously small: {} bytes",
            bytes.len()
        );
    }
}

/// Text of a PDF as `pdftotext -layout` reads it (Debian's poppler-utils).
fn pdftotext(pdf: &Path) -> String {
    const PDFTOTEXT: &str = "/usr/bin/pdftotext";
    if !Path::new(PDFTOTEXT).exists() {
        panic!("{PDFTOTEXT} is missing: apt-get install poppler-utils (scripts/test does)");
    }
    let out = run_with_timeout(
        Command::new(PDFTOTEXT).arg("-layout").arg(pdf).arg("-"),
        Duration::from_secs(60),
    );
    assert!(
        out.status.success(),
        "pdftotext: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn pdf_reads_back_with_its_texts_and_page_numbers() {
    let font = export::pdf::PdfFont::find(None).unwrap_or_else(|e| {
        panic!("{e} (scripts/test installs fonts-wqy-microhei)");
    });
    let options = export::Options {
        pdf_font: Some(font),
    };
    let tmp = tempfile::tempdir().unwrap();
    let keep = std::env::var_os("ZEROFAULT_KEEP_PDF").map(PathBuf::from);
    for lang in LANGS {
        let started = Instant::now();
        let path = export::write_with(&fixture(lang), Format::Pdf, lang, tmp.path(), &options)
            .unwrap()
            .remove(0);
        let elapsed = started.elapsed();
        assert_eq!(
            path.file_name().unwrap().to_string_lossy(),
            format!("zerofault-2026-01-{}.pdf", lang.tag())
        );
        let bytes = std::fs::read(&path).unwrap();
        assert!(bytes.starts_with(b"%PDF-"), "not a PDF");
        eprintln!("{lang}: {} bytes of PDF in {elapsed:?}", bytes.len());
        if let Some(dir) = &keep {
            std::fs::write(dir.join(path.file_name().unwrap()), &bytes).unwrap();
        }
        let text = pdftotext(&path);
        // pdftotext separates pages with a form feed.
        let pages: Vec<&str> = text
            .split('\u{c}')
            .filter(|p| !p.trim().is_empty())
            .collect();
        let n = pages.len();
        assert!(n >= 2, "a first page and an appendix: {n} pages");
        for (i, page) in pages.iter().enumerate() {
            let footer = match lang {
                Lang::En => format!("Page {} of {n}", i + 1),
                Lang::ZhCn => format!("第 {} 页，共 {n} 页", i + 1),
            };
            assert!(
                page.contains(&footer),
                "page {}: no {footer:?} in\n{page}",
                i + 1
            );
        }
        let first = pages[0];
        let want: &[&str] = match lang {
            Lang::En => &[
                "Huzhou Big Data Bureau",
                "Monthly availability report 2026-01",
                "Closed: final figures, signed",
                "Zero-fault verdict",
                "fault-free",
                "1 fault",
                "no links",
                "Finance Bureau (fin)",
                "99.927%",
                "MANIFEST.sha256",
                "9f2c5e0d8a4b7c1e",
                "link-cc-1",
            ],
            Lang::ZhCn => &[
                "湖州市大数据发展管理局",
                "2026-01 月度可用率报告",
                "已关账：最终数据，已签名",
                "零故障结论",
                "零故障",
                "1 次故障",
                "无链路",
                "财政局 (fin)",
                "公共服务域",
                "99.927%",
                "MANIFEST.sha256",
                "link-cc-1",
            ],
        };
        for w in want {
            assert!(
                first.contains(w),
                "{lang}: first page lacks {w:?}:\n{first}"
            );
        }
        let appendix = pages[1..].join("\n");
        let title = match lang {
            Lang::En => "Appendix: figures in detail",
            Lang::ZhCn => "附录：详细数据",
        };
        assert!(appendix.contains(title), "{lang}: {title}");
        for id in TableId::ALL {
            assert!(
                appendix.contains(id.title(lang)),
                "{lang}: appendix lacks the table {:?}",
                id.title(lang)
            );
        }
        // Whole minutes with separators, GiB under a GiB header, no negative zero.
        for w in ["44,500", "192.0", "4,096.0", "agent-b:/var/lib/mysql"] {
            assert!(appendix.contains(w), "{lang}: appendix lacks {w:?}");
        }
        assert!(appendix.contains(if lang == Lang::En {
            "Memory (GiB)"
        } else {
            "内存(GiB)"
        }));
        assert!(
            !text.contains("-0.00") && !text.contains("-0 "),
            "negative zero"
        );
    }
}

#[test]
fn pdf_font_errors_name_the_paths_and_the_package() {
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("nope.ttf");
    let e = export::pdf::PdfFont::find(Some(&missing))
        .unwrap_err()
        .to_string();
    assert!(e.contains(&*missing.to_string_lossy()), "{e}");
    let junk = tmp.path().join("junk.ttf");
    std::fs::write(&junk, b"not a font").unwrap();
    let e = export::pdf::PdfFont::find(Some(&junk))
        .unwrap_err()
        .to_string();
    assert!(e.contains("not a TrueType/OpenType font"), "{e}");
    // A Latin-only font cannot set the Chinese report: an error naming the characters,
    // never a PDF with empty boxes.
    let latin = Path::new("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf");
    if latin.exists() {
        let font = export::pdf::PdfFont::find(Some(latin)).unwrap();
        let e = export::render_files_with(
            &fixture(Lang::ZhCn),
            Format::Pdf,
            Lang::ZhCn,
            &export::Options {
                pdf_font: Some(font),
            },
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("has no glyph for") && e.contains("--pdf-font"),
            "{e}"
        );
    }
}

#[test]
fn a_month_without_gaps_sums_to_zero_not_negative_zero() {
    let mut report = fixture(Lang::En);
    report.collector_gaps.clear();
    let summary =
        parse_csv(&export::csv::render_table(&report, Lang::En, TableId::Summary).unwrap());
    let row = summary
        .iter()
        .find(|r| r[0] == "Collector gap minutes")
        .unwrap();
    assert_eq!(row[1], "0");
    let html = String::from_utf8(export::html::render(&report, Lang::En).unwrap()).unwrap();
    // Dates hold "-0" ("2026-01"); a number cell or figure never starts with "-0".
    for bad in [">-0", " -0.", "-0%", "(-0"] {
        assert!(!html.contains(bad), "negative zero ({bad}) in the HTML");
    }
    assert!(html.contains("Collector not running: 0 gap(s), 0 minutes"));
}
