//! Every header and text of the exports, in English and Simplified Chinese.
//!
//! Each [`Key`] carries both translations side by side, so a text cannot exist in one
//! language only (the `match` is exhaustive). Names of departments, links etc. are not
//! here: the model already holds them in the report language.

use super::format::Lang;

/// A translatable text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(missing_docs)] // The variant names are the English texts.
pub enum Key {
    // Document and sections.
    Title,
    Summary,
    Hosts,
    Links,
    BusinessSystems,
    Departments,
    DataCenters,
    Backbone,
    ZeroFaultBackbone,
    Incidents,
    Capacity,
    UnknownLabels,
    CollectorGaps,
    SlaAdjustments,
    DepartmentAvailabilityChart,
    BackboneAvailabilityChart,
    NoRows,
    NotAvailable,
    TargetLine,
    // First page.
    Period,
    StatusClosed,
    StatusOpen,
    ZeroFaultVerdict,
    WorstIncidents,
    Result,
    Met,
    Missed,
    NoTarget,
    Affected,
    ClosedNoSeal,
    Appendix,
    Continued,
    // Summary items.
    Item,
    Value,
    Month,
    TimeZone,
    PeriodStart,
    PeriodEnd,
    MonthToDate,
    SlotSeconds,
    FaultMinSeconds,
    Generated,
    Language,
    Closed,
    ModelVersion,
    HostCount,
    LinkCount,
    IncidentCount,
    CollectorGapCount,
    CollectorGapMinutes,
    BackboneFaultFree,
    // Identity columns.
    AgentId,
    Hostname,
    Department,
    BusinessSystem,
    DataCenter,
    Site,
    LinkId,
    Name,
    Code,
    Level,
    Domain,
    FromSite,
    ToSite,
    Members,
    MembersMeetingTarget,
    Kind,
    Id,
    Start,
    End,
    Minutes,
    SuppressedBy,
    SuppressedHosts,
    SuppressedLinks,
    LinksOfLevel,
    Verdict,
    WorstLinks,
    Label,
    // Figures.
    Availability,
    Coverage,
    UpMinutes,
    DegradedMinutes,
    DownMinutes,
    MaintenanceMinutes,
    UnknownMinutes,
    Faults,
    FaultMinutes,
    Mttr,
    Mtbf,
    LongestOutage,
    Target,
    TargetMet,
    // Link quality.
    AvgLoss,
    AvgRtt,
    P95Rtt,
    Jitter,
    // Capacity.
    CpuCores,
    MemoryBytes,
    StorageBytes,
    MemoryGib,
    StorageGib,
    CpuAvg,
    CpuPeak,
    MemoryAvg,
    MemoryPeak,
    StorageAvg,
    StoragePeak,
    StorageGrowth,
    DaysUntilFull,
    FullestFilesystem,
    // Capacity signals (issue 17).
    CapacitySignals,
    CpuStealAvg,
    CpuStealPeak,
    DiskUtilPeak,
    BusiestDisk,
    InodeDaysUntilFull,
    InodeFullestFilesystem,
    HostsClockUnsynchronised,
    // SLA adjustments.
    Scope,
    Reason,
    MadeBy,
    MadeAt,
    AdjustmentStatus,
    InForce,
    Withdrawn,
    WithdrawnBy,
    WithdrawalReason,
    // Values.
    Yes,
    No,
    FaultFree,
    NoLinks,
    KindHost,
    KindLink,
    KindDataCenter,
    KindDepartment,
}

impl Key {
    /// The text in `lang`.
    pub fn text(self, lang: Lang) -> &'static str {
        let (en, zh) = match self {
            Key::Title => ("Monthly availability report", "月度可用率报告"),
            Key::Summary => ("Summary", "概要"),
            Key::Hosts => ("Hosts", "主机"),
            Key::Links => ("Links", "链路"),
            Key::BusinessSystems => ("Business systems", "业务系统"),
            Key::Departments => ("Departments", "部门"),
            Key::DataCenters => ("Data centers", "数据中心"),
            Key::Backbone => ("Backbone", "骨干网"),
            Key::ZeroFaultBackbone => ("Zero-fault backbone", "骨干网零故障"),
            Key::Incidents => ("Incidents", "故障事件"),
            Key::Capacity => ("Capacity", "容量"),
            Key::UnknownLabels => ("Unknown labels", "未知标签"),
            Key::CollectorGaps => ("Collector gaps", "采集器中断"),
            Key::SlaAdjustments => ("SLA adjustments", "SLA核减"),
            Key::DepartmentAvailabilityChart => ("Availability by department", "各部门可用率"),
            Key::BackboneAvailabilityChart => {
                ("Availability by backbone level", "骨干网各层级可用率")
            }
            Key::NoRows => ("None.", "无。"),
            Key::NotAvailable => ("n/a", "无数据"),
            Key::TargetLine => ("target", "目标"),
            Key::Period => ("Period", "统计周期"),
            Key::StatusClosed => ("Closed: final figures, signed", "已关账：最终数据，已签名"),
            Key::StatusOpen => (
                "Open month: figures may still change",
                "未关账：数据仍可能变化",
            ),
            Key::ZeroFaultVerdict => ("Zero-fault verdict", "零故障结论"),
            Key::WorstIncidents => ("Longest incidents", "时长最长的故障"),
            Key::Result => ("Result", "结果"),
            Key::Met => ("met", "达标"),
            Key::Missed => ("missed", "未达标"),
            Key::NoTarget => ("no target", "无目标"),
            Key::Affected => ("Affected behind it", "受其影响"),
            Key::ClosedNoSeal => (
                "Closed and signed: see MANIFEST.sha256 beside the exports.",
                "已关账并签名：见导出目录中的 MANIFEST.sha256。",
            ),
            Key::Appendix => ("Appendix: figures in detail", "附录：详细数据"),
            Key::Continued => ("(continued)", "（续）"),
            Key::Item => ("Item", "项目"),
            Key::Value => ("Value", "值"),
            Key::Month => ("Month", "月份"),
            Key::TimeZone => ("Time zone", "时区"),
            Key::PeriodStart => ("Period start", "统计开始"),
            Key::PeriodEnd => ("Period end", "统计结束"),
            Key::MonthToDate => ("Month to date, not final, as of", "本月截至（非最终）"),
            Key::SlotSeconds => ("Slot length (s)", "时隙长度(秒)"),
            Key::FaultMinSeconds => ("Fault minimum (s)", "故障最短时长(秒)"),
            Key::Generated => ("Generated", "生成时间"),
            Key::Language => ("Language", "语言"),
            Key::Closed => ("Month closed", "月度已关账"),
            Key::ModelVersion => ("Model version", "模型版本"),
            Key::HostCount => ("Hosts", "主机数"),
            Key::LinkCount => ("Links", "链路数"),
            Key::IncidentCount => ("Incidents", "故障事件数"),
            Key::CollectorGapCount => ("Collector gaps", "采集器中断次数"),
            Key::CollectorGapMinutes => ("Collector gap minutes", "采集器中断时长(分钟)"),
            Key::BackboneFaultFree => ("Fault-free backbone levels", "零故障骨干网层级"),
            Key::AgentId => ("Agent ID", "代理ID"),
            Key::Hostname => ("Hostname", "主机名"),
            Key::Department => ("Department", "部门/单位"),
            Key::BusinessSystem => ("Business system", "业务系统"),
            Key::DataCenter => ("Data center", "数据中心"),
            Key::Site => ("Site", "站点"),
            Key::LinkId => ("Link ID", "链路ID"),
            Key::Name => ("Name", "名称"),
            Key::Code => ("Code", "代码"),
            Key::Level => ("Level", "层级"),
            Key::Domain => ("Domain", "服务域"),
            Key::FromSite => ("From site", "起点站点"),
            Key::ToSite => ("To site", "终点站点"),
            Key::Members => ("Members", "成员数"),
            Key::MembersMeetingTarget => ("Members meeting target", "达标成员数"),
            Key::Kind => ("Kind", "类型"),
            Key::Id => ("ID", "ID"),
            Key::Start => ("Start", "开始"),
            Key::End => ("End", "结束"),
            Key::Minutes => ("Minutes", "时长(分钟)"),
            Key::SuppressedBy => ("Suppressed by", "根因链路"),
            Key::SuppressedHosts => ("Suppressed hosts", "受影响主机"),
            Key::SuppressedLinks => ("Suppressed links", "受影响链路"),
            Key::LinksOfLevel => ("Links", "链路数"),
            Key::Verdict => ("Verdict", "结论"),
            Key::WorstLinks => ("Worst links", "可用率最低链路"),
            Key::Label => ("Label", "标签"),
            Key::Availability => ("Availability", "可用率"),
            Key::Coverage => ("Coverage", "覆盖率"),
            Key::UpMinutes => ("Up (min)", "正常(分钟)"),
            Key::DegradedMinutes => ("Degraded (min)", "降级(分钟)"),
            Key::DownMinutes => ("Down (min)", "中断(分钟)"),
            Key::MaintenanceMinutes => ("Maintenance (min)", "维护(分钟)"),
            Key::UnknownMinutes => ("Unknown (min)", "未知(分钟)"),
            Key::Faults => ("Faults", "故障次数"),
            Key::FaultMinutes => ("Fault minutes", "故障时长(分钟)"),
            Key::Mttr => ("MTTR (min)", "平均修复时间(分钟)"),
            Key::Mtbf => ("MTBF (min)", "平均故障间隔(分钟)"),
            Key::LongestOutage => ("Longest outage (min)", "最长中断(分钟)"),
            Key::Target => ("Target", "可用率目标"),
            Key::TargetMet => ("Target met", "是否达标"),
            Key::AvgLoss => ("Mean loss", "平均丢包率"),
            Key::AvgRtt => ("Mean RTT (ms)", "平均时延(毫秒)"),
            Key::P95Rtt => ("P95 RTT (ms)", "P95时延(毫秒)"),
            Key::Jitter => ("Jitter (ms)", "抖动(毫秒)"),
            Key::CpuCores => ("CPU cores", "CPU核数"),
            Key::MemoryBytes => ("Memory (bytes)", "内存(字节)"),
            Key::StorageBytes => ("Storage (bytes)", "存储(字节)"),
            Key::MemoryGib => ("Memory (GiB)", "内存(GiB)"),
            Key::StorageGib => ("Storage (GiB)", "存储(GiB)"),
            Key::CpuAvg => ("CPU mean", "CPU平均使用率"),
            Key::CpuPeak => ("CPU peak", "CPU峰值使用率"),
            Key::MemoryAvg => ("Memory mean", "内存平均使用率"),
            Key::MemoryPeak => ("Memory peak", "内存峰值使用率"),
            Key::StorageAvg => ("Storage mean", "存储平均使用率"),
            Key::StoragePeak => ("Storage peak", "存储峰值使用率"),
            Key::StorageGrowth => ("Storage growth", "存储月增长率"),
            Key::DaysUntilFull => ("Days until full", "预计写满天数"),
            Key::FullestFilesystem => ("Fullest filesystem", "最先写满的文件系统"),
            Key::CapacitySignals => ("Capacity signals", "容量预警信号"),
            Key::CpuStealAvg => ("CPU steal mean", "CPU平均被抢占率"),
            Key::CpuStealPeak => ("CPU steal peak", "CPU峰值被抢占率"),
            Key::DiskUtilPeak => ("Disk utilisation peak", "磁盘峰值繁忙率"),
            Key::BusiestDisk => ("Busiest disk", "最繁忙的磁盘"),
            Key::InodeDaysUntilFull => ("Days until inodes run out", "预计inode耗尽天数"),
            Key::InodeFullestFilesystem => (
                "Filesystem running out of inodes",
                "最先耗尽inode的文件系统",
            ),
            Key::HostsClockUnsynchronised => {
                ("Hosts with unsynchronised clock", "时钟未同步主机数")
            }
            Key::Scope => ("Scope", "范围"),
            Key::Reason => ("Reason", "原因"),
            Key::MadeBy => ("By", "操作人"),
            Key::MadeAt => ("Recorded", "登记时间"),
            Key::AdjustmentStatus => ("Status", "状态"),
            Key::InForce => ("in force", "生效"),
            Key::Withdrawn => ("withdrawn", "已撤销"),
            Key::WithdrawnBy => ("Withdrawn by", "撤销人"),
            Key::WithdrawalReason => ("Withdrawal reason", "撤销原因"),
            Key::Yes => ("yes", "是"),
            Key::No => ("no", "否"),
            Key::FaultFree => ("fault-free", "零故障"),
            Key::NoLinks => ("no links", "无链路"),
            Key::KindHost => ("host", "主机"),
            Key::KindLink => ("link", "链路"),
            Key::KindDataCenter => ("data center", "数据中心"),
            Key::KindDepartment => ("department", "部门"),
        };
        match lang {
            Lang::En => en,
            Lang::ZhCn => zh,
        }
    }
}

/// A backbone or link level in `lang`; an unknown level is shown as it is.
pub fn level_name(lang: Lang, level: &str) -> String {
    let (en, zh) = match level {
        "province-city" => ("province-city", "省-市"),
        "city-county" => ("city-county", "市-县"),
        "county-township" => ("county-township", "县-乡"),
        "access" => ("access", "接入"),
        other => return other.to_string(),
    };
    pick(lang, en, zh)
}

/// A service domain in `lang`; an unknown domain is shown as it is.
pub fn domain_name(lang: Lang, domain: &str) -> String {
    let (en, zh) = match domain {
        "administrative" => ("administrative", "行政服务域"),
        "public" => ("public", "公共服务域"),
        other => return other.to_string(),
    };
    pick(lang, en, zh)
}

/// An incident or capacity kind (`host`, `link`, `data_center`, `department`) in `lang`.
pub fn kind_name(lang: Lang, kind: &str) -> String {
    let key = match kind {
        "host" => Key::KindHost,
        "link" => Key::KindLink,
        "data_center" => Key::KindDataCenter,
        "department" => Key::KindDepartment,
        other => return other.to_string(),
    };
    key.text(lang).to_string()
}

/// The scope of an SLA adjustment (`host`, `link` or a label name) in `lang`.
pub fn scope_name(lang: Lang, kind: &str) -> String {
    match kind {
        "host" | "link" => kind_name(lang, kind),
        label => label_name(lang, label),
    }
}

/// An agent label name (`department`, `business_system`, `data_center`, `site`) in `lang`.
pub fn label_name(lang: Lang, label: &str) -> String {
    let key = match label {
        "department" => Key::Department,
        "business_system" => Key::BusinessSystem,
        "data_center" => Key::DataCenter,
        "site" => Key::Site,
        other => return other.to_string(),
    };
    key.text(lang).to_string()
}

/// Yes/no in `lang`.
pub fn yes_no(lang: Lang, value: bool) -> &'static str {
    if value {
        Key::Yes.text(lang)
    } else {
        Key::No.text(lang)
    }
}

/// The plain zero-fault verdict of a backbone level: "fault-free", "N faults", or "no
/// links" when the level has none (a level without links is not called fault-free).
pub fn verdict(lang: Lang, links: u32, fault_free: bool, faults: u32) -> String {
    if links == 0 {
        return Key::NoLinks.text(lang).to_string();
    }
    if fault_free {
        return Key::FaultFree.text(lang).to_string();
    }
    match lang {
        Lang::En if faults == 1 => "1 fault".to_string(),
        Lang::En => format!("{faults} faults"),
        Lang::ZhCn => format!("{faults} 次故障"),
    }
}

/// The facts the first page's summary states, already formatted for print.
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(missing_docs)] // Each field is the figure its name says.
pub struct SummaryFacts {
    pub hosts: String,
    pub links: String,
    pub departments: String,
    pub departments_measured: String,
    pub departments_met: String,
    pub levels_with_links: String,
    pub levels_fault_free: String,
    pub all_fault_free: bool,
    pub incidents: String,
    pub link_incidents: String,
    pub host_incidents: String,
    pub incident_minutes: String,
    pub host_coverage: String,
    pub link_coverage: String,
    pub collector_gaps: String,
    pub collector_gap_minutes: String,
}

/// The plain-language summary of the first page, one sentence each.
pub fn summary_sentences(lang: Lang, f: &SummaryFacts) -> Vec<String> {
    match lang {
        Lang::En => vec![
            format!(
                "Monitored: {} hosts, {} links. Departments meeting their availability target: {} of {} with a figure ({} departments in all).",
                f.hosts, f.links, f.departments_met, f.departments_measured, f.departments
            ),
            if f.all_fault_free {
                format!(
                    "Zero-fault backbone: every backbone level with links was fault-free ({} of {}).",
                    f.levels_fault_free, f.levels_with_links
                )
            } else {
                format!(
                    "Zero-fault backbone: {} of {} backbone levels with links were fault-free; the others had faults.",
                    f.levels_fault_free, f.levels_with_links
                )
            },
            format!(
                "Incidents: {} ({} on links, {} on hosts), {} fault minutes in all; hosts and links cut off behind a failed link are not counted again.",
                f.incidents, f.link_incidents, f.host_incidents, f.incident_minutes
            ),
            format!(
                "Coverage (time outside maintenance with evidence): hosts {}, links {}. Collector not running: {} gap(s), {} minutes; that time is unknown, never counted as downtime.",
                f.host_coverage, f.link_coverage, f.collector_gaps, f.collector_gap_minutes
            ),
        ],
        Lang::ZhCn => vec![
            format!(
                "本月监测主机 {} 台、链路 {} 条。有可用率数据的 {} 个部门中 {} 个达到可用率目标（共 {} 个部门）。",
                f.hosts, f.links, f.departments_measured, f.departments_met, f.departments
            ),
            if f.all_fault_free {
                format!(
                    "骨干网零故障：有链路的 {} 个骨干网层级全部零故障。",
                    f.levels_with_links
                )
            } else {
                format!(
                    "骨干网零故障：有链路的 {} 个骨干网层级中 {} 个零故障，其余发生故障。",
                    f.levels_with_links, f.levels_fault_free
                )
            },
            format!(
                "共发生故障 {} 起（链路 {} 起、主机 {} 起），故障时长合计 {} 分钟；因上游链路故障而中断的主机和链路不重复计算。",
                f.incidents, f.link_incidents, f.host_incidents, f.incident_minutes
            ),
            format!(
                "覆盖率（维护以外有监测数据的时间占比）：主机 {}，链路 {}。采集器中断 {} 次（{} 分钟），该时段记为未知，不计为故障。",
                f.host_coverage, f.link_coverage, f.collector_gaps, f.collector_gap_minutes
            ),
        ],
    }
}

/// What an incident cut off behind it: "1 host, 2 links" / "主机 1 台、链路 2 条"; "" for
/// nothing.
pub fn affected(lang: Lang, hosts: usize, links: usize) -> String {
    let mut parts = Vec::new();
    match lang {
        Lang::En => {
            if hosts > 0 {
                parts.push(format!("{hosts} host{}", if hosts == 1 { "" } else { "s" }));
            }
            if links > 0 {
                parts.push(format!("{links} link{}", if links == 1 { "" } else { "s" }));
            }
            parts.join(", ")
        }
        Lang::ZhCn => {
            if hosts > 0 {
                parts.push(format!("主机 {hosts} 台"));
            }
            if links > 0 {
                parts.push(format!("链路 {links} 条"));
            }
            parts.join("、")
        }
    }
}

/// The signature reference of a closed month, one line each. Without the manifest's hash
/// (the files written at closing are listed in it, so cannot hold it) the lines say where
/// the manifest is and how to check it.
pub fn seal_lines(
    lang: Lang,
    closed: &str,
    manifest: &str,
    signature: &str,
    sha256: Option<&str>,
) -> Vec<String> {
    let mut out = match lang {
        Lang::En => vec![format!(
            "Closed {closed}; this report's files are listed in {manifest}, signed with the collector's key in {signature}."
        )],
        Lang::ZhCn => vec![format!(
            "{closed} 关账；本报告的文件列于 {manifest}，并以采集器私钥签名于 {signature}。"
        )],
    };
    if let Some(h) = sha256 {
        out.push(match lang {
            Lang::En => format!("SHA-256 of {manifest}: {h}"),
            Lang::ZhCn => format!("{manifest} 的 SHA-256：{h}"),
        });
    }
    out.push(match lang {
        Lang::En => format!("Check: zerofault-collector verify {manifest} --ca CA.pem"),
        Lang::ZhCn => format!("校验：zerofault-collector verify {manifest} --ca CA.pem"),
    });
    out
}

/// The page footer: "Page 2 of 7" / "第 2 页，共 7 页".
pub fn page_of(lang: Lang, page: usize, pages: usize) -> String {
    match lang {
        Lang::En => format!("Page {page} of {pages}"),
        Lang::ZhCn => format!("第 {page} 页，共 {pages} 页"),
    }
}

fn pick(lang: Lang, en: &str, zh: &str) -> String {
    match lang {
        Lang::En => en.to_string(),
        Lang::ZhCn => zh.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_and_domains_use_the_agreed_terms() {
        assert_eq!(level_name(Lang::ZhCn, "province-city"), "省-市");
        assert_eq!(level_name(Lang::ZhCn, "city-county"), "市-县");
        assert_eq!(level_name(Lang::ZhCn, "county-township"), "县-乡");
        assert_eq!(domain_name(Lang::ZhCn, "administrative"), "行政服务域");
        assert_eq!(domain_name(Lang::ZhCn, "public"), "公共服务域");
        assert_eq!(level_name(Lang::ZhCn, "galaxy"), "galaxy");
        assert_eq!(Key::Availability.text(Lang::ZhCn), "可用率");
        assert_eq!(Key::Mttr.text(Lang::ZhCn), "平均修复时间(分钟)");
    }

    #[test]
    fn verdict_says_fault_free_or_counts_faults() {
        assert_eq!(verdict(Lang::En, 3, true, 0), "fault-free");
        assert_eq!(verdict(Lang::En, 3, false, 1), "1 fault");
        assert_eq!(verdict(Lang::En, 3, false, 4), "4 faults");
        assert_eq!(verdict(Lang::ZhCn, 3, false, 4), "4 次故障");
        assert_eq!(verdict(Lang::ZhCn, 2, true, 0), "零故障");
        assert_eq!(verdict(Lang::ZhCn, 0, true, 0), "无链路");
    }
}
