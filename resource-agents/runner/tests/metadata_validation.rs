//! Our ra-api-1.dtd validator against xmllint (what ocf-tester uses), on
//! every meta-data Debian's agents print and on mutations of it.
mod common;

use std::io::Write;
use std::process::{Command, Stdio};

use proptest::prelude::*;
use ra_runner::{run, validate_dtd, AgentSpec, MetaData, OpRequest, Roots};

const DTD_DIR: &str = "/usr/share/resource-agents";

/// `xmllint --noout --valid -` in the DTD's directory, as ocf-tester runs it.
fn xmllint_ok(xml: &str) -> bool {
    let mut child = Command::new("xmllint")
        .args(["--noout", "--valid", "-"])
        .current_dir(DTD_DIR)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("xmllint (libxml2-utils) must be installed");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(xml.as_bytes())
        .unwrap();
    child.wait().unwrap().success()
}

fn debian_metadata(agent: &str) -> String {
    let mut req = OpRequest::new(AgentSpec::ocf("heartbeat", agent).unwrap(), "meta-data");
    req.output_limit = ra_runner::metadata::METADATA_LIMIT;
    let r = run(&req, &Roots::default()).unwrap();
    r.stdout_str().into_owned()
}

#[test]
fn same_verdict_as_xmllint_on_every_debian_agent() {
    let roots = Roots::default();
    let agents = roots
        .types(ra_runner::Class::Ocf, Some("heartbeat"))
        .unwrap();
    assert!(
        agents.len() > 100,
        "expected Debian's resource-agents, got {}",
        agents.len()
    );
    let mut valid = 0;
    for agent in &agents {
        let xml = debian_metadata(agent);
        let ours = validate_dtd(&xml);
        assert_eq!(
            ours.is_empty(),
            xmllint_ok(&xml),
            "{agent}: ours says {ours:?}"
        );
        if ours.is_empty() {
            valid += 1;
            let md = MetaData::parse(&xml).unwrap_or_else(|e| panic!("{agent}: {e}"));
            assert_eq!(&md.name, agent);
            assert!(!md.actions.is_empty(), "{agent}");
        }
    }
    // At the time of writing 138 of 141 are valid; the rest use action "validate".
    assert!(valid > agents.len() - 10, "only {valid} valid");
}

fn dummy_xml() -> String {
    static XML: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    XML.get_or_init(|| debian_metadata("Dummy")).clone()
}

#[test]
fn same_verdict_as_xmllint_on_handmade_mutations() {
    let xml = dummy_xml();
    assert!(xmllint_ok(&xml));
    let mutations: Vec<(&str, String)> = vec![
        (
            "no doctype",
            xml.replace("<!DOCTYPE resource-agent SYSTEM \"ra-api-1.dtd\">", ""),
        ),
        (
            "undeclared attribute",
            xml.replacen(
                "<parameter name=\"state\"",
                "<parameter reloadable=\"1\" name=\"state\"",
                1,
            ),
        ),
        (
            "bad enum",
            xml.replacen("unique=\"1\"", "unique=\"yes\"", 1),
        ),
        (
            "padded enum",
            xml.replacen("unique=\"1\"", "unique=\" 1 \"", 1),
        ),
        (
            "select type",
            xml.replacen("type=\"string\"", "type=\"select\"", 1),
        ),
        (
            "reload-agent",
            xml.replacen(
                "<action name=\"reload\"",
                "<action name=\"reload-agent\"",
                1,
            ),
        ),
        ("missing timeout", xml.replacen(" timeout=\"20s\"", "", 1)),
        (
            "special element",
            xml.replace("</actions>", "</actions>\n<special tag=\"x\"/>"),
        ),
        (
            "markup in longdesc",
            xml.replacen("</longdesc>", "<b>bold</b></longdesc>", 1),
        ),
        (
            "declared element in longdesc",
            xml.replacen("</longdesc>", "<version>x</version></longdesc>", 1),
        ),
        (
            "text in parameters",
            xml.replacen("<parameters>", "<parameters>oops", 1),
        ),
        (
            "EMPTY element as start/end tags",
            xml.replacen("/>", "></content>", 1),
        ),
        ("no parameters", {
            let a = xml.find("<parameters>").unwrap();
            let b = xml.find("</parameters>").unwrap() + "</parameters>".len();
            format!("{}{}", &xml[..a], &xml[b..])
        }),
        ("empty actions", {
            let a = xml.find("<actions>").unwrap() + "<actions>".len();
            let b = xml.find("</actions>").unwrap();
            format!("{}{}", &xml[..a], &xml[b..])
        }),
        (
            "comment in EMPTY",
            xml.replacen(
                "<action name=\"start\"        timeout=\"20s\" />",
                "<action name=\"start\" timeout=\"20s\"><!-- c --></action>",
                1,
            ),
        ),
        (
            "wrong root",
            xml.replace("resource-agent name", "resource-agents name")
                .replace("</resource-agent>", "</resource-agents>"),
        ),
        ("not xml", xml.replace("</resource-agent>", "")),
    ];
    for (what, m) in mutations {
        assert_ne!(m, xml, "mutation {what} did not apply");
        let ours = validate_dtd(&m);
        assert_eq!(
            ours.is_empty(),
            xmllint_ok(&m),
            "{what}: ours says {ours:?}"
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Deleting, duplicating or swapping random lines of valid meta-data:
    /// we and xmllint agree on validity.
    #[test]
    fn same_verdict_as_xmllint_on_random_line_edits(
        edits in proptest::collection::vec((0usize..3, any::<prop::sample::Index>(), any::<prop::sample::Index>()), 1..4)
    ) {
        let xml = dummy_xml();
        let mut lines: Vec<&str> = xml.lines().collect();
        for (kind, a, b) in edits {
            let (i, j) = (a.index(lines.len()), b.index(lines.len()));
            match kind {
                0 => { lines.remove(i); }
                1 => { let l = lines[i]; lines.insert(j, l); }
                _ => lines.swap(i, j),
            }
            if lines.is_empty() { break; }
        }
        let m = lines.join("\n");
        let ours = validate_dtd(&m);
        prop_assert_eq!(ours.is_empty(), xmllint_ok(&m), "ours: {:?}\n{}", ours, m);
    }
}
