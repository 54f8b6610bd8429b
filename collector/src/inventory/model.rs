//! The inventory's document: every type of `configs/inventory.yaml` with its defaults, the
//! code index and the zh/en names. Loading, checks and lookups are in the parent module.

use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;
use std::time::Duration;

use jiff::tz::TimeZone;
use serde::Deserialize;

use zerofault_common::problem::Problems;

use super::time::{Clock, MonthDay, Weekday};

/// Default reporting time zone.
pub const DEFAULT_TIME_ZONE: &str = "Asia/Shanghai";
/// Default slot length: states are kept per minute.
pub const DEFAULT_SLOT: Duration = Duration::from_secs(60);
/// Shortest accepted slot: shorter ones multiply the engine's work for no reader's benefit.
pub const MIN_SLOT: Duration = Duration::from_secs(10);
/// Default minimum length of a link fault.
pub const DEFAULT_FAULT_MIN: Duration = Duration::from_secs(60);
/// Default availability target of hosts, and of links of a level without its own target.
pub const DEFAULT_TARGET: f64 = 0.999;
/// Longest accepted code or id, the same cap as an agent's label values.
pub const MAX_CODE_BYTES: usize = 128;

/// The whole inventory file.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Inventory {
    /// Reporting time zone (IANA name): months and maintenance times are local to it.
    #[serde(
        default = "default_time_zone",
        deserialize_with = "super::time::time_zone"
    )]
    pub time_zone: TimeZone,
    /// Length of one state slot; divides a day.
    #[serde(
        default = "default_slot",
        deserialize_with = "zerofault_common::duration::deserialize"
    )]
    pub slot: Duration,
    /// A run of down slots on a link at least this long is a fault; a multiple of `slot`.
    #[serde(
        default = "default_fault_min",
        deserialize_with = "zerofault_common::duration::deserialize"
    )]
    pub fault_min: Duration,
    /// The organisation the reports are made for, named on their first page.
    #[serde(default)]
    pub organisation: Option<Organisation>,
    /// Default availability targets.
    #[serde(default)]
    pub targets: Targets,
    /// Departments (单位/部门).
    #[serde(default)]
    pub departments: Vec<Department>,
    /// Business systems (业务系统), each owned by a department.
    #[serde(default)]
    pub business_systems: Vec<BusinessSystem>,
    /// Data centers.
    #[serde(default)]
    pub data_centers: Vec<DataCenter>,
    /// Network sites; `parent` makes the topology tree that root cause follows.
    #[serde(default)]
    pub sites: Vec<Site>,
    /// Backbone and access links between sites.
    #[serde(default)]
    pub links: Vec<Link>,
    /// Maintenance windows, excluded from SLA figures.
    #[serde(default)]
    pub maintenance: Vec<Maintenance>,
    /// The file this inventory was loaded from; messages name it.
    #[serde(skip)]
    pub source: PathBuf,
    /// Code -> position maps, built by [`Inventory::parse`] and [`Inventory::reindex`].
    #[serde(skip)]
    pub(super) index: Index,
}

fn default_time_zone() -> TimeZone {
    // The bundled tz database always has it; a failure here is a build defect.
    TimeZone::get(DEFAULT_TIME_ZONE).expect("bundled tz database has Asia/Shanghai")
}
fn default_slot() -> Duration {
    DEFAULT_SLOT
}
fn default_fault_min() -> Duration {
    DEFAULT_FAULT_MIN
}
fn default_target() -> f64 {
    DEFAULT_TARGET
}

impl Default for Inventory {
    /// The inventory of a collector configured without one: defaults and nothing declared.
    fn default() -> Self {
        Inventory {
            time_zone: default_time_zone(),
            slot: DEFAULT_SLOT,
            fault_min: DEFAULT_FAULT_MIN,
            organisation: None,
            targets: Targets::default(),
            departments: Vec::new(),
            business_systems: Vec::new(),
            data_centers: Vec::new(),
            sites: Vec::new(),
            links: Vec::new(),
            maintenance: Vec::new(),
            source: PathBuf::new(),
            index: Index::default(),
        }
    }
}

/// Longest accepted organisation name, in characters: one line of a report's first page.
pub const MAX_ORGANISATION_CHARS: usize = 100;

/// The organisation (`organisation`): who the monthly report is for, e.g. a city's big-data
/// bureau. Both names are required when the key is given (validated).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Organisation {
    /// Chinese name.
    pub name_zh: String,
    /// English name.
    pub name_en: String,
}

/// Availability targets (`targets.*`), ratios in (0, 1].
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Targets {
    /// Hosts whose department and business system set none.
    #[serde(default = "default_target")]
    pub host: f64,
    /// Links without their own target, per level.
    #[serde(default)]
    pub link: LinkTargets,
}

impl Default for Targets {
    fn default() -> Self {
        Targets {
            host: DEFAULT_TARGET,
            link: LinkTargets::default(),
        }
    }
}

/// Link targets per level (`targets.link.*`); a missing level gets [`DEFAULT_TARGET`].
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkTargets {
    /// Province to city backbone.
    #[serde(default = "default_target", rename = "province-city")]
    pub province_city: f64,
    /// City to county backbone.
    #[serde(default = "default_target", rename = "city-county")]
    pub city_county: f64,
    /// County to township backbone.
    #[serde(default = "default_target", rename = "county-township")]
    pub county_township: f64,
    /// Access links of connected units.
    #[serde(default = "default_target")]
    pub access: f64,
}

impl Default for LinkTargets {
    fn default() -> Self {
        LinkTargets {
            province_city: DEFAULT_TARGET,
            city_county: DEFAULT_TARGET,
            county_township: DEFAULT_TARGET,
            access: DEFAULT_TARGET,
        }
    }
}

impl LinkTargets {
    /// The target of `level`.
    pub fn for_level(&self, level: LinkLevel) -> f64 {
        match level {
            LinkLevel::ProvinceCity => self.province_city,
            LinkLevel::CityCounty => self.city_county,
            LinkLevel::CountyTownship => self.county_township,
            LinkLevel::Access => self.access,
        }
    }
}

/// A department (`departments[]`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Department {
    /// Code, as agents put it in their `department` label.
    pub code: String,
    /// Chinese name.
    pub name_zh: String,
    /// English name.
    pub name_en: String,
    /// Availability target of its hosts, overriding `targets.host`.
    #[serde(default)]
    pub target: Option<f64>,
}

/// A business system (`business_systems[]`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BusinessSystem {
    /// Code, as agents put it in their `business_system` label.
    pub code: String,
    /// Code of the department that owns it.
    pub department: String,
    /// Chinese name.
    pub name_zh: String,
    /// English name.
    pub name_en: String,
    /// Availability target of its hosts, overriding its department's and `targets.host`.
    #[serde(default)]
    pub target: Option<f64>,
}

/// Whether a data center is in service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DataCenterStatus {
    /// In service.
    InUse,
    /// Being built; its hosts are reported apart from those in service.
    UnderConstruction,
}

/// A data center (`data_centers[]`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataCenter {
    /// Code, as agents put it in their `datacenter` label.
    pub code: String,
    /// Chinese name.
    pub name_zh: String,
    /// English name.
    pub name_en: String,
    /// In use or under construction.
    pub status: DataCenterStatus,
}

/// Level of a site in the network hierarchy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SiteLevel {
    /// Province (省).
    Province,
    /// City (市).
    City,
    /// County (县).
    County,
    /// Township (乡镇).
    Township,
}

impl SiteLevel {
    /// The name used in the file.
    pub fn as_str(self) -> &'static str {
        match self {
            SiteLevel::Province => "province",
            SiteLevel::City => "city",
            SiteLevel::County => "county",
            SiteLevel::Township => "township",
        }
    }
}

/// Network domain of a site or link.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Domain {
    /// Administrative (政务外网 style) network.
    Administrative,
    /// Public network.
    Public,
}

impl Domain {
    /// The name used in the file and in `zerofault_protocol::LINK_DOMAINS`.
    pub fn as_str(self) -> &'static str {
        match self {
            Domain::Administrative => "administrative",
            Domain::Public => "public",
        }
    }
}

/// Backbone level of a link.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LinkLevel {
    /// Province site to city site.
    ProvinceCity,
    /// City site to county site.
    CityCounty,
    /// County site to township site.
    CountyTownship,
    /// Access link of a connected unit, between sites of any level.
    Access,
}

impl LinkLevel {
    /// The name used in the file and in `zerofault_protocol::LINK_LEVELS`.
    pub fn as_str(self) -> &'static str {
        match self {
            LinkLevel::ProvinceCity => "province-city",
            LinkLevel::CityCounty => "city-county",
            LinkLevel::CountyTownship => "county-township",
            LinkLevel::Access => "access",
        }
    }

    /// The levels of the near (`from`) and far (`to`) sites a link of this level joins;
    /// `None` for access links, which may join any sites.
    pub fn end_levels(self) -> Option<(SiteLevel, SiteLevel)> {
        match self {
            LinkLevel::ProvinceCity => Some((SiteLevel::Province, SiteLevel::City)),
            LinkLevel::CityCounty => Some((SiteLevel::City, SiteLevel::County)),
            LinkLevel::CountyTownship => Some((SiteLevel::County, SiteLevel::Township)),
            LinkLevel::Access => None,
        }
    }
}

/// A network site (`sites[]`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Site {
    /// Code, as agents put it in their `site` label.
    pub code: String,
    /// Chinese name.
    pub name_zh: String,
    /// English name.
    pub name_en: String,
    /// Level in the hierarchy.
    pub level: SiteLevel,
    /// Network domain.
    pub domain: Domain,
    /// The site it hangs from (towards the core); none for a root.
    #[serde(default)]
    pub parent: Option<String>,
}

/// A link between two sites (`links[]`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Link {
    /// Link id, as agents put it in their probes' `link`.
    pub id: String,
    /// Near end, towards the core: the parent of `to`.
    pub from: String,
    /// Far end.
    pub to: String,
    /// Backbone level.
    pub level: LinkLevel,
    /// Network domain.
    pub domain: Domain,
    /// Chinese name ("" when not given).
    #[serde(default)]
    pub name_zh: String,
    /// English name ("" when not given).
    #[serde(default)]
    pub name_en: String,
    /// Availability target, overriding the level's in `targets.link`.
    #[serde(default)]
    pub target: Option<f64>,
}

/// What a maintenance window applies to: exactly one item.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// One host, by agent id.
    Host(String),
    /// Every host of a business system.
    BusinessSystem(String),
    /// Every host of a department.
    Department(String),
    /// Every host in a data center.
    DataCenter(String),
    /// A site: its hosts and the links to it.
    Site(String),
    /// One link, by id.
    Link(String),
}

impl Scope {
    /// The scope of `kind` (a [`Scope::kind`] name) naming `value`; `None` for another name.
    pub fn from_kind(kind: &str, value: &str) -> Option<Scope> {
        let v = value.to_owned();
        Some(match kind {
            "host" => Scope::Host(v),
            "business_system" => Scope::BusinessSystem(v),
            "department" => Scope::Department(v),
            "data_center" => Scope::DataCenter(v),
            "site" => Scope::Site(v),
            "link" => Scope::Link(v),
            _ => return None,
        })
    }

    /// The scope key as written in the file, e.g. `business_system`.
    pub fn kind(&self) -> &'static str {
        match self {
            Scope::Host(_) => "host",
            Scope::BusinessSystem(_) => "business_system",
            Scope::Department(_) => "department",
            Scope::DataCenter(_) => "data_center",
            Scope::Site(_) => "site",
            Scope::Link(_) => "link",
        }
    }

    /// The code or id it names.
    pub fn value(&self) -> &str {
        match self {
            Scope::Host(v)
            | Scope::BusinessSystem(v)
            | Scope::Department(v)
            | Scope::DataCenter(v)
            | Scope::Site(v)
            | Scope::Link(v) => v,
        }
    }
}

/// A maintenance window (`maintenance[]`): a scope and exactly one of `once`, `weekly`,
/// `monthly` ([`Inventory::validate`] checks that).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Maintenance {
    /// What is under maintenance.
    pub scope: Scope,
    /// A one-off window.
    #[serde(default)]
    pub once: Option<Once>,
    /// A window every week.
    #[serde(default)]
    pub weekly: Option<Weekly>,
    /// A window every month.
    #[serde(default)]
    pub monthly: Option<Monthly>,
    /// Free text shown in reports.
    #[serde(default)]
    pub note: String,
}

/// A one-off window (`once`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Once {
    /// Local start, `YYYY-MM-DD HH:MM` in the inventory's time zone.
    #[serde(deserialize_with = "super::time::local_datetime")]
    pub start: jiff::civil::DateTime,
    /// Elapsed length.
    #[serde(deserialize_with = "zerofault_common::duration::deserialize")]
    pub duration: Duration,
}

/// A weekly window (`weekly`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Weekly {
    /// Day of the week, `mon`..`sun`.
    pub weekday: Weekday,
    /// Local start time of day.
    pub at: Clock,
    /// Elapsed length; shorter than a week.
    #[serde(deserialize_with = "zerofault_common::duration::deserialize")]
    pub duration: Duration,
}

/// A monthly window (`monthly`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Monthly {
    /// Day of the month, 1..=28 or `last`.
    pub day: MonthDay,
    /// Local start time of day.
    pub at: Clock,
    /// Elapsed length; shorter than 28 days.
    #[serde(deserialize_with = "zerofault_common::duration::deserialize")]
    pub duration: Duration,
}

/// One occurrence of a maintenance window, clipped to the period asked for.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct MaintenanceInterval {
    /// Start, Unix milliseconds (inclusive).
    pub start_unix_ms: i64,
    /// End, Unix milliseconds (exclusive).
    pub end_unix_ms: i64,
    /// What is under maintenance.
    pub scope: Scope,
    /// The window's note.
    pub note: String,
}

/// The part of the topology behind a link (see [`Inventory::links_behind`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Behind {
    /// The link's far-end site and every site below it.
    pub sites: BTreeSet<String>,
    /// Ids of the links that start at one of `sites`.
    pub links: BTreeSet<String>,
}

/// A label value an agent sent that the inventory does not declare.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownLabel {
    /// `department`, `business_system`, `data_center` or `site` (as in the SLA report).
    pub label: &'static str,
    /// The value.
    pub value: String,
}

/// Why an inventory could not be used.
#[derive(Debug, thiserror::Error)]
pub enum InventoryError {
    /// The file could not be read.
    #[error("{path}: cannot read the inventory file: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The file is not valid YAML or does not match the expected keys and types.
    /// Shown as `file:line:col: key 'k': problem`.
    #[error("{0}")]
    Parse(Box<zerofault_common::yaml::ParseProblem>),
    /// The file parsed but values are wrong or inconsistent.
    #[error("{}", Problems(.problems))]
    Invalid {
        /// Every problem found, so that one run shows them all.
        problems: Vec<Problem>,
    },
}

/// One wrong value in an inventory; its key is a path such as `links[2].to`.
pub type Problem = zerofault_common::problem::Problem<String>;

/// Code -> position in the declaration lists; the first of duplicate codes wins (duplicates
/// are a validation error anyway).
#[derive(Debug, Clone, Default, PartialEq)]
pub(super) struct Index {
    pub(super) departments: HashMap<String, usize>,
    pub(super) business_systems: HashMap<String, usize>,
    pub(super) data_centers: HashMap<String, usize>,
    pub(super) sites: HashMap<String, usize>,
    pub(super) links: HashMap<String, usize>,
    /// Site code -> positions of the sites whose parent it is.
    pub(super) children: HashMap<String, Vec<usize>>,
    /// Site code -> positions of the links whose `from` it is.
    pub(super) links_from: HashMap<String, Vec<usize>>,
}

impl Index {
    pub(super) fn build(inv: &Inventory) -> Index {
        fn positions<'a>(codes: impl Iterator<Item = &'a String>) -> HashMap<String, usize> {
            let mut out = HashMap::new();
            for (i, c) in codes.enumerate() {
                out.entry(c.clone()).or_insert(i);
            }
            out
        }
        let mut children: HashMap<String, Vec<usize>> = HashMap::new();
        for (i, s) in inv.sites.iter().enumerate() {
            if let Some(p) = &s.parent {
                children.entry(p.clone()).or_default().push(i);
            }
        }
        let mut links_from: HashMap<String, Vec<usize>> = HashMap::new();
        for (i, l) in inv.links.iter().enumerate() {
            links_from.entry(l.from.clone()).or_default().push(i);
        }
        Index {
            departments: positions(inv.departments.iter().map(|d| &d.code)),
            business_systems: positions(inv.business_systems.iter().map(|b| &b.code)),
            data_centers: positions(inv.data_centers.iter().map(|d| &d.code)),
            sites: positions(inv.sites.iter().map(|s| &s.code)),
            links: positions(inv.links.iter().map(|l| &l.id)),
            children,
            links_from,
        }
    }
}

/// Whether `lang` asks for Chinese (`zh-CN`, `zh`, any `zh-*`); everything else is English.
pub fn is_chinese(lang: &str) -> bool {
    let l = lang.to_ascii_lowercase();
    l == "zh" || l.starts_with("zh-") || l.starts_with("zh_")
}

/// The name in `lang`, falling back to the other language when that one is empty.
fn pick<'a>(lang: &str, zh: &'a str, en: &'a str) -> &'a str {
    let (first, second) = if is_chinese(lang) { (zh, en) } else { (en, zh) };
    if first.is_empty() { second } else { first }
}

/// Zh/en names of inventory items.
pub trait Named {
    /// Chinese name.
    fn name_zh(&self) -> &str;
    /// English name.
    fn name_en(&self) -> &str;
    /// The name in `lang` (`en` or `zh-CN`), the other language's when that one is empty,
    /// and "" when both are.
    fn name(&self, lang: &str) -> &str {
        pick(lang, self.name_zh(), self.name_en())
    }
}

macro_rules! named {
    ($($t:ty),*) => {$(
        impl Named for $t {
            fn name_zh(&self) -> &str {
                &self.name_zh
            }
            fn name_en(&self) -> &str {
                &self.name_en
            }
        }
    )*};
}
named!(
    Organisation,
    Department,
    BusinessSystem,
    DataCenter,
    Site,
    Link
);
