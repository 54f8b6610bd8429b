//! Every text of the cockpit pages, in Simplified Chinese and English.
//!
//! Each key is declared once with both translations side by side, so a text cannot exist
//! in one language only. Names of departments, data centers, sites and links are not here:
//! they come from the inventory, in the page's language ([`Lang::name`]).

/// A page's language: `zh-CN` (default) or `en`, from `?lang=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    /// Simplified Chinese.
    Zh,
    /// English.
    En,
}

impl Lang {
    /// The language asked for by `?lang=`, else `default` (`cockpit.lang`).
    pub fn pick(asked: Option<&str>, default: &str) -> Lang {
        match asked.unwrap_or(default) {
            "en" | "en-US" | "en-GB" => Lang::En,
            _ => Lang::Zh,
        }
    }

    /// The `lang` attribute and query value.
    pub fn code(self) -> &'static str {
        match self {
            Lang::Zh => "zh-CN",
            Lang::En => "en",
        }
    }

    /// The other language, for the switch.
    pub fn other(self) -> Lang {
        match self {
            Lang::Zh => Lang::En,
            Lang::En => Lang::Zh,
        }
    }

    /// The name of an inventory item in this language, falling back to the other one and
    /// then to its code, so that an item without a translation still reads.
    pub fn name<'a>(self, zh: &'a str, en: &'a str, code: &'a str) -> &'a str {
        let (first, second) = match self {
            Lang::Zh => (zh, en),
            Lang::En => (en, zh),
        };
        [first, second, code]
            .into_iter()
            .find(|s| !s.is_empty())
            .unwrap_or(code)
    }

    /// The text of `key` in this language.
    pub fn t(self, key: Key) -> &'static str {
        let (en, zh) = key.texts();
        match self {
            Lang::Zh => zh,
            Lang::En => en,
        }
    }
}

macro_rules! keys {
    ($($key:ident => ($en:literal, $zh:literal),)*) => {
        /// A translatable text; the variant names say what it is.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        #[allow(missing_docs)]
        pub enum Key { $($key,)* }

        impl Key {
            /// Every key, for the test that no text is empty.
            #[cfg(test)]
            pub const ALL: &'static [Key] = &[$(Key::$key,)*];

            /// (English, Chinese).
            pub fn texts(self) -> (&'static str, &'static str) {
                match self { $(Key::$key => ($en, $zh),)* }
            }
        }
    };
}

keys! {
    Cockpit => ("Operations cockpit", "运行监测驾驶舱"),
    Overview => ("Overview", "总览"),
    AsOf => ("as of", "截至"),
    Kiosk => ("Wall screen", "大屏模式"),
    LeaveKiosk => ("Leave wall screen", "退出大屏"),
    OtherLanguage => ("中文", "English"),
    Now => ("Hosts now", "主机实时状态"),
    Hosts => ("Hosts", "主机"),
    Up => ("up", "正常"),
    Down => ("down", "宕机"),
    Silent => ("silent", "静默"),
    Degraded => ("degraded", "劣化"),
    Maintenance => ("maintenance", "维护中"),
    Unreachable => ("behind a down link", "受链路故障影响"),
    Unknown => ("no data", "无数据"),
    ByDepartment => ("By department", "按部门"),
    ByDataCenter => ("By data center", "按数据中心"),
    NotUp => ("Hosts not up (worst first)", "异常主机（最严重在前）"),
    AllUp => ("All hosts up", "全部主机正常"),
    More => ("more", "更多"),
    Backbone => ("Backbone", "骨干网络"),
    Links => ("Links", "链路"),
    Level => ("Level", "层级"),
    Domain => ("Domain", "网络域"),
    Topology => ("Site topology (collapsed below city level except where there is a fault)", "站点拓扑（市级以下仅展开故障分支）"),
    Sites => ("sites", "个站点"),
    Incidents => ("Incidents", "事件"),
    OpenIncidents => ("Open", "进行中"),
    RecentClosed => ("Recently closed", "近期已恢复"),
    NoOpenIncident => ("No open incident", "无进行中的事件"),
    RootCause => ("root cause", "根因"),
    Hides => ("hides", "影响"),
    Since => ("since", "开始于"),
    Lasted => ("lasted", "持续"),
    LinkDown => ("link down", "链路中断"),
    HostDown => ("host down", "主机宕机"),
    MonthToDate => ("Month to date", "本月至今"),
    NotComputedYet => ("The month to date is being computed", "本月数据计算中"),
    Availability => ("Availability", "可用率"),
    Coverage => ("Coverage", "数据覆盖率"),
    Target => ("Target", "目标"),
    Met => ("met", "达标"),
    Missed => ("missed", "未达标"),
    Departments => ("Departments", "部门"),
    DataCenters => ("Data centers", "数据中心"),
    ZeroFault => ("Zero-fault backbone", "骨干网零故障"),
    FaultFree => ("fault-free so far", "至今零故障"),
    Faults => ("faults", "次故障"),
    Capacity => ("Capacity hot spots", "容量热点"),
    DaysUntilFull => ("days until full", "天后写满"),
    Fullest => ("fullest filesystem", "最满文件系统"),
    NoCapacityData => ("No filesystem is filling up", "无增长中的文件系统"),
    DaysUntilInodesOut => ("days until inodes run out", "天后inode耗尽"),
    CpuSteal => ("CPU steal", "CPU被抢占"),
    DiskBusy => ("disk busy", "磁盘繁忙"),
    ClocksUnsynchronised => ("hosts with unsynchronised clock", "台主机时钟未同步"),
    Delivery => ("Delivery health", "数据投递健康"),
    AgentsSilent => ("Agents silent", "静默的采集端"),
    AgentsBacklog => ("Agents with a backlog", "有积压的采集端"),
    CollectorRuns => ("Collector runs", "采集服务运行"),
    CollectorGaps => ("Collector gaps this month", "本月采集服务中断"),
    Running => ("running since", "运行自"),
    Reports => ("reports", "份报告"),
    Minutes => ("min", "分钟"),
    Host => ("Host", "主机"),
    Site => ("Site", "站点"),
    Link => ("Link", "链路"),
    Department => ("Department", "部门"),
    DataCenter => ("Data center", "数据中心"),
    Month => ("Month", "月度报告"),
    MaintenanceCalendar => ("Maintenance calendar", "维护日历"),
    State => ("State", "状态"),
    LastReport => ("Last report", "最近报告"),
    Boot => ("Boot", "启动"),
    Boots => ("Boots", "启动记录"),
    Cpu => ("CPU", "CPU"),
    Memory => ("Memory", "内存"),
    Load => ("Load (1 min)", "负载（1分钟）"),
    Filesystems => ("Filesystems", "文件系统"),
    StealIowait => ("CPU steal and iowait", "CPU被抢占与IO等待"),
    PressureSome => ("Pressure stall (some tasks waiting)", "资源压力（有任务等待）"),
    Inodes => ("Inodes used", "inode已用"),
    DisksBusy => ("Disk busy", "磁盘繁忙度"),
    ClockUnsync => ("Clock unsynchronised (share of reports)", "时钟未同步（报告占比）"),
    Used => ("used", "已用"),
    Size => ("Size", "容量"),
    ProbedLinks => ("Links this host probes", "本机探测的链路"),
    Vantage => ("Vantage point", "探测点"),
    Loss => ("Loss", "丢包率"),
    Rtt => ("RTT", "时延"),
    Jitter => ("Jitter", "抖动"),
    StateTimeline => ("State timeline", "状态时间线"),
    Range => ("Range", "时间范围"),
    Range24h => ("24 h", "24小时"),
    Range7d => ("7 d", "7天"),
    Range30d => ("30 d", "30天"),
    RangeMonth => ("This month", "本月"),
    NoSeries => ("No data in this range", "该时间范围内无数据"),
    NotFound => ("Not found", "未找到"),
    Downloads => ("Downloads", "下载"),
    ClosedMonths => ("Closed months", "已关账月份"),
    Manifest => ("Signed manifest", "签名清单"),
    NoClosedMonth => ("No month closed yet", "尚无已关账月份"),
    Current => ("Now", "当前"),
    Upcoming => ("Upcoming", "即将开始"),
    NoWindow => ("No window", "无维护窗口"),
    Scope => ("Scope", "范围"),
    Start => ("Start", "开始"),
    End => ("End", "结束"),
    Note => ("Note", "说明"),
    Reported => ("Reports stored", "已存储报告"),
    SequenceGaps => ("Missing reports", "缺失报告"),
    ClockOffset => ("Clock offset", "时钟偏差"),
    Spool => ("Spool backlog", "本地积压"),
    Members => ("Hosts meeting target", "达标主机"),
    Name => ("Name", "名称"),
    Vantages => ("Vantage points", "探测点"),
    Duration => ("Duration", "时长"),
    Figures => ("Figures", "指标"),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_text_exists_in_both_languages() {
        for key in Key::ALL {
            let (en, zh) = key.texts();
            assert!(!en.is_empty() && !zh.is_empty(), "{key:?}");
        }
    }

    #[test]
    fn names_fall_back_to_the_other_language_then_the_code() {
        assert_eq!(Lang::Zh.name("湖州", "Huzhou", "hz"), "湖州");
        assert_eq!(Lang::En.name("湖州", "Huzhou", "hz"), "Huzhou");
        assert_eq!(Lang::En.name("湖州", "", "hz"), "湖州");
        assert_eq!(Lang::En.name("", "", "hz"), "hz");
        assert_eq!(Lang::pick(None, "zh-CN"), Lang::Zh);
        assert_eq!(Lang::pick(Some("en"), "zh-CN"), Lang::En);
        assert_eq!(Lang::pick(None, "en"), Lang::En);
    }
}
