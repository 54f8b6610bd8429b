//! `zerofault-collector report`: exports a month's SLA report and closes months (the month
//! itself is answered by `crate::month::answer_given`, as over HTTP).

use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Args;

use crate::cmd::console::{
    EXIT_ERROR, EXIT_FAILED, EXIT_OK, ProgressLine, load_config, require_database, runtime,
};
use crate::config::Config;
use crate::inventory::Inventory;
use crate::month::export::{self, Format, Lang};
use crate::month::manifest;
use crate::month::sla::model::MonthReport;
use crate::month::source::{HostSource, MonthRequest, Progress};
use crate::month::{
    answer_given, check_month_has_begun, closing_seal, corrections, frozen, local_time,
    previous_month,
};
use crate::store::{ClosedMonth, Store};

/// `zerofault-collector report`.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Collector configuration file: the database (`storage.sqlite` or `storage.postgres`), the inventory
    /// (`inventory`) and, with --close, the key that signs (`tls.key`, `tls.cert`).
    #[arg(long, short = 'c', value_name = "FILE")]
    pub config: PathBuf,
    /// The month, YYYY-MM, a calendar month in the inventory's time zone. Default: the
    /// previous month. The current month is reported up to now and marked "month to date,
    /// not final".
    #[arg(long, value_name = "YYYY-MM")]
    pub month: Option<String>,
    /// Export formats, comma-separated: csv (one file per table), json (the full model),
    /// xlsx (one sheet per table), html (print-ready, A4, self-contained), pdf (A4, made
    /// here; needs a CJK font, see --pdf-font).
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "json,csv,xlsx,html"
    )]
    pub format: Vec<Format>,
    /// Language of headers, texts and names.
    #[arg(long, value_enum, default_value = "zh-CN")]
    pub lang: Lang,
    /// Output directory (created when missing). Default: ./zerofault-report-YYYY-MM.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Close the month: freeze its figures in the database and sign the exported files
    /// (MANIFEST.sha256, checked with `zerofault-collector verify`). Only a month that is
    /// over, and only once; later data shows as late corrections.
    #[arg(long)]
    pub close: bool,
    /// Font of the PDF export: a TrueType/OpenType file with Chinese (face 0 of a .ttc).
    /// Default: the first found of /usr/share/fonts/truetype/wqy/wqy-microhei.ttc
    /// (package fonts-wqy-microhei), /usr/share/fonts/wqy-microhei/wqy-microhei.ttc (rpm
    /// wqy-microhei-fonts), Noto Sans CJK, Droid Sans Fallback.
    #[arg(long, value_name = "PATH")]
    pub pdf_font: Option<PathBuf>,
    /// Compute the hosts from the stored report bodies instead of the host rollups the
    /// collector keeps as reports arrive: slower (every report is read and decoded), the
    /// same figures; to check the rollups, or after restoring reports without them. Only
    /// reports still retained count.
    #[arg(long)]
    pub from_raw: bool,
    /// Compute the month as of this time (Unix ms) instead of now: two reports of a month
    /// to date made with one value are comparable figure for figure (bench/two-collectors.sh
    /// compares the month made with each collector's configuration). Not with --close.
    #[arg(long, value_name = "UNIX_MS", hide = true, conflicts_with = "close")]
    pub as_of_unix_ms: Option<i64>,
}

/// How often the progress bar is redrawn.
const PROGRESS_EVERY: Duration = Duration::from_millis(200);

/// The progress line of reading the month: with `total` (the stored reports, when they are
/// what is read) a bar of `p.rows` of at most `total`, else the counts so far.
fn reading_bar(p: Progress, total: Option<u64>) -> String {
    let Some(total) = total else {
        return format!(
            "reading host rollups: {} rows, {} agents ",
            p.rows, p.agents
        );
    };
    let pct = if total > 0 {
        (p.rows as f64 / total as f64 * 100.0).min(100.0)
    } else {
        100.0
    };
    let width = 30;
    let filled = (pct / 100.0 * width as f64) as usize;
    format!(
        "[{}{}] {pct:5.1}%  reading reports: {} of at most {total}, {} agents ",
        "#".repeat(filled),
        "-".repeat(width - filled),
        p.rows,
        p.agents
    )
}

/// Runs `report`; returns the exit code.
pub fn run(args: &ReportArgs) -> u8 {
    let config = match load_config(&args.config) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let inventory = match config.load_inventory() {
        Ok(Some(i)) => i,
        Ok(None) => Inventory::default(),
        Err(e) => {
            eprintln!("{}: `inventory`: {e}", args.config.display());
            return EXIT_ERROR;
        }
    };
    if let Err(code) = require_database(
        &config,
        &args.config,
        "run `zerofault-collector serve` first",
    ) {
        return code;
    }
    let runtime = match runtime() {
        Ok(r) => r,
        Err(code) => return code,
    };
    runtime.block_on(async {
        let store = match crate::store::open(&config.storage, &config.links.thresholds).await {
            Ok(s) => s,
            Err(e) => {
                eprintln!("error: {e}");
                return EXIT_FAILED;
            }
        };
        let code = run_with(args, &config, &inventory, store.as_ref()).await;
        store.close().await;
        code
    })
}

async fn run_with(
    args: &ReportArgs,
    config: &Config,
    inventory: &Inventory,
    store: &dyn Store,
) -> u8 {
    let now_ms = args
        .as_of_unix_ms
        .unwrap_or_else(zerofault_common::now_unix_ms);
    let month = args
        .month
        .clone()
        .unwrap_or_else(|| previous_month(inventory, now_ms));
    let (start_ms, end_ms) = match inventory.month_bounds(&month) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("error: --month {month:?}: {e}");
            return EXIT_ERROR;
        }
    };
    if let Err(e) = check_month_has_begun(inventory, &month, (start_ms, end_ms), now_ms) {
        eprintln!("error: --month: {e}");
        return EXIT_ERROR;
    }
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("zerofault-report-{month}")));
    let lang = args.lang;
    let mut console = ProgressLine::new(PROGRESS_EVERY);
    // Counting every report costs a scan of them: only worth it when they are what is read.
    let total = if args.from_raw {
        Some(store.count_reports().await.unwrap_or(0))
    } else {
        None
    };
    let frozen = match frozen(store, &month).await {
        Ok(f) => f,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_FAILED;
        }
    };
    if args.close {
        if let Some((c, _)) = &frozen {
            eprintln!(
                "error: {month} was closed at {} (Unix ms); a month is closed once. Run without --close to export it with its late corrections.",
                c.closed_unix_ms
            );
            return EXIT_FAILED;
        }
        if now_ms < end_ms {
            eprintln!(
                "error: {month} is not over yet: its figures are month to date, not final; it can be closed from its end on, {} ({})",
                local_time(inventory, end_ms),
                inventory.time_zone_name()
            );
            return EXIT_FAILED;
        }
    }
    let req = MonthRequest {
        month: month.clone(),
        lang: lang.tag().to_owned(),
        now_ms,
        closed: args.close,
        hosts: if args.from_raw {
            HostSource::Raw
        } else {
            HostSource::Rollups
        },
    };
    let answer = match answer_given(frozen, store, inventory, &config.links, &req, &mut |p| {
        console.show(|| reading_bar(p, total))
    })
    .await
    {
        Ok(a) => a,
        Err(e) => {
            eprintln!("\nerror: {e}");
            return EXIT_FAILED;
        }
    };
    let current = answer.current();
    console.step(&format!(
        "computed {month}: {} hosts, {} links",
        current.hosts.len(),
        current.links.len()
    ));
    if let Some(as_of) = current.as_of_unix_ms.filter(|_| current.month_to_date) {
        eprintln!(
            "note: {month} is not over: the figures cover it up to {} ({}), month to date, not final",
            local_time(inventory, as_of),
            inventory.time_zone_name()
        );
    }
    // A closed month exports its frozen figures; what changed since goes beside them.
    let mut report = answer.report;
    let late = answer
        .closed
        .map(|c| (c.late_corrections, c.late_adjustments));
    if args.close {
        report.seal = Some(closing_seal(now_ms, None));
    }
    // The PDF font is found (or the named one read) before anything is written, so a
    // missing font fails the command at once, naming the paths tried.
    let mut options = export::Options::default();
    if args.format.contains(&Format::Pdf) {
        match export::pdf::PdfFont::find(args.pdf_font.as_deref()) {
            Ok(f) => options.pdf_font = Some(f),
            Err(e) => {
                eprintln!("error: {e}");
                return EXIT_ERROR;
            }
        }
    }
    let mut written = Vec::new();
    for format in &args.format {
        console.step(&format!("writing {}", format.name()));
        match export::write_with(&report, *format, lang, &out, &options) {
            Ok(files) => written.extend(files),
            Err(e) => {
                eprintln!("error: {e}");
                return EXIT_FAILED;
            }
        }
    }
    if let Some((late, adjustments)) = &late {
        match corrections::write(late, adjustments, &month, lang, &out) {
            Ok(path) => written.push(path),
            Err(e) => {
                eprintln!("error: cannot write {}: {e}", out.display());
                return EXIT_FAILED;
            }
        }
        eprintln!(
            "{month} is closed: exported its frozen figures; {} late correction(s) since closing, {} of the SLA adjustments made or withdrawn since",
            late.len(),
            adjustments.len()
        );
    }
    if args.close {
        match close(store, config, &report, &out, &written, now_ms).await {
            Ok(manifest) => {
                println!("closed {month}; signed manifest: {}", manifest.display());
            }
            Err(e) => {
                eprintln!("error: {e}");
                return EXIT_FAILED;
            }
        }
    }
    for f in &written {
        println!("{}", f.display());
    }
    EXIT_OK
}

/// Signs the exported files and stores the frozen report.
async fn close(
    store: &dyn Store,
    config: &Config,
    report: &MonthReport,
    out: &Path,
    written: &[PathBuf],
    now_ms: i64,
) -> Result<PathBuf, String> {
    let read = |p: &Path, key: &str| {
        std::fs::read_to_string(p).map_err(|e| {
            format!(
                "cannot read {} ({key} in the collector config): {e}; --close signs with the collector's key",
                p.display()
            )
        })
    };
    let key = read(&config.tls.key, "tls.key")?;
    let cert = read(&config.tls.cert, "tls.cert")?;
    let manifest_path =
        manifest::write_manifest(written, out, &key, &cert).map_err(|e| e.to_string())?;
    let manifest_text = std::fs::read_to_string(&manifest_path)
        .map_err(|e| format!("cannot read back {}: {e}", manifest_path.display()))?;
    let report_json = serde_json::to_vec(report).map_err(|e| e.to_string())?;
    let digest = hex::encode(ring::digest::digest(
        &ring::digest::SHA256,
        manifest_text.as_bytes(),
    ));
    let stored = store
        .close_month(ClosedMonth {
            month: report.month.clone(),
            closed_unix_ms: now_ms,
            report_json,
            manifest: manifest_text,
        })
        .await
        .map_err(|e| e.to_string())?;
    if !stored {
        return Err(format!(
            "{} was closed meanwhile by another process; its frozen report stays as it was",
            report.month
        ));
    }
    crate::audit::record_now(
        store,
        &config.audit,
        &config.instance_name(),
        crate::audit::events::month_closed(&report.month, &digest, false),
    )
    .await
    .map_err(|e| format!("closed, but the audit record could not be written: {e:#}"))?;
    Ok(manifest_path)
}
