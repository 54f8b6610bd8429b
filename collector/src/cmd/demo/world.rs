//! The demo's world, as the texts of the files it writes: the inventory, the collector's
//! configuration and one configuration per agent. Pure functions of addresses and paths (no
//! I/O), so that what the demo runs is what the unit tests read.
//!
//! The world is a province's e-government network (administrative domain: the province, two
//! cities, a county under one of them and a township under the county; one public-domain
//! link), three departments with a business system each and two data centers. Four agents
//! stand at sites of that tree; three of them probe the link from their site to the next
//! site down. Every probe stays on loopback: the links that are up are probed against the
//! collector's own plain-HTTP listener, and the county-township link [`CUT_LINK`] is probed
//! against a loopback port the demo holds bound but never listens on, so every connect is
//! refused (the demo's simulated cut). The link engine sees that link down from its only
//! vantage point and, after [`FAULT_MIN`], records a fault; the agent at the township stands
//! behind the cut, so root cause has a host to name.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::Path;

use crate::cmd::certs::Layout;

/// The link the demo cuts: every probe of it is refused.
pub const CUT_LINK: &str = "adm-dq-qy";
/// The shortest down period that is a fault, both in the inventory (`fault_min`, with
/// 30 s slots) and in the collector's `links.fault_min` (docs/sla.md asks to keep them
/// equal): a fault shows half a minute after the cut is seen.
pub const FAULT_MIN: &str = "30s";

/// One agent of the demo: its id (and certificate name), labels and link probes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DemoAgent {
    /// Agent id, the CN of its certificate.
    pub id: &'static str,
    /// `labels.department`.
    pub department: &'static str,
    /// `labels.business_system`.
    pub business_system: &'static str,
    /// `labels.datacenter`.
    pub datacenter: &'static str,
    /// `labels.site`.
    pub site: &'static str,
    /// The links it probes.
    pub probes: &'static [DemoProbe],
}

/// One link probe of a demo agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DemoProbe {
    /// Link id of the inventory.
    pub link: &'static str,
    /// What it is aimed at.
    pub aim: Aim,
    /// The link's level, as in the inventory.
    pub level: &'static str,
    /// The link's domain, as in the inventory.
    pub domain: &'static str,
}

/// Where a probe goes. Everything is on loopback: the demo has no network to cut, so a
/// link's far end is stood in for by something that answers (up) or refuses (down).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Aim {
    /// TCP connect to the collector's plain-HTTP listener: answered, the link is up.
    HttpListener,
    /// HTTP GET of the collector's `/healthz`: 200, the link is up.
    Healthz,
    /// TCP connect to the port the demo holds bound without listening: refused, every
    /// probe is lost, the link is down (the demo's simulated cut).
    Cut,
}

/// The addresses probes are aimed at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Endpoints {
    /// The collector's ingest listener, as the agents connect to it.
    pub ingest: SocketAddr,
    /// The collector's plain-HTTP listener, as the agents connect to it.
    pub http: SocketAddr,
    /// The port of the simulated cut.
    pub cut: SocketAddr,
}

impl Aim {
    /// The probe's `kind`.
    pub fn kind(self) -> &'static str {
        match self {
            Aim::HttpListener | Aim::Cut => "tcp",
            Aim::Healthz => "http",
        }
    }

    /// The probe's `target`.
    pub fn target(self, endpoints: &Endpoints) -> String {
        match self {
            Aim::HttpListener => endpoints.http.to_string(),
            Aim::Healthz => format!("http://{}/healthz", endpoints.http),
            Aim::Cut => endpoints.cut.to_string(),
        }
    }
}

/// The demo's agents, each at a site of the inventory, the near end of the links it probes.
pub const AGENTS: &[DemoAgent] = &[
    // At the provincial node: probes both city uplinks and the public backbone.
    DemoAgent {
        id: "zj-dsj-portal-01",
        department: "zj-dsj",
        business_system: "zwfw",
        datacenter: "zj-dc1",
        site: "adm-zj",
        probes: &[
            DemoProbe {
                link: "adm-zj-hz",
                aim: Aim::HttpListener,
                level: "province-city",
                domain: "administrative",
            },
            DemoProbe {
                link: "adm-zj-jx",
                aim: Aim::HttpListener,
                level: "province-city",
                domain: "administrative",
            },
            DemoProbe {
                link: "pub-zj-hz",
                aim: Aim::Healthz,
                level: "province-city",
                domain: "public",
            },
        ],
    },
    // At the Huzhou city node: probes the county.
    DemoAgent {
        id: "zj-gat-police-01",
        department: "zj-gat",
        business_system: "ydjw",
        datacenter: "hz-dc1",
        site: "adm-hz",
        probes: &[DemoProbe {
            link: "adm-hz-dq",
            aim: Aim::HttpListener,
            level: "city-county",
            domain: "administrative",
        }],
    },
    // At the Deqing county node: probes the township, the link the demo cuts.
    DemoAgent {
        id: "zj-wjw-health-01",
        department: "zj-wjw",
        business_system: "qyjk",
        datacenter: "hz-dc1",
        site: "adm-dq",
        probes: &[DemoProbe {
            link: CUT_LINK,
            aim: Aim::Cut,
            level: "county-township",
            domain: "administrative",
        }],
    },
    // At the Qianyuan township node, behind the cut: probes nothing, keeps reporting.
    DemoAgent {
        id: "zj-wjw-clinic-01",
        department: "zj-wjw",
        business_system: "qyjk",
        datacenter: "hz-dc1",
        site: "adm-dq-qy",
        probes: &[],
    },
];

/// The inventory (`inventory.yaml` of the demo's directory).
pub const INVENTORY: &str = "\
# Written by `zerofault-collector demo`; rewritten on every demo start. The demo's world:
# a province's e-government network, three departments, two data centers. docs/inventory.md
# describes every key; configs/inventory.yaml is a fuller example.
time_zone: Asia/Shanghai
# 30 s slots and faults from 30 s (the collector's links.fault_min is the same), so that the
# demo's simulated cut of adm-dq-qy becomes a fault half a minute after it is seen.
slot: 30s
fault_min: 30s

organisation:
  name_zh: 浙江省大数据发展管理局
  name_en: Zhejiang Big Data Bureau

targets:
  host: 0.999
  link:
    province-city: 0.9999
    city-county: 0.9995
    county-township: 0.999
    access: 0.99

departments:
  - {code: zj-dsj, name_zh: 浙江省大数据发展管理局, name_en: Zhejiang Big Data Bureau, target: 0.9995}
  - {code: zj-gat, name_zh: 浙江省公安厅, name_en: Zhejiang Public Security Department}
  - {code: zj-wjw, name_zh: 浙江省卫生健康委员会, name_en: Zhejiang Health Commission}

business_systems:
  - {code: zwfw, department: zj-dsj, name_zh: 政务服务网, name_en: Government Service Portal, target: 0.9999}
  - {code: ydjw, department: zj-gat, name_zh: 移动警务平台, name_en: Mobile Policing Platform}
  - {code: qyjk, department: zj-wjw, name_zh: 区域健康信息平台, name_en: Regional Health Information Platform}

data_centers:
  - {code: zj-dc1, name_zh: 浙江省政务云数据中心, name_en: Zhejiang Government Cloud Data Center, status: in-use}
  - {code: hz-dc1, name_zh: 湖州市政务云数据中心, name_en: Huzhou Government Cloud Data Center, status: in-use}

# The site tree: root cause follows the parents (a link down cuts off the sites under its
# far end, and the hosts and links there).
sites:
  - {code: adm-zj, name_zh: 浙江省政务外网省节点, name_en: Zhejiang provincial node (administrative), level: province, domain: administrative}
  - {code: adm-hz, name_zh: 湖州市政务外网市节点, name_en: Huzhou city node (administrative), level: city, domain: administrative, parent: adm-zj}
  - {code: adm-jx, name_zh: 嘉兴市政务外网市节点, name_en: Jiaxing city node (administrative), level: city, domain: administrative, parent: adm-zj}
  - {code: adm-dq, name_zh: 德清县政务外网县节点, name_en: Deqing county node (administrative), level: county, domain: administrative, parent: adm-hz}
  - {code: adm-dq-qy, name_zh: 乾元镇政务外网节点, name_en: Qianyuan town node (administrative), level: township, domain: administrative, parent: adm-dq}
  - {code: pub-zj, name_zh: 浙江省公网省节点, name_en: Zhejiang provincial node (public), level: province, domain: public}
  - {code: pub-hz, name_zh: 湖州市公网市节点, name_en: Huzhou city node (public), level: city, domain: public, parent: pub-zj}

# `from` is the near end, the parent of `to`. The demo's agents probe every link from its
# near end; adm-dq-qy is the demo's simulated cut (its probe is aimed at a closed port).
links:
  - {id: adm-zj-hz, from: adm-zj, to: adm-hz, level: province-city, domain: administrative, name_zh: 省-湖州政务外网主干, name_en: Province-Huzhou administrative backbone}
  - {id: adm-zj-jx, from: adm-zj, to: adm-jx, level: province-city, domain: administrative, name_zh: 省-嘉兴政务外网主干, name_en: Province-Jiaxing administrative backbone}
  - {id: adm-hz-dq, from: adm-hz, to: adm-dq, level: city-county, domain: administrative, name_zh: 湖州-德清政务外网, name_en: Huzhou-Deqing administrative}
  - {id: adm-dq-qy, from: adm-dq, to: adm-dq-qy, level: county-township, domain: administrative, name_zh: 德清-乾元镇政务外网, name_en: Deqing-Qianyuan administrative}
  - {id: pub-zj-hz, from: pub-zj, to: pub-hz, level: province-city, domain: public, name_zh: 省-湖州公网主干, name_en: Province-Huzhou public backbone}

# Excluded from SLA figures. Weekly, so that one is always coming up within a week.
maintenance:
  - scope: {business_system: zwfw}
    weekly: {weekday: sun, at: \"02:00\", duration: 1h}
    note: 每周例行发布 / weekly release
  - scope: {link: adm-zj-jx}
    monthly: {day: last, at: \"23:00\", duration: 2h}
    note: 月末线路巡检 / month-end line inspection
";

/// The paths and addresses the collector's configuration names.
#[derive(Debug, Clone, Copy)]
pub struct CollectorPaths<'a> {
    /// `listen.ingest`.
    pub ingest_listen: SocketAddr,
    /// `listen.http`.
    pub http_listen: SocketAddr,
    /// The certificates.
    pub layout: &'a Layout,
    /// The SQLite database.
    pub database: &'a Path,
    /// The inventory file.
    pub inventory: &'a Path,
}

/// The collector's configuration (`collector.yaml`).
pub fn collector_yaml(p: &CollectorPaths<'_>) -> String {
    format!(
        "# Written by `zerofault-collector demo`; rewritten on every demo start.\n\
         listen:\n  ingest: {ingest}\n  http: {http}\n\
         tls:\n  ca: {ca}\n  cert: {cert}\n  key: {key}\n\
         storage:\n  sqlite:\n    path: {db}\n\
         limits:\n  max_body_bytes: 1048576\n  max_decompressed_bytes: 8388608\n\
         hosts:\n  down_after_intervals: 3\n\
         # The same as the inventory's fault_min.\n\
         links:\n  fault_min: {FAULT_MIN}\n\
         # The shortest interval, so that the month's figures show within a minute.\n\
         month_to_date:\n  interval: 1m\n\
         inventory: {inventory}\n",
        ingest = yaml(p.ingest_listen.to_string()),
        http = yaml(p.http_listen.to_string()),
        ca = yaml_path(&p.layout.ca_cert()),
        cert = yaml_path(&p.layout.collector_cert()),
        key = yaml_path(&p.layout.collector_key()),
        db = yaml_path(p.database),
        inventory = yaml_path(p.inventory),
    )
}

/// The configuration of `agent` (`agent-ID.yaml`).
pub fn agent_yaml(
    agent: &DemoAgent,
    state_dir: &Path,
    layout: &Layout,
    endpoints: &Endpoints,
    interval: &str,
) -> String {
    let mut out = format!(
        "# Written by `zerofault-collector demo`; rewritten on every demo start.\n\
         agent:\n  id: {id}\n  state_dir: {state}\n\
         labels:\n  department: {department}\n  business_system: {system}\n  \
         datacenter: {datacenter}\n  site: {site}\n\
         collector:\n  url: {url}\n  timeout: 10s\n\
         tls:\n  ca: {ca}\n  cert: {cert}\n  key: {key}\n\
         interval: {interval}\n",
        id = yaml(agent.id),
        state = yaml_path(state_dir),
        department = yaml(agent.department),
        system = yaml(agent.business_system),
        datacenter = yaml(agent.datacenter),
        site = yaml(agent.site),
        url = yaml(format!("https://{}", endpoints.ingest)),
        ca = yaml_path(&layout.ca_cert()),
        cert = yaml_path(&layout.agent_cert(agent.id)),
        key = yaml_path(&layout.agent_key(agent.id)),
        interval = yaml(interval),
    );
    if !agent.probes.is_empty() {
        out.push_str("probes:\n");
    }
    for probe in agent.probes {
        if probe.aim == Aim::Cut {
            out.push_str(
                "  # The demo's simulated cut: the demo holds this port bound and never listens\n  \
                 # on it, so every connect is refused and the link stays down.\n",
            );
        }
        let _ = write!(
            out,
            "  - link: {link}\n    kind: {kind}\n    target: {target}\n    \
             level: {level}\n    domain: {domain}\n",
            link = yaml(probe.link),
            kind = probe.aim.kind(),
            target = yaml(probe.aim.target(endpoints)),
            level = probe.level,
            domain = probe.domain,
        );
    }
    out
}

/// A YAML double-quoted scalar (JSON string syntax is valid YAML), so that any path is
/// written safely.
pub fn yaml(s: impl AsRef<str>) -> String {
    serde_json::to_string(s.as_ref()).expect("a string serializes")
}

/// A path as a YAML double-quoted scalar.
pub fn yaml_path(p: &Path) -> String {
    yaml(p.to_string_lossy())
}

#[cfg(test)]
mod tests;
