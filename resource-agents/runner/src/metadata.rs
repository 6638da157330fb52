//! Agent meta-data: fetching, synthesizing (LSB, heartbeat class), parsing
//! and validation against `ra-api-1.dtd` (OCF 1.0) and the OCF 1.1 RelaxNG.

use std::fmt;
use std::fs;
use std::time::Duration;

use roxmltree::{Document, Node, NodeType, ParsingOptions};
use serde::{Deserialize, Serialize};

use crate::exec::{self, OpRequest, OpStatus, RunError};
use crate::roots::Roots;
use crate::spec::{AgentSpec, Class};

/// Which rule set a document satisfies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Dialect {
    /// Valid against `ra-api-1.dtd` (what ocf-tester and xmllint check).
    Ocf10Dtd,
    /// Valid against OCF 1.1 `ra-api.rng`, with two leniencies: an empty
    /// `<parameters/>` (Pacemaker's own LSB meta-data has one) and the
    /// Pacemaker `private` parameter attribute.
    Ocf11,
}

impl fmt::Display for Dialect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Dialect::Ocf10Dtd => "OCF 1.0 (ra-api-1.dtd)",
            Dialect::Ocf11 => "OCF 1.1 (ra-api.rng)",
        })
    }
}

/// One validity problem, with its position in the document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Problem {
    pub line: u32,
    pub col: u32,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.line, self.col, self.message)
    }
}

/// Why meta-data was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MetaDataError {
    #[error("meta-data is not well-formed XML at {line}:{col}: {message}")]
    Xml {
        line: u32,
        col: u32,
        message: String,
    },
    #[error("meta-data is not valid {dialect}: {}", join_problems(.problems))]
    Invalid {
        dialect: Dialect,
        problems: Vec<Problem>,
    },
}

fn join_problems(p: &[Problem]) -> String {
    p.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// Why [`metadata`] failed.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error(transparent)]
    Run(#[from] RunError),
    #[error("{spec} meta-data: agent not installed")]
    NotInstalled { spec: String },
    #[error("{spec} meta-data: {status:?}, rc {rc}: {stderr}")]
    Failed {
        spec: String,
        rc: i32,
        status: OpStatus,
        stderr: String,
    },
    #[error("{spec} meta-data: output larger than {limit} bytes")]
    TooLarge { spec: String, limit: usize },
    #[error("{spec}: {source}")]
    Parse {
        spec: String,
        #[source]
        source: MetaDataError,
    },
}

/// A `<longdesc>`, `<shortdesc>` or `<desc>` (text content, markup dropped).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Desc {
    pub lang: Option<String>,
    pub text: String,
}

/// A parameter's `<content type=...>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ContentType {
    String,
    Integer,
    Boolean,
    /// OCF 1.0 only.
    Time,
    /// OCF 1.1 `select` with its `<option value=...>` list.
    Select(Vec<String>),
}

/// One `<parameter>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Parameter {
    pub name: String,
    pub required: bool,
    /// `unique="1"` (1.0, deprecated in 1.1).
    pub unique: bool,
    /// OCF 1.1 `unique-group`.
    pub unique_group: Option<String>,
    /// OCF 1.1 `reloadable="1"`.
    pub reloadable: bool,
    /// Pacemaker's `private="1"`.
    pub private: bool,
    /// OCF 1.1 `<deprecated>`: names it was replaced with.
    pub deprecated: Option<Vec<String>>,
    pub longdesc: Vec<Desc>,
    pub shortdesc: Vec<Desc>,
    pub content: ContentType,
    pub default: Option<String>,
}

/// One `<action>`; times are kept as written (`20s`, `2m`, `15`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Action {
    pub name: String,
    pub timeout: String,
    pub interval: Option<String>,
    pub start_delay: Option<String>,
    pub depth: Option<String>,
    pub role: Option<String>,
}

impl Action {
    /// The advertised timeout, if it parses.
    pub fn timeout_duration(&self) -> Option<Duration> {
        parse_timespec(&self.timeout)
    }
    /// The advertised interval, if present and it parses.
    pub fn interval_duration(&self) -> Option<Duration> {
        self.interval.as_deref().and_then(parse_timespec)
    }
}

/// Parsed and validated meta-data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MetaData {
    /// `<resource-agent name=...>`.
    pub name: String,
    /// `<resource-agent version=...>`: the agent's own version.
    pub agent_version: Option<String>,
    /// `<version>`: the OCF API version the agent claims.
    pub ocf_version: String,
    pub longdesc: Vec<Desc>,
    pub shortdesc: Vec<Desc>,
    pub parameters: Vec<Parameter>,
    pub actions: Vec<Action>,
    /// `<special tag=...>`: the tag and the element's text.
    pub special: Option<(String, String)>,
    /// The rule set the document satisfied (1.0 is tried first).
    pub dialect: Dialect,
    /// The document as received.
    pub raw: String,
}

impl MetaData {
    /// Parses `xml`, which must be valid OCF 1.0 (DTD; the DOCTYPE line is
    /// not required here) or OCF 1.1. When it is neither, the problems
    /// reported are those of the version the document claims in `<version>`.
    pub fn parse(xml: &str) -> Result<MetaData, MetaDataError> {
        let doc = parse_xml(xml)?;
        let dtd = validate_dtd_doc(&doc, xml, false);
        let dialect = if dtd.is_empty() {
            Dialect::Ocf10Dtd
        } else {
            let rng = validate_ocf11_doc(&doc);
            if rng.is_empty() {
                Dialect::Ocf11
            } else {
                let claims_11 = child_elements(doc.root_element())
                    .find(|n| n.has_tag_name("version"))
                    .and_then(|n| n.text())
                    .is_some_and(|t| t.trim().starts_with("1.1"));
                return Err(if claims_11 {
                    MetaDataError::Invalid {
                        dialect: Dialect::Ocf11,
                        problems: rng,
                    }
                } else {
                    MetaDataError::Invalid {
                        dialect: Dialect::Ocf10Dtd,
                        problems: dtd,
                    }
                });
            }
        };
        Ok(extract(&doc, xml, dialect))
    }

    /// The parameter called `name`.
    pub fn parameter(&self, name: &str) -> Option<&Parameter> {
        self.parameters.iter().find(|p| p.name == name)
    }

    /// The first action called `name`.
    pub fn action(&self, name: &str) -> Option<&Action> {
        self.actions.iter().find(|a| a.name == name)
    }
}

fn parse_xml(xml: &str) -> Result<Document<'_>, MetaDataError> {
    let opts = ParsingOptions {
        allow_dtd: true,
        ..ParsingOptions::default()
    };
    Document::parse_with_options(xml, opts).map_err(|e| {
        let pos = e.pos();
        MetaDataError::Xml {
            line: pos.row,
            col: pos.col,
            message: e.to_string(),
        }
    })
}

/// Validates like `xmllint --noout --valid` run where `ra-api-1.dtd` lives
/// (ocf-tester's check): the document must name the DTD in its DOCTYPE and
/// follow it. Returns the problems; empty means valid.
pub fn validate_dtd(xml: &str) -> Vec<Problem> {
    match parse_xml(xml) {
        Ok(doc) => validate_dtd_doc(&doc, xml, true),
        Err(MetaDataError::Xml { line, col, message }) => vec![Problem { line, col, message }],
        Err(MetaDataError::Invalid { problems, .. }) => problems,
    }
}

/// Validates against the OCF 1.1 RelaxNG (with the leniencies of [`Dialect::Ocf11`]).
pub fn validate_ocf11(xml: &str) -> Vec<Problem> {
    match parse_xml(xml) {
        Ok(doc) => validate_ocf11_doc(&doc),
        Err(MetaDataError::Xml { line, col, message }) => vec![Problem { line, col, message }],
        Err(MetaDataError::Invalid { problems, .. }) => problems,
    }
}

struct Checker<'a, 'i> {
    doc: &'a Document<'i>,
    problems: Vec<Problem>,
}

impl Checker<'_, '_> {
    fn report(&mut self, node: Node, message: String) {
        let pos = self.doc.text_pos_at(node.range().start);
        self.problems.push(Problem {
            line: pos.row,
            col: pos.col,
            message,
        });
    }

    /// Attributes must be in `allowed`; `required` ones present; enumerated
    /// ones (after whitespace normalisation) among their values.
    fn attrs(&mut self, node: Node, allowed: &[(&str, bool, Option<&[&str]>)]) {
        let tag = node.tag_name().name();
        for a in node.attributes() {
            let qname = match a.namespace() {
                Some("http://www.w3.org/XML/1998/namespace") => format!("xml:{}", a.name()),
                Some(_) => format!("{{namespaced}}{}", a.name()),
                None => a.name().to_string(),
            };
            match allowed.iter().find(|(n, _, _)| *n == qname) {
                None => self.report(
                    node,
                    format!("no declaration for attribute {qname} of element {tag}"),
                ),
                Some((_, _, Some(values))) => {
                    let v = a
                        .value()
                        .split_ascii_whitespace()
                        .collect::<Vec<_>>()
                        .join(" ");
                    if !values.contains(&v.as_str()) {
                        self.report(
                            node,
                            format!(
                                "value {:?} for attribute {qname} of {tag} is not among {}",
                                a.value(),
                                values.join("|")
                            ),
                        );
                    }
                }
                Some(_) => {}
            }
        }
        for (name, required, _) in allowed {
            if *required && node.attribute(*name).is_none() {
                self.report(
                    node,
                    format!("element {tag} lacks required attribute {name}"),
                );
            }
        }
    }

    /// Children of element-only content: elements matching `model` in
    /// order (name, min, max); text must be whitespace.
    fn sequence(&mut self, node: Node, model: &[(&str, usize, usize)]) {
        let tag = node.tag_name().name();
        for c in node.children() {
            if c.is_text()
                && !c
                    .text()
                    .unwrap_or_default()
                    .trim_matches(is_xml_space)
                    .is_empty()
            {
                self.report(c, format!("element {tag} may not contain text"));
            }
        }
        let names: Vec<Node> = child_elements(node).collect();
        let mut i = 0;
        for (want, min, max) in model {
            let mut n = 0;
            while i < names.len() && names[i].tag_name().name() == *want && n < *max {
                i += 1;
                n += 1;
            }
            if n < *min {
                let at = names.get(i).copied().unwrap_or(node);
                let got = names.get(i).map_or("end of element".to_string(), |c| {
                    format!("<{}>", c.tag_name().name())
                });
                self.report(at, format!("element {tag}: expected <{want}>, found {got}"));
                return;
            }
        }
        if let Some(extra) = names.get(i) {
            let expected = model.iter().map(|m| m.0).collect::<Vec<_>>().join(",");
            self.report(
                *extra,
                format!(
                    "element {tag}: unexpected <{}> (content model is ({expected}))",
                    extra.tag_name().name()
                ),
            );
        }
    }

    fn empty(&mut self, node: Node, whitespace_ok: bool) {
        let tag = node.tag_name().name();
        for c in node.children() {
            let ok = whitespace_ok
                && c.is_text()
                && c.text()
                    .unwrap_or_default()
                    .trim_matches(is_xml_space)
                    .is_empty();
            if !ok {
                self.report(
                    c,
                    format!("element {tag} was declared EMPTY but has content"),
                );
                return;
            }
        }
    }

    fn text_only(&mut self, node: Node) {
        let tag = node.tag_name().name();
        if let Some(c) = child_elements(node).next() {
            self.report(c, format!("element {tag} may only contain text"));
        }
    }
}

fn is_xml_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r')
}

fn child_elements<'a, 'i>(node: Node<'a, 'i>) -> impl Iterator<Item = Node<'a, 'i>> {
    node.children().filter(|c| c.is_element())
}

const BOOL01: &[&str] = &["1", "0"];
const DTD_TYPES: &[&str] = &["string", "integer", "boolean", "time"];
const DTD_ACTIONS: &[&str] = &[
    "start",
    "stop",
    "recover",
    "monitor",
    "restart",
    "migrate_to",
    "migrate_from",
    "promote",
    "demote",
    "notify",
    "status",
    "reload",
    "meta-data",
    "usage",
    "methods",
    "validate-all",
];

fn validate_dtd_doc(doc: &Document, xml: &str, need_doctype: bool) -> Vec<Problem> {
    let mut ck = Checker {
        doc,
        problems: Vec::new(),
    };
    let root = doc.root_element();
    if need_doctype {
        match doctype(xml, root.range().start) {
            None => ck.report(root, "validation failed: no DTD found (missing <!DOCTYPE resource-agent SYSTEM \"ra-api-1.dtd\">)".into()),
            Some((name, system)) => {
                if name != "resource-agent" {
                    ck.report(root, format!("DOCTYPE names {name:?}, not resource-agent"));
                }
                if system.rsplit('/').next() != Some("ra-api-1.dtd") {
                    ck.report(root, format!("DOCTYPE system id {system:?} is not ra-api-1.dtd"));
                }
            }
        }
    }
    dtd_element(&mut ck, root, true);
    ck.problems
}

fn dtd_element(ck: &mut Checker, node: Node, is_root: bool) {
    let tag = node.tag_name().name();
    if node.tag_name().namespace().is_some() {
        ck.report(node, format!("no declaration for namespaced element {tag}"));
        return;
    }
    if is_root && tag != "resource-agent" {
        ck.report(
            node,
            format!("root element is {tag}, expected resource-agent"),
        );
        return;
    }
    match tag {
        "resource-agent" => {
            ck.attrs(node, &[("name", true, None), ("version", false, None)]);
            ck.sequence(
                node,
                &[
                    ("version", 1, 1),
                    ("longdesc", 1, 1),
                    ("shortdesc", 1, 1),
                    ("parameters", 0, 1),
                    ("actions", 1, 1),
                ],
            );
        }
        "version" => {
            ck.attrs(node, &[]);
            ck.text_only(node);
        }
        "parameters" => {
            ck.attrs(node, &[]);
            ck.sequence(node, &[("parameter", 0, usize::MAX)]);
        }
        "actions" => {
            ck.attrs(node, &[]);
            ck.sequence(node, &[("action", 0, usize::MAX)]);
        }
        "parameter" => {
            ck.attrs(
                node,
                &[
                    ("name", true, None),
                    ("required", false, Some(BOOL01)),
                    ("unique", false, Some(BOOL01)),
                ],
            );
            ck.sequence(
                node,
                &[
                    ("longdesc", 1, usize::MAX),
                    ("shortdesc", 1, usize::MAX),
                    ("content", 1, 1),
                ],
            );
        }
        "longdesc" | "shortdesc" => {
            ck.attrs(node, &[("lang", false, None)]);
            if let Some(lang) = node.attribute("lang") {
                let l = lang.trim_matches(is_xml_space);
                if l.is_empty()
                    || !l
                        .chars()
                        .all(|c| c.is_alphanumeric() || ".-_:".contains(c) || !c.is_ascii())
                {
                    ck.report(node, format!("lang {lang:?} is not a valid NMTOKEN"));
                }
            }
        }
        "content" => {
            ck.attrs(
                node,
                &[("type", true, Some(DTD_TYPES)), ("default", false, None)],
            );
            ck.empty(node, false);
        }
        "action" => {
            ck.attrs(
                node,
                &[
                    ("name", true, Some(DTD_ACTIONS)),
                    ("timeout", true, None),
                    ("interval", false, None),
                    ("start-delay", false, None),
                    ("role", false, None),
                    ("depth", false, None),
                ],
            );
            ck.empty(node, false);
        }
        other => {
            ck.report(node, format!("no declaration for element {other}"));
            return;
        }
    }
    // ANY content (longdesc/shortdesc) still requires declared children;
    // other models were checked by name above and are validated the same way.
    for c in child_elements(node) {
        dtd_element(ck, c, false);
    }
}

/// `(name, system id)` of a DOCTYPE before the root element, if any.
fn doctype(xml: &str, root_start: usize) -> Option<(String, String)> {
    let prolog = xml.get(..root_start)?;
    let at = prolog.find("<!DOCTYPE")?;
    let rest = &prolog[at + "<!DOCTYPE".len()..];
    let mut words = rest.split_ascii_whitespace();
    let name = words.next()?.trim_end_matches('>').to_string();
    let kind = words.next().unwrap_or_default();
    let after_kind = rest
        .find(kind)
        .map(|i| &rest[i + kind.len()..])
        .unwrap_or_default();
    let literals = quoted_literals(after_kind);
    let system = match kind {
        "SYSTEM" => literals.first().cloned(),
        "PUBLIC" => literals.get(1).cloned(),
        _ => None,
    }
    .unwrap_or_default();
    Some((name, system))
}

fn quoted_literals(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = s.trim_start();
    while let Some(q) = rest.chars().next().filter(|c| *c == '"' || *c == '\'') {
        let body = &rest[1..];
        match body.find(q) {
            Some(end) => {
                out.push(body[..end].to_string());
                rest = body[end + 1..].trim_start();
            }
            None => break,
        }
    }
    out
}

fn validate_ocf11_doc(doc: &Document) -> Vec<Problem> {
    let mut ck = Checker {
        doc,
        problems: Vec::new(),
    };
    let root = doc.root_element();
    if root.tag_name().name() != "resource-agent" || root.tag_name().namespace().is_some() {
        ck.report(
            root,
            format!(
                "root element is {}, expected resource-agent",
                root.tag_name().name()
            ),
        );
        return ck.problems;
    }
    ck.attrs(root, &[("name", true, None), ("version", false, None)]);
    ck.sequence(
        root,
        &[
            ("version", 1, 1),
            ("longdesc", 0, usize::MAX),
            ("shortdesc", 0, usize::MAX),
            ("parameters", 1, 1),
            ("actions", 1, 1),
            ("special", 0, 1),
        ],
    );
    for c in child_elements(root) {
        match c.tag_name().name() {
            "version" => {
                ck.attrs(c, &[]);
                ck.text_only(c);
            }
            "longdesc" | "shortdesc" => ck.attrs(c, &[("lang", true, None)]),
            "parameters" => {
                ck.attrs(c, &[]);
                ck.sequence(c, &[("parameter", 0, usize::MAX)]);
                for p in child_elements(c).filter(|p| p.has_tag_name("parameter")) {
                    rng_parameter(&mut ck, p);
                }
            }
            "actions" => {
                ck.attrs(c, &[]);
                ck.sequence(c, &[("action", 1, usize::MAX)]);
                for a in child_elements(c).filter(|a| a.has_tag_name("action")) {
                    ck.attrs(
                        a,
                        &[
                            ("name", true, None),
                            ("timeout", true, None),
                            ("interval", false, None),
                            ("start-delay", false, None),
                            ("depth", false, None),
                            ("role", false, None),
                        ],
                    );
                    ck.empty(a, true);
                }
            }
            "special" => ck.attrs(c, &[("tag", true, None)]),
            _ => {}
        }
    }
    ck.problems
}

fn rng_parameter(ck: &mut Checker, p: Node) {
    ck.attrs(
        p,
        &[
            ("name", true, None),
            ("unique-group", false, None),
            ("unique", false, Some(BOOL01)),
            ("required", false, Some(BOOL01)),
            ("reloadable", false, Some(BOOL01)),
            ("private", false, Some(BOOL01)),
        ],
    );
    ck.sequence(
        p,
        &[
            ("deprecated", 0, 1),
            ("longdesc", 1, usize::MAX),
            ("shortdesc", 1, usize::MAX),
            ("content", 1, 1),
        ],
    );
    for c in child_elements(p) {
        match c.tag_name().name() {
            "longdesc" | "shortdesc" => ck.attrs(c, &[("lang", true, None)]),
            "deprecated" => {
                ck.attrs(c, &[]);
                for d in child_elements(c) {
                    match d.tag_name().name() {
                        "replaced-with" => {
                            ck.attrs(d, &[("name", true, None)]);
                            ck.empty(d, true);
                        }
                        "desc" => ck.attrs(d, &[("lang", true, None)]),
                        other => ck.report(d, format!("unexpected <{other}> in <deprecated>")),
                    }
                }
            }
            "content" => {
                ck.attrs(
                    c,
                    &[
                        (
                            "type",
                            true,
                            Some(&["boolean", "string", "integer", "select"]),
                        ),
                        ("default", false, None),
                    ],
                );
                if c.attribute("type").map(str::trim) == Some("select") {
                    ck.sequence(c, &[("option", 1, usize::MAX)]);
                    for o in child_elements(c) {
                        ck.attrs(o, &[("value", true, None)]);
                        ck.empty(o, true);
                    }
                } else {
                    ck.empty(c, true);
                }
            }
            _ => {}
        }
    }
}

fn descs(node: Node, tag: &str) -> Vec<Desc> {
    child_elements(node)
        .filter(|c| c.has_tag_name(tag))
        .map(|c| Desc {
            lang: c.attribute("lang").map(str::to_string),
            text: all_text(c).trim().to_string(),
        })
        .collect()
}

fn all_text(node: Node) -> String {
    node.descendants()
        .filter(|n| n.node_type() == NodeType::Text)
        .filter_map(|n| n.text())
        .collect()
}

fn flag(node: Node, name: &str) -> bool {
    node.attribute(name).map(str::trim) == Some("1")
}

fn extract(doc: &Document, xml: &str, dialect: Dialect) -> MetaData {
    let root = doc.root_element();
    let first = |tag: &str| child_elements(root).find(|c| c.has_tag_name(tag));
    let parameters = first("parameters")
        .map(|ps| {
            child_elements(ps)
                .filter(|p| p.has_tag_name("parameter"))
                .map(|p| {
                    let content = child_elements(p).find(|c| c.has_tag_name("content"));
                    let kind = match content.and_then(|c| c.attribute("type")).map(str::trim) {
                        Some("integer") => ContentType::Integer,
                        Some("boolean") => ContentType::Boolean,
                        Some("time") => ContentType::Time,
                        Some("select") => ContentType::Select(
                            content
                                .map(|c| {
                                    child_elements(c)
                                        .filter_map(|o| o.attribute("value").map(str::to_string))
                                        .collect()
                                })
                                .unwrap_or_default(),
                        ),
                        _ => ContentType::String,
                    };
                    let deprecated = child_elements(p)
                        .find(|c| c.has_tag_name("deprecated"))
                        .map(|d| {
                            child_elements(d)
                                .filter(|r| r.has_tag_name("replaced-with"))
                                .filter_map(|r| r.attribute("name").map(str::to_string))
                                .collect()
                        });
                    Parameter {
                        name: p.attribute("name").unwrap_or_default().to_string(),
                        required: flag(p, "required"),
                        unique: flag(p, "unique"),
                        unique_group: p.attribute("unique-group").map(str::to_string),
                        reloadable: flag(p, "reloadable"),
                        private: flag(p, "private"),
                        deprecated,
                        longdesc: descs(p, "longdesc"),
                        shortdesc: descs(p, "shortdesc"),
                        content: kind,
                        default: content
                            .and_then(|c| c.attribute("default"))
                            .map(str::to_string),
                    }
                })
                .collect()
        })
        .unwrap_or_default();
    let actions = first("actions")
        .map(|acts| {
            child_elements(acts)
                .filter(|a| a.has_tag_name("action"))
                .map(|a| Action {
                    name: a.attribute("name").unwrap_or_default().trim().to_string(),
                    timeout: a.attribute("timeout").unwrap_or_default().to_string(),
                    interval: a.attribute("interval").map(str::to_string),
                    start_delay: a.attribute("start-delay").map(str::to_string),
                    depth: a.attribute("depth").map(str::to_string),
                    role: a.attribute("role").map(str::to_string),
                })
                .collect()
        })
        .unwrap_or_default();
    MetaData {
        name: root.attribute("name").unwrap_or_default().to_string(),
        agent_version: root.attribute("version").map(str::to_string),
        ocf_version: first("version")
            .map(all_text)
            .unwrap_or_default()
            .trim()
            .to_string(),
        longdesc: descs(root, "longdesc"),
        shortdesc: descs(root, "shortdesc"),
        parameters,
        actions,
        special: first("special").map(|s| {
            (
                s.attribute("tag").unwrap_or_default().to_string(),
                all_text(s),
            )
        }),
        dialect,
        raw: xml.to_string(),
    }
}

/// Parses an OCF/Pacemaker time value: a bare number is seconds; units
/// `ms`/`msec`, `us`/`usec`, `s`/`sec`, `m`/`min`, `h`/`hr` may be combined
/// (`2m30s`).
pub fn parse_timespec(s: &str) -> Option<Duration> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    let mut total = Duration::ZERO;
    let mut rest = s;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if digits == 0 {
            return None;
        }
        let n: u64 = rest[..digits].parse().ok()?;
        rest = rest[digits..].trim_start();
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let unit = rest[..unit_len].trim().to_ascii_lowercase();
        rest = &rest[unit_len..];
        let d = match unit.as_str() {
            "" | "s" | "sec" => Duration::from_secs(n),
            "ms" | "msec" => Duration::from_millis(n),
            "us" | "usec" => Duration::from_micros(n),
            "m" | "min" => Duration::from_secs(n.checked_mul(60)?),
            "h" | "hr" => Duration::from_secs(n.checked_mul(3600)?),
            _ => return None,
        };
        total = total.checked_add(d)?;
    }
    Some(total)
}

/// Escapes text for XML content and attribute values.
pub fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // Control characters are not allowed in XML 1.0 at all.
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') => {}
            c => out.push(c),
        }
    }
    out
}

/// Meta-data lrmd made up for agents that have none (LSB init scripts and
/// heartbeat-class scripts). OCF agents get an empty string.
pub fn synthesize(spec: &AgentSpec, roots: &Roots) -> String {
    match spec.class {
        Class::Ocf => String::new(),
        Class::Lsb => synthesize_lsb(spec, &fs::read(roots.agent_path(spec)).unwrap_or_default()),
        Class::Heartbeat => synthesize_heartbeat(spec),
    }
}

/// The LSB header fields lrmd copied into `<special tag="LSB">`.
const LSB_FIELDS: [&str; 7] = [
    "Provides",
    "Required-Start",
    "Required-Stop",
    "Should-Start",
    "Should-Stop",
    "Default-Start",
    "Default-Stop",
];

/// Builds LSB meta-data from the script's `### BEGIN INIT INFO` block:
/// `# Short-Description:` and `# Description:` (continued on lines starting
/// `#` plus two blanks or a tab) become the descriptions, the dependency
/// fields go to `<special tag="LSB">`. Actions and timeouts are lrmd's.
pub fn synthesize_lsb(spec: &AgentSpec, script: &[u8]) -> String {
    let text = String::from_utf8_lossy(script);
    let mut fields: Vec<Option<String>> = vec![None; LSB_FIELDS.len()];
    let mut short: Option<String> = None;
    let mut long: Option<String> = None;
    let mut in_block = false;
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        let lower = line.to_ascii_lowercase();
        if lower.starts_with("### begin init info") {
            in_block = true;
            continue;
        }
        if !in_block {
            continue;
        }
        if lower.starts_with("### end init info") || !line.starts_with('#') {
            break;
        }
        let value_of = |key: &str| -> Option<String> {
            let tag = format!("# {}:", key.to_ascii_lowercase());
            lower
                .starts_with(&tag)
                .then(|| line[tag.len()..].trim().to_string())
        };
        if let Some(v) = LSB_FIELDS.iter().position(|k| value_of(k).is_some()) {
            if fields[v].is_none() {
                fields[v] = value_of(LSB_FIELDS[v]);
            }
            continue;
        }
        if short.is_none() {
            if let Some(v) = value_of("Short-Description") {
                short = Some(v);
                continue;
            }
        }
        if long.is_none() {
            if let Some(v) = value_of("Description") {
                let mut d = v;
                while let Some(next) = lines.peek() {
                    if next.starts_with("#  ") || next.starts_with("#\t") {
                        d.push(' ');
                        d.push_str(next[1..].trim());
                        lines.next();
                    } else {
                        break;
                    }
                }
                long = Some(d);
            }
        }
    }
    let name = xml_escape(&spec.agent_type);
    let long = long.map(|s| xml_escape(&s)).unwrap_or_else(|| name.clone());
    let short = short
        .map(|s| xml_escape(&s))
        .unwrap_or_else(|| name.clone());
    let mut out = format!(
        "<?xml version=\"1.0\"?>\n<!DOCTYPE resource-agent SYSTEM \"ra-api-1.dtd\">\n\
         <resource-agent name=\"{name}\" version=\"0.1\">\n  <version>1.0</version>\n\
         \x20 <longdesc lang=\"en\">\n    {long}\n  </longdesc>\n\
         \x20 <shortdesc lang=\"en\">{short}</shortdesc>\n  <parameters>\n  </parameters>\n  <actions>\n"
    );
    for (action, timeout) in [
        ("start", 15),
        ("stop", 15),
        ("status", 15),
        ("restart", 15),
        ("force-reload", 15),
    ] {
        out.push_str(&format!(
            "    <action name=\"{action}\" timeout=\"{timeout}\" />\n"
        ));
    }
    out.push_str(
        "    <action name=\"monitor\" timeout=\"15\" interval=\"15\" start-delay=\"15\" />\n",
    );
    out.push_str(
        "    <action name=\"meta-data\" timeout=\"5\" />\n  </actions>\n  <special tag=\"LSB\">\n",
    );
    for (k, v) in LSB_FIELDS.iter().zip(&fields) {
        out.push_str(&format!(
            "    <{k}>{}</{k}>\n",
            xml_escape(v.as_deref().unwrap_or_default())
        ));
    }
    out.push_str("  </special>\n</resource-agent>\n");
    out
}

/// lrmd's fixed heartbeat-class meta-data: parameters `1`..`5` (argv[1..5]),
/// start/stop/status 15 s, monitor 15 s every 15 s, meta-data 5 s. The
/// `<special tag="heartbeart">` spelling is lrmd's, kept for identical
/// `lrmadmin -M` output.
pub fn synthesize_heartbeat(spec: &AgentSpec) -> String {
    let name = xml_escape(&spec.agent_type);
    let mut out = format!(
        "<?xml version=\"1.0\"?>\n<!DOCTYPE resource-agent SYSTEM \"ra-api-1.dtd\">\n\
         <resource-agent name=\"{name}\">\n<version>1.0</version>\n<longdesc lang=\"en\">\n{name}</longdesc>\n\
         <shortdesc lang=\"en\">{name}</shortdesc>\n<parameters>\n"
    );
    for (i, ord) in ["first", "second", "third", "fourth", "fifth"]
        .iter()
        .enumerate()
    {
        let n = i + 1;
        out.push_str(&format!(
            "<parameter name=\"{n}\" unique=\"1\" required=\"0\">\n<longdesc lang=\"en\">\n\
             This argument will be passed as the {ord} argument to the heartbeat resource agent (assuming it supports one)\n\
             </longdesc>\n<shortdesc lang=\"en\">argv[{n}]</shortdesc>\n<content type=\"string\" default=\" \" />\n</parameter>\n"
        ));
    }
    out.push_str(
        "</parameters>\n<actions>\n<action name=\"start\"   timeout=\"15\" />\n<action name=\"stop\"    timeout=\"15\" />\n\
         <action name=\"status\"  timeout=\"15\" />\n<action name=\"monitor\" timeout=\"15\" interval=\"15\" start-delay=\"15\" />\n\
         <action name=\"meta-data\"  timeout=\"5\" />\n</actions>\n<special tag=\"heartbeart\">\n</special>\n</resource-agent>\n",
    );
    out
}

/// Bytes of meta-data accepted from an agent (the largest Debian agent
/// prints about 13 KiB).
pub const METADATA_LIMIT: usize = 1024 * 1024;

/// Gets, parses and validates an agent's meta-data: OCF agents are run with
/// `meta-data` (no instance, 30 s timeout); LSB and heartbeat-class
/// meta-data is synthesized as lrmd did.
pub fn metadata(spec: &AgentSpec, roots: &Roots) -> Result<MetaData, FetchError> {
    let mut req = OpRequest::new(spec.clone(), "meta-data");
    req.timeout = Duration::from_secs(30);
    req.output_limit = METADATA_LIMIT;
    let r = exec::run(&req, roots)?;
    let name = spec.to_string();
    match &r.status {
        OpStatus::NotInstalled => return Err(FetchError::NotInstalled { spec: name }),
        OpStatus::Done if r.rc == 0 => {}
        _ => {
            return Err(FetchError::Failed {
                spec: name,
                rc: r.rc,
                status: r.status.clone(),
                stderr: r.stderr_str().trim().to_string(),
            })
        }
    }
    if r.stdout_truncated > 0 {
        return Err(FetchError::TooLarge {
            spec: name,
            limit: METADATA_LIMIT,
        });
    }
    MetaData::parse(&r.stdout_str()).map_err(|source| FetchError::Parse { spec: name, source })
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"<?xml version="1.0"?>
<!DOCTYPE resource-agent SYSTEM "ra-api-1.dtd">
<resource-agent name="T" version="1.0">
<version>1.0</version>
<longdesc lang="en">long <b>x</b></longdesc>
<shortdesc lang="en">short</shortdesc>
<parameters>
<parameter name="state" unique="1" required=" 1 ">
<longdesc lang="en">l</longdesc><shortdesc lang="en">s</shortdesc>
<content type="string" default="/x"/>
</parameter>
</parameters>
<actions>
<action name="start" timeout="20s"/>
<action name="monitor" timeout="20s" interval="10s" depth="0"/>
</actions>
</resource-agent>
"#;

    #[test]
    fn timespecs() {
        assert_eq!(parse_timespec("20"), Some(Duration::from_secs(20)));
        assert_eq!(parse_timespec("20s"), Some(Duration::from_secs(20)));
        assert_eq!(parse_timespec("2m30s"), Some(Duration::from_secs(150)));
        assert_eq!(parse_timespec("1h"), Some(Duration::from_secs(3600)));
        assert_eq!(parse_timespec("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_timespec("s"), None);
        assert_eq!(parse_timespec("10x"), None);
    }

    #[test]
    fn dtd_rejects_undeclared_markup() {
        // <b> is not declared: ANY content still needs declared elements.
        let p = validate_dtd(GOOD);
        assert_eq!(p.len(), 1, "{p:?}");
        assert!(
            p[0].message.contains("no declaration for element b"),
            "{p:?}"
        );
        let fixed = GOOD.replace("<b>x</b>", "x");
        assert!(
            validate_dtd(&fixed).is_empty(),
            "{:?}",
            validate_dtd(&fixed)
        );
        let md = MetaData::parse(&fixed).unwrap();
        assert_eq!(md.dialect, Dialect::Ocf10Dtd);
        let state = md.parameter("state").unwrap();
        assert!(state.unique && state.required);
        assert_eq!(state.default.as_deref(), Some("/x"));
        assert_eq!(
            md.action("monitor").unwrap().interval_duration(),
            Some(Duration::from_secs(10))
        );
    }

    #[test]
    fn dtd_needs_doctype_and_order() {
        let fixed = GOOD.replace("<b>x</b>", "x");
        let no_doctype = fixed.replace("<!DOCTYPE resource-agent SYSTEM \"ra-api-1.dtd\">\n", "");
        assert!(!validate_dtd(&no_doctype).is_empty());
        // parse() does not insist on the DOCTYPE.
        assert!(MetaData::parse(&no_doctype).is_ok());
        let swapped = fixed.replace(
            "<longdesc lang=\"en\">long x</longdesc>\n<shortdesc lang=\"en\">short</shortdesc>",
            "<shortdesc lang=\"en\">short</shortdesc>\n<longdesc lang=\"en\">long x</longdesc>",
        );
        assert_ne!(swapped, fixed);
        assert!(!validate_dtd(&swapped).is_empty());
        let bad_action = fixed.replace("name=\"start\"", "name=\"reload-agent\"");
        let p = validate_dtd(&bad_action);
        assert!(
            p.iter().any(|p| p.message.contains("reload-agent")),
            "{p:?}"
        );
        // ... but it is fine OCF 1.1 (lang present, action names free).
        let md = MetaData::parse(&bad_action).unwrap();
        assert_eq!(md.dialect, Dialect::Ocf11);
    }

    #[test]
    fn errors_carry_positions() {
        match MetaData::parse(
            "<resource-agent name=\"x\">\n<version>1.0</version>\n<oops/>\n</resource-agent>",
        ) {
            Err(MetaDataError::Invalid {
                dialect: Dialect::Ocf10Dtd,
                problems,
            }) => {
                assert!(problems.iter().any(|p| p.line == 3), "{problems:?}");
            }
            other => panic!("expected invalid, got {other:?}"),
        }
        match MetaData::parse("<resource-agent") {
            Err(MetaDataError::Xml { line: 1, .. }) => {}
            other => panic!("expected XML error, got {other:?}"),
        }
    }

    #[test]
    fn synthesized_lsb_and_heartbeat_parse() {
        let script = b"#!/bin/sh\n\n### BEGIN INIT INFO\n# Provides:          web\n# Required-Start:    $network\n\
# Default-Start:     2 3 4 5\n# Short-Description: Web <server>\n# Description:       A web\n#  server & more\n\
### END INIT INFO\necho hi\n";
        let spec = AgentSpec::lsb("web").unwrap();
        let xml = synthesize_lsb(&spec, script);
        let md = MetaData::parse(&xml).unwrap();
        assert_eq!(md.shortdesc[0].text, "Web <server>");
        assert_eq!(md.longdesc[0].text, "A web server & more");
        let (tag, text) = md.special.clone().unwrap();
        assert_eq!(tag, "LSB");
        assert!(
            text.contains("$network") && text.contains("2 3 4 5"),
            "{text}"
        );
        assert!(md.action("force-reload").is_some());

        let hb = MetaData::parse(&synthesize_heartbeat(
            &AgentSpec::heartbeat("IPaddr").unwrap(),
        ))
        .unwrap();
        assert_eq!(hb.parameters.len(), 5);
        assert_eq!(hb.parameters[0].name, "1");
        assert_eq!(
            hb.action("monitor").unwrap().interval.as_deref(),
            Some("15")
        );
    }
}
