//! The schematic site topology of the overview: the inventory's site tree drawn left to
//! right (province, city, county, township), each edge the link into a site with its state.
//! Collapsed below city level except where there is a fault: a county or township site is
//! drawn only when a link in its subtree (or the link into it) is not up; the others are
//! counted on their drawn parent ("+N"). Pure: sites and link states in, SVG out.
//!
//! State is carried by shape as well as colour: a down edge is thick, dashed and crossed
//! (✕), a degraded one dashed, a link without evidence dotted.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::text::Lang;
use crate::inventory::{Inventory, SiteLevel};
use crate::live::links::LinkState;
use crate::live::now::LinkNow;

/// Horizontal distance between levels, px.
const COLUMN: i32 = 165;
/// Vertical distance between drawn leaves, px: a name (12 px) above each node's line.
const ROW: i32 = 24;
/// Left and top margin.
const MARGIN: i32 = 8;
/// Characters of a site name drawn before it is cut (the full name is the tooltip).
const NAME_CHARS: usize = 11;

/// One drawn site.
#[derive(Debug, Clone, PartialEq)]
struct Node {
    code: String,
    depth: i32,
    y: i32,
    /// Sites below it that are not drawn.
    hidden: usize,
    /// State of the link into it, `None` for a root.
    edge: Option<Option<LinkState>>,
    edge_id: String,
    parent: Option<usize>,
}

fn edge_class(state: Option<LinkState>) -> &'static str {
    match state {
        Some(LinkState::Up) => "up",
        Some(LinkState::Degraded) => "degraded",
        Some(LinkState::Down) => "down",
        None => "nodata",
    }
}

/// Escapes text for SVG/HTML content and attributes.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The topology as an inline SVG element; empty when the inventory declares no site.
pub fn svg(inv: &Inventory, links: &[LinkNow], lang: Lang) -> String {
    if inv.sites.is_empty() {
        return String::new();
    }
    // Link into each site (the inventory's `to`), with its state now.
    let states: BTreeMap<&str, Option<LinkState>> =
        links.iter().map(|l| (l.id.as_str(), l.state)).collect();
    let mut into: BTreeMap<&str, (&str, Option<LinkState>)> = BTreeMap::new();
    for l in &inv.links {
        let state = states.get(l.id.as_str()).copied().flatten();
        // With several links into a site (an access link beside the backbone), the worst.
        let e = into.entry(l.to.as_str()).or_insert((l.id.as_str(), state));
        if state > e.1 {
            *e = (l.id.as_str(), state);
        }
    }
    let mut children: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    let mut roots = Vec::new();
    for s in &inv.sites {
        match s.parent.as_deref() {
            Some(p) if inv.site(p).is_some() => children.entry(p).or_default().push(&s.code),
            _ => roots.push(s.code.as_str()),
        }
    }
    // Whether a site's subtree (the link into it included) holds a link that is not up.
    fn faulty<'a>(
        code: &'a str,
        children: &BTreeMap<&'a str, Vec<&'a str>>,
        into: &BTreeMap<&'a str, (&'a str, Option<LinkState>)>,
        memo: &mut BTreeMap<&'a str, bool>,
        depth: usize,
    ) -> bool {
        if let Some(&f) = memo.get(code) {
            return f;
        }
        let own = matches!(
            into.get(code),
            Some((_, Some(LinkState::Down | LinkState::Degraded)))
        );
        // The depth bound guards against a cycle (a validation error) in an unchecked file.
        let f = own
            || (depth < 64
                && children
                    .get(code)
                    .into_iter()
                    .flatten()
                    .any(|c| faulty(c, children, into, memo, depth + 1)));
        memo.insert(code, f);
        f
    }
    let mut memo = BTreeMap::new();
    let mut nodes: Vec<Node> = Vec::new();
    let mut next_row = 0;
    // Depth-first, children in file order; a node's row is its first drawn child's, or the
    // next free row for a leaf.
    let mut stack: Vec<(&str, i32, Option<usize>)> =
        roots.iter().rev().map(|r| (*r, 0, None)).collect();
    while let Some((code, depth, parent)) = stack.pop() {
        let (edge_id, edge) = match into.get(code) {
            Some((id, state)) if parent.is_some() => ((*id).to_owned(), Some(*state)),
            _ => (String::new(), None),
        };
        let idx = nodes.len();
        nodes.push(Node {
            code: code.to_owned(),
            depth,
            y: next_row,
            hidden: 0,
            edge,
            edge_id,
            parent,
        });
        let kids = children.get(code).cloned().unwrap_or_default();
        let mut drawn = Vec::new();
        for k in kids {
            let level = inv.site(k).map(|s| s.level);
            let always = matches!(level, Some(SiteLevel::Province | SiteLevel::City));
            if (always || faulty(k, &children, &into, &mut memo, 0)) && depth < 16 {
                drawn.push(k);
            } else {
                nodes[idx].hidden += 1 + count_below(k, &children, 0);
            }
        }
        if drawn.is_empty() {
            next_row += 1;
        }
        for k in drawn.into_iter().rev() {
            stack.push((k, depth + 1, Some(idx)));
        }
    }
    // A parent sits at the middle of its children's rows.
    for i in (0..nodes.len()).rev() {
        let kids: Vec<i32> = nodes
            .iter()
            .filter(|n| n.parent == Some(i))
            // Already doubled: children come after their parent.
            .map(|n| n.y)
            .collect();
        if let (Some(first), Some(last)) = (kids.iter().min(), kids.iter().max()) {
            // Half rows, kept as doubled integers until drawn.
            nodes[i].y = (first + last) / 2;
        } else {
            nodes[i].y *= 2;
        }
    }
    let depth = nodes.iter().map(|n| n.depth).max().unwrap_or(0);
    let width = MARGIN * 2 + (depth + 1) * COLUMN;
    let height = MARGIN * 2 + 14 + next_row * ROW;
    let pos = |n: &Node| {
        (
            MARGIN + 6 + n.depth * COLUMN,
            // Names are written above the nodes: the first row starts a text line down.
            MARGIN + 14 + n.y * ROW / 2,
        )
    };
    let mut out = String::new();
    let _ = write!(
        out,
        r#"<svg class="topology" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img">"#
    );
    for n in &nodes {
        let (Some(p), Some(state)) = (n.parent, n.edge) else {
            continue;
        };
        let (x1, y1) = pos(&nodes[p]);
        let (x2, y2) = pos(n);
        let class = edge_class(state);
        let _ = write!(
            out,
            r#"<g class="edge {class}" data-link="{id}"><title>{id}: {class}</title><path d="M{x1} {y1} H{mx} V{y2} H{x2}"/>"#,
            id = escape(&n.edge_id),
            mx = x1 + COLUMN / 3,
        );
        if state == Some(LinkState::Down) {
            let _ = write!(
                out,
                r#"<text class="cross" x="{}" y="{}">✕</text>"#,
                x1 + COLUMN / 3 + (x2 - x1 - COLUMN / 3) / 2 - 5,
                y2 + 5
            );
        }
        out.push_str("</g>");
    }
    for n in &nodes {
        let (x, y) = pos(n);
        let site = inv.site(&n.code);
        let name = site.map_or(n.code.as_str(), |s| {
            lang.name(&s.name_zh, &s.name_en, &s.code)
        });
        let short: String = name.chars().take(NAME_CHARS).collect();
        let cut = if short.len() < name.len() { "…" } else { "" };
        let more = if n.hidden > 0 {
            format!(" +{}", n.hidden)
        } else {
            String::new()
        };
        let class = n.edge.map_or("root", edge_class);
        let _ = write!(
            out,
            r#"<g class="site {class}"><title>{full} ({code})</title><circle cx="{x}" cy="{y}" r="5"/><text x="{tx}" y="{ty}">{short}{cut}{more}</text></g>"#,
            full = escape(name),
            code = escape(&n.code),
            short = escape(&short),
            tx = x - 4,
            ty = y - 8,
        );
    }
    out.push_str("</svg>");
    out
}

fn count_below(code: &str, children: &BTreeMap<&str, Vec<&str>>, depth: usize) -> usize {
    if depth > 64 {
        return 0;
    }
    children
        .get(code)
        .into_iter()
        .flatten()
        .map(|c| 1 + count_below(c, children, depth + 1))
        .sum()
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    const INVENTORY: &str = r#"
sites:
  - {code: p, name_zh: 省节点, name_en: Province, level: province, domain: administrative}
  - {code: c, name_zh: 市节点, name_en: City, level: city, domain: administrative, parent: p}
  - {code: k1, name_zh: 甲县, name_en: County A, level: county, domain: administrative, parent: c}
  - {code: k2, name_zh: 乙县, name_en: County B, level: county, domain: administrative, parent: c}
  - {code: t1, name_zh: 甲镇, name_en: Town A, level: township, domain: administrative, parent: k1}
  - {code: t2, name_zh: 乙镇, name_en: Town B, level: township, domain: administrative, parent: k2}
links:
  - {id: p-c, from: p, to: c, level: province-city, domain: administrative}
  - {id: c-k1, from: c, to: k1, level: city-county, domain: administrative}
  - {id: c-k2, from: c, to: k2, level: city-county, domain: administrative}
  - {id: k1-t1, from: k1, to: t1, level: county-township, domain: administrative}
  - {id: k2-t2, from: k2, to: t2, level: county-township, domain: administrative}
"#;

    fn link(id: &str, state: Option<LinkState>) -> LinkNow {
        LinkNow {
            id: id.into(),
            level: String::new(),
            domain: String::new(),
            state,
            maintenance: false,
            behind: None,
        }
    }

    #[test]
    fn collapsed_below_city_except_the_faulty_branch() {
        let inv = Inventory::parse(INVENTORY, Path::new("i.yaml")).unwrap();
        let links = [
            link("p-c", Some(LinkState::Up)),
            link("c-k1", Some(LinkState::Up)),
            link("k1-t1", Some(LinkState::Down)),
            link("c-k2", Some(LinkState::Up)),
            link("k2-t2", None),
        ];
        let svg = svg(&inv, &links, Lang::En);
        // The faulty branch is drawn down to the township, with its edge crossed.
        assert!(svg.contains("Town A"), "{svg}");
        assert!(
            svg.contains(r#"<g class="edge down" data-link="k1-t1">"#),
            "{svg}"
        );
        assert!(svg.contains('✕'));
        // The healthy county is collapsed into its parent's count: City +2 (k2 and t2).
        assert!(!svg.contains("County B"), "{svg}");
        assert!(svg.contains("City +2"), "{svg}");
        assert!(svg.contains(r#"data-link="p-c""#));

        let zh = super::svg(&inv, &links, Lang::Zh);
        assert!(zh.contains("甲镇") && zh.contains("市节点 +2"), "{zh}");

        let all_up: Vec<LinkNow> = links
            .iter()
            .map(|l| link(&l.id, Some(LinkState::Up)))
            .collect();
        let calm = super::svg(&inv, &all_up, Lang::En);
        assert!(
            !calm.contains("County A") && calm.contains("City +4"),
            "{calm}"
        );
        assert!(!calm.contains('✕'));
    }

    #[test]
    fn names_are_escaped_and_no_sites_draw_nothing() {
        assert_eq!(
            escape(r#"<a href="x">&'"#),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
        assert_eq!(svg(&Inventory::default(), &[], Lang::Zh), "");
    }
}
