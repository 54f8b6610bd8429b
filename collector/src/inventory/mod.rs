//! The collector's inventory (`configs/inventory.yaml`, referenced by the `inventory:` key of
//! the collector configuration): the organisation, the network topology, SLA targets,
//! maintenance windows and the reporting calendar. `docs/inventory.md` is its user-facing form.
//!
//! Loading is two steps, like the collector configuration: [`Inventory::load`] parses the YAML
//! (unknown keys and malformed values are errors naming `file:line:col` and the key), then
//! [`Inventory::validate`] checks what needs the whole document (unique codes, references,
//! topology, ranges) and lists every problem with its key path and the fix.
//!
//! The lookups the SLA engine needs ([`Inventory::host_target`], [`Inventory::links_behind`],
//! [`Inventory::maintenance_intervals`], ...) are pure functions of the loaded document.

mod maintenance;
mod model;
mod time;
mod validate;

use std::path::Path;

pub use model::*;
pub use time::{Clock, MonthDay, MonthError, Weekday, month_bounds};

impl Inventory {
    /// Reads and parses `path`. Values are not cross-checked; call [`Inventory::validate`].
    pub fn load(path: &Path) -> Result<Inventory, InventoryError> {
        let text = std::fs::read_to_string(path).map_err(|source| InventoryError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(&text, path)
    }

    /// Parses YAML `text` as if read from `path` (named in messages).
    pub fn parse(text: &str, path: &Path) -> Result<Inventory, InventoryError> {
        let mut inv: Inventory = serde_saphyr::from_str(text).map_err(|e| {
            InventoryError::Parse(Box::new(zerofault_common::yaml::ParseProblem::new(
                path, text, &e,
            )))
        })?;
        inv.source = path.to_owned();
        inv.reindex();
        Ok(inv)
    }

    /// Rebuilds the code lookups; needed only after changing the lists in place (tests that
    /// build an inventory from [`Inventory::default`]).
    pub fn reindex(&mut self) {
        self.index = Index::build(self);
    }

    /// Checks everything [`Inventory::parse`] cannot: unique codes, references, topology,
    /// ranges. Every problem is listed.
    pub fn validate(&self) -> Result<(), InventoryError> {
        let problems = validate::problems(self);
        if problems.is_empty() {
            Ok(())
        } else {
            Err(InventoryError::Invalid { problems })
        }
    }

    /// The organisation's name in `lang` (`en` or `zh-CN`), "" without `organisation`.
    pub fn organisation_name(&self, lang: &str) -> &str {
        self.organisation.as_ref().map_or("", |o| o.name(lang))
    }

    /// The IANA name of the reporting time zone.
    pub fn time_zone_name(&self) -> &str {
        self.time_zone.iana_name().unwrap_or(DEFAULT_TIME_ZONE)
    }

    /// Start and end (exclusive) of calendar month `YYYY-MM` in the reporting time zone,
    /// Unix milliseconds.
    pub fn month_bounds(&self, month: &str) -> Result<(i64, i64), MonthError> {
        month_bounds(&self.time_zone, month)
    }

    /// Whether `scope` names something this inventory has: a declared link or group code,
    /// or a well-formed agent id (hosts come from their agents, not from the inventory).
    /// Maintenance windows and SLA adjustments name their scope by this rule.
    pub fn knows(&self, scope: &Scope) -> bool {
        match scope {
            Scope::Host(id) => zerofault_protocol::is_valid_agent_id(id),
            Scope::BusinessSystem(c) => self.business_system(c).is_some(),
            Scope::Department(c) => self.department(c).is_some(),
            Scope::DataCenter(c) => self.data_center(c).is_some(),
            Scope::Site(c) => self.site(c).is_some(),
            Scope::Link(c) => self.link(c).is_some(),
        }
    }

    /// The department with `code`.
    pub fn department(&self, code: &str) -> Option<&Department> {
        self.index
            .departments
            .get(code)
            .map(|&i| &self.departments[i])
    }

    /// The business system with `code`.
    pub fn business_system(&self, code: &str) -> Option<&BusinessSystem> {
        self.index
            .business_systems
            .get(code)
            .map(|&i| &self.business_systems[i])
    }

    /// The data center with `code`.
    pub fn data_center(&self, code: &str) -> Option<&DataCenter> {
        self.index
            .data_centers
            .get(code)
            .map(|&i| &self.data_centers[i])
    }

    /// The site with `code`.
    pub fn site(&self, code: &str) -> Option<&Site> {
        self.index.sites.get(code).map(|&i| &self.sites[i])
    }

    /// The link with `id`.
    pub fn link(&self, id: &str) -> Option<&Link> {
        self.index.links.get(id).map(|&i| &self.links[i])
    }

    /// Availability target of a host with these labels: its business system's target, else
    /// its department's, else `targets.host`. Unknown or empty codes fall through.
    pub fn host_target(&self, department: &str, business_system: &str) -> f64 {
        self.business_system(business_system)
            .and_then(|b| b.target)
            .or_else(|| self.department(department).and_then(|d| d.target))
            .unwrap_or(self.targets.host)
    }

    /// Availability target of `link`: its own, else its level's.
    pub fn link_target(&self, link: &Link) -> f64 {
        link.target
            .unwrap_or_else(|| self.targets.link.for_level(link.level))
    }

    /// The parent chain of `site`, nearest first, without the site itself. Empty for a root
    /// or an unknown site; stops before repeating a site (a cycle is a validation error).
    pub fn site_ancestors(&self, site: &str) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        let mut current = self.site(site);
        while let Some(parent) = current.and_then(|s| s.parent.as_deref()) {
            if parent == site || out.iter().any(|a| a == parent) {
                break;
            }
            out.push(parent.to_owned());
            current = self.site(parent);
        }
        out
    }

    /// What a failure of link `link_id` cuts off: the subtree of sites under its far end
    /// (`to`, included) and the links that start in that subtree. Empty for an unknown link.
    pub fn links_behind(&self, link_id: &str) -> Behind {
        let mut behind = Behind::default();
        let Some(link) = self.link(link_id) else {
            return behind;
        };
        let mut stack = vec![link.to.clone()];
        while let Some(code) = stack.pop() {
            if !behind.sites.insert(code.clone()) {
                continue;
            }
            for &i in self.index.children.get(&code).into_iter().flatten() {
                stack.push(self.sites[i].code.clone());
            }
        }
        for code in &behind.sites {
            for &i in self.index.links_from.get(code).into_iter().flatten() {
                behind.links.insert(self.links[i].id.clone());
            }
        }
        behind
    }

    /// Which of an agent's label values the inventory does not declare, in the order
    /// department, business system, data center, site. An empty value means "not labelled"
    /// and is never unknown.
    pub fn unknown_labels(&self, labels: &zerofault_protocol::Labels) -> Vec<UnknownLabel> {
        let checks: [(&'static str, &str, bool); 4] = [
            (
                "department",
                &labels.department,
                self.department(&labels.department).is_some(),
            ),
            (
                "business_system",
                &labels.business_system,
                self.business_system(&labels.business_system).is_some(),
            ),
            (
                "data_center",
                &labels.datacenter,
                self.data_center(&labels.datacenter).is_some(),
            ),
            ("site", &labels.site, self.site(&labels.site).is_some()),
        ];
        checks
            .into_iter()
            .filter(|(_, value, known)| !value.is_empty() && !known)
            .map(|(label, value, _)| UnknownLabel {
                label,
                value: value.to_owned(),
            })
            .collect()
    }

    /// Every occurrence of every maintenance window that overlaps `[start_unix_ms,
    /// end_unix_ms)`, clipped to it, sorted by start. An occurrence that began before the
    /// period (e.g. the previous day's or month's) and runs into it is included. Overlapping
    /// windows of one scope are returned as they are, not merged.
    pub fn maintenance_intervals(
        &self,
        start_unix_ms: i64,
        end_unix_ms: i64,
    ) -> Vec<MaintenanceInterval> {
        let mut out = Vec::new();
        if end_unix_ms <= start_unix_ms {
            return out;
        }
        for m in &self.maintenance {
            for (s, e) in maintenance::occurrences(&self.time_zone, m, start_unix_ms, end_unix_ms) {
                let (s, e) = (s.max(start_unix_ms), e.min(end_unix_ms));
                if s < e {
                    out.push(MaintenanceInterval {
                        start_unix_ms: s,
                        end_unix_ms: e,
                        scope: m.scope.clone(),
                        note: m.note.clone(),
                    });
                }
            }
        }
        out.sort();
        out
    }
}

#[cfg(test)]
mod tests;

/// The availability target of the links of backbone level `level` (a `LINK_LEVELS` name):
/// `targets.link.<level>`, and `targets.host` for a level the inventory does not know
/// (`unlabelled`).
pub fn link_level_target(inventory: &Inventory, level: &str) -> f64 {
    [
        LinkLevel::ProvinceCity,
        LinkLevel::CityCounty,
        LinkLevel::CountyTownship,
        LinkLevel::Access,
    ]
    .into_iter()
    .find(|l| l.as_str() == level)
    .map_or(inventory.targets.host, |l| {
        inventory.targets.link.for_level(l)
    })
}
