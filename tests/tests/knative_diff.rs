//! The differential test: every case of `tests/knative-diff/corpus/` judged by Knative
//! Serving v0.50.0's own code (the Go program in `tests/knative-diff/verdict/`) and by
//! knserve; the verdicts must agree (see `tests/knative-diff/README.md` for the protocol
//! and what "agree" means). Differences kept on purpose are listed, with their reasons,
//! in `tests/knative-diff/deliberate.json` and in the README's compatibility table.
//!
//! The Go program is built from the Go module proxy into `~/.cache/knserve-knative/` by
//! `scripts/knative-verdict.sh build` (a no-op once built); `KNSERVE_KNATIVE_VERDICT`
//! names a binary to use instead.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail, ensure};
use knserve_core::api::decode::yaml_to_json;
use knserve_core::api::{ParseError, ParseProblem, Resource, ValidationConfig, parse_yaml};
use knserve_core::autoscaler::validate_annotations;
use knserve_core::config::{AutoscalerConfig, DefaultsConfig, FeaturesConfig, NetworkConfig};
use knserve_core::error::{InvalidConfig, ValidationErrors};
use serde_json::Value;

#[path = "knative_diff/verdict.rs"]
mod verdict;

use verdict::{Disagreement, Verdict, compare};

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the tests crate sits in the repository root")
        .to_path_buf()
}

/// Every case of the corpus, in file then line order.
fn corpus(root: &Path) -> anyhow::Result<(Vec<PathBuf>, Vec<Value>)> {
    let dir = root.join("tests/knative-diff/corpus");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .map(|entry| entry.map(|e| e.path()))
        .collect::<Result<_, _>>()?;
    files.retain(|p| p.extension().is_some_and(|e| e == "jsonl"));
    files.sort();
    let mut cases = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file)?;
        for (i, line) in text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
        {
            let case: Value = serde_json::from_str(line)
                .with_context(|| format!("{}:{}: not a JSON case", file.display(), i + 1))?;
            cases.push(case);
        }
    }
    Ok((files, cases))
}

/// The Go program's path: `KNSERVE_KNATIVE_VERDICT`, else built (or found) by the script.
fn knative_binary(root: &Path) -> anyhow::Result<PathBuf> {
    if let Some(path) = std::env::var_os("KNSERVE_KNATIVE_VERDICT") {
        return Ok(PathBuf::from(path));
    }
    let out = Command::new("bash")
        .arg(root.join("scripts/knative-verdict.sh"))
        .arg("build")
        .output()
        .context("running scripts/knative-verdict.sh build")?;
    ensure!(
        out.status.success(),
        "scripts/knative-verdict.sh build failed ({}); it builds Knative's verdict program with Go from the module proxy:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout)?;
    let path = stdout
        .lines()
        .last()
        .context("the build script printed no path")?;
    Ok(PathBuf::from(path.trim()))
}

/// Knative's verdicts, keyed by case id.
fn knative_verdicts(binary: &Path, files: &[PathBuf]) -> anyhow::Result<BTreeMap<String, Verdict>> {
    let out = Command::new(binary)
        .args(files)
        .output()
        .with_context(|| format!("running {}", binary.display()))?;
    ensure!(
        out.status.success(),
        "{} failed ({}):\n{}",
        binary.display(),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let mut verdicts = BTreeMap::new();
    for line in String::from_utf8(out.stdout)?.lines() {
        let verdict: Verdict = serde_json::from_str(line)
            .with_context(|| format!("Knative's verdict is not JSON: {line}"))?;
        verdicts.insert(verdict.id.clone(), verdict);
    }
    Ok(verdicts)
}

fn string_map(value: Option<&Value>) -> BTreeMap<String, String> {
    value
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                .collect()
        })
        .unwrap_or_default()
}

/// The cluster settings a case names (`config`), each map at its defaults when absent;
/// a map that does not parse refuses the case, naming its key.
fn validation_config(id: &str, case: &Value) -> Result<ValidationConfig, Verdict> {
    let config = case.get("config");
    let map = |name: &str| string_map(config.and_then(|c| c.get(name)));
    let refuse =
        |e: InvalidConfig| Verdict::refused(id, "validate", vec![e.key.clone()], e.to_string());
    Ok(ValidationConfig {
        autoscaler: AutoscalerConfig::from_map(&map("config-autoscaler")).map_err(refuse)?,
        defaults: DefaultsConfig::from_map(&map("config-defaults")).map_err(refuse)?,
        features: FeaturesConfig::from_map(&map("config-features")).map_err(refuse)?,
    })
}

/// A manifest's first object, decoded as `kubectl apply` would send it (Knative's side
/// reads the first document too), in the `default` namespace when it names none (the
/// API server's default). An empty manifest has no `apiVersion`.
fn decode(yaml: &str) -> Result<Resource, Verdict> {
    let resources = parse_yaml(yaml).map_err(|e| decode_verdict(&e))?;
    let Some(mut resource) = resources.into_iter().next() else {
        let problem = "apiVersion: the manifest holds no object".to_owned();
        return Err(Verdict::refused(
            "",
            "decode",
            vec!["apiVersion".to_owned()],
            problem,
        ));
    };
    let meta = metadata_mut(&mut resource);
    if meta.namespace().is_empty() {
        meta.namespace = Some("default".to_owned());
    }
    Ok(resource)
}

/// The fields a decode error names (every problem of the document).
fn decode_paths(error: &ParseError) -> Vec<String> {
    error
        .problems()
        .filter_map(|p| match p {
            ParseProblem::ApiVersion(_) => Some("apiVersion".to_owned()),
            ParseProblem::Kind(_) => Some("kind".to_owned()),
            other => other.path().map(str::to_owned),
        })
        .collect()
}

fn decode_verdict(error: &ParseError) -> Verdict {
    Verdict::refused("", "decode", decode_paths(error), error.to_string())
}

fn metadata_mut(resource: &mut Resource) -> &mut knserve_core::api::ObjectMeta {
    match resource {
        Resource::Service(o) => &mut o.metadata,
        Resource::Configuration(o) => &mut o.metadata,
        Resource::Revision(o) => &mut o.metadata,
        Resource::Route(o) => &mut o.metadata,
    }
}

/// The requesting user, as on Knative's side.
const USER: &str = "admin";

/// The API server's naming of a `generateName` object, as on Knative's side (the base cut
/// to 58 characters, then 5 fixed characters), for an update's stored object.
fn generate_name(resource: &mut Resource) {
    let meta = metadata_mut(resource);
    if meta.name().is_empty() {
        if let Some(base) = meta.generate_name.clone() {
            let base: String = base.chars().take(58).collect();
            meta.name = Some(format!("{base}x2b4d"));
        }
    }
}

/// A manifest as the JSON `kubectl` sends.
fn manifest_json(yaml: &str) -> anyhow::Result<Value> {
    let json = yaml_to_json(yaml).map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(json.map(|j| j.value).unwrap_or(Value::Null))
}

/// RFC 7386: the merge patch that turns `from` into `to`.
fn merge_diff(from: &Value, to: &Value) -> Value {
    match (from, to) {
        (Value::Object(a), Value::Object(b)) => {
            let mut patch = serde_json::Map::new();
            for (k, v) in b {
                match a.get(k) {
                    Some(old) if old == v => {}
                    Some(old) => {
                        patch.insert(k.clone(), merge_diff(old, v));
                    }
                    None => {
                        patch.insert(k.clone(), v.clone());
                    }
                }
            }
            for k in a.keys().filter(|k| !b.contains_key(*k)) {
                patch.insert(k.clone(), Value::Null);
            }
            Value::Object(patch)
        }
        _ => to.clone(),
    }
}

/// RFC 7386: `patch` applied to `target`.
fn merge_apply(target: &mut Value, patch: &Value) {
    let Value::Object(patch) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(serde_json::Map::new());
    }
    let map = target.as_object_mut().expect("made an object above");
    for (k, v) in patch {
        if v.is_null() {
            map.remove(k);
        } else {
            merge_apply(map.entry(k.clone()).or_insert(Value::Null), v);
        }
    }
}

/// An update as `kubectl apply` makes it: the merge patch from `old_yaml` to `yaml`
/// applied to the stored object (`old_yaml` defaulted and named as on create).
fn updated(
    id: &str,
    case: &Value,
    yaml: &str,
    config: &ValidationConfig,
) -> anyhow::Result<(Resource, Resource)> {
    let old_yaml = case["old_yaml"]
        .as_str()
        .context("an update has old_yaml")?;
    let mut stored = decode(old_yaml)
        .map_err(|v| anyhow::anyhow!("old_yaml of {id} does not decode: {:?}", v.errors))?;
    // Stored as created: defaulted and named (the case is about the update, so the
    // stored object is not judged again here, as on Knative's side).
    stored.set_defaults_within(None, Some(USER), &config.defaults);
    generate_name(&mut stored);
    let mut merged = serde_json::to_value(&stored)?;
    merge_apply(
        &mut merged,
        &merge_diff(&manifest_json(old_yaml)?, &manifest_json(yaml)?),
    );
    let new: Resource = serde_json::from_value(merged)
        .with_context(|| format!("{id}: the patched object does not decode"))?;
    Ok((new, stored))
}

/// knserve's verdict on a `resource` case: decode, then admission through
/// [`Resource::admit`], the entry point `knserve apply`, `knserve validate` and the
/// Kubernetes webhook share (defaults, the API server's metadata checks, validation).
fn knserve_resource(id: &str, case: &Value) -> anyhow::Result<Verdict> {
    let config = match validation_config(id, case) {
        Ok(c) => c,
        Err(refused) => return Ok(refused),
    };
    let yaml = case["yaml"].as_str().context("a resource case has yaml")?;
    let created = match decode(yaml) {
        Ok(r) => r,
        Err(refused) => {
            return Ok(Verdict {
                id: id.to_owned(),
                ..refused
            });
        }
    };
    let (mut resource, old) = if case["op"] == "update" {
        let (new, stored) = updated(id, case, yaml, &config)?;
        (new, Some(stored))
    } else {
        (created, None)
    };
    Ok(match resource.admit(old.as_ref(), Some(USER), &config) {
        Ok(()) => Verdict::accepted(id),
        Err(errors) => validation_verdict(id, &errors),
    })
}

fn validation_verdict(id: &str, errors: &ValidationErrors) -> Verdict {
    let mut verdict = Verdict::accepted(id);
    for e in errors.errors() {
        verdict.push_error("validate", &e.path, &e.message);
    }
    verdict
}

fn knserve_configmap(id: &str, case: &Value) -> Verdict {
    let data = string_map(case.get("data"));
    let result = match case["name"].as_str().unwrap_or_default() {
        "config-autoscaler" => AutoscalerConfig::from_map(&data).map(drop),
        "config-defaults" => DefaultsConfig::from_map(&data).map(drop),
        "config-features" => FeaturesConfig::from_map(&data).map(drop),
        "config-network" => NetworkConfig::from_map(&data).map(drop),
        other => {
            return Verdict::refused(
                id,
                "harness",
                vec![],
                format!("unknown config map {other:?}"),
            );
        }
    };
    match result {
        Ok(()) => Verdict::accepted(id),
        Err(e) => Verdict::refused(id, "validate", vec![e.key.clone()], e.to_string()),
    }
}

fn knserve_annotations(id: &str, case: &Value) -> anyhow::Result<Verdict> {
    let config = match validation_config(id, case) {
        Ok(c) => c,
        Err(refused) => return Ok(refused),
    };
    let annotations = string_map(case.get("annotations"));
    // knserve's paths are relative to the metadata (`annotations.<key>`), Knative's
    // `ValidateAnnotations` to the annotations themselves (`<key>`).
    let mut errors = ValidationErrors::new();
    for e in validate_annotations(&annotations, &config.autoscaler) {
        let path = e.path.strip_prefix("annotations.").unwrap_or(&e.path);
        errors.add(path.to_owned(), e.message.clone());
    }
    Ok(validation_verdict(id, &errors))
}

fn knserve_verdict(case: &Value) -> anyhow::Result<Verdict> {
    let id = case["id"].as_str().context("a case has an id")?;
    match case["check"].as_str() {
        Some("resource") => knserve_resource(id, case),
        Some("configmap") => Ok(knserve_configmap(id, case)),
        Some("annotations") => knserve_annotations(id, case),
        other => bail!("case {id}: unknown check {other:?}"),
    }
}

/// `deliberate.json`: `[{"id": "...", "reason": "..."}]`; a `*` in an id stands for any
/// text (`configmaps/config-features/*/bogus`).
fn deliberate(root: &Path) -> anyhow::Result<Vec<(String, String)>> {
    let path = root.join("tests/knative-diff/deliberate.json");
    let entries: Vec<Value> = serde_json::from_str(&std::fs::read_to_string(&path)?)
        .with_context(|| format!("{} is not a JSON list", path.display()))?;
    entries
        .iter()
        .map(|e| {
            let field = |k: &str| {
                e.get(k)
                    .and_then(Value::as_str)
                    .map(str::to_owned)
                    .with_context(|| format!("deliberate.json: an entry lacks {k:?}: {e}"))
            };
            Ok((field("id")?, field("reason")?))
        })
        .collect()
}

fn covers(pattern: &str, id: &str) -> bool {
    let mut parts = pattern.split('*');
    let first = parts.next().unwrap_or_default();
    let Some(mut rest) = id.strip_prefix(first) else {
        return false;
    };
    let parts: Vec<&str> = parts.collect();
    let Some((last, middle)) = parts.split_last() else {
        return rest.is_empty();
    };
    for part in middle {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    rest.ends_with(last)
}

#[test]
fn deliberate_patterns_match_with_stars_anywhere() {
    assert!(covers("a/*/bogus", "a/x.y/bogus"));
    assert!(!covers("a/*/bogus", "a/x/bogus2"));
    assert!(covers("a/b", "a/b"));
    assert!(!covers("a/b", "a/b/c"));
    assert!(covers("a/*", "a/b/c"));
}

#[test]
fn knserve_agrees_with_knative_on_every_case_of_the_corpus() -> anyhow::Result<()> {
    let root = repo_root();
    let (files, cases) = corpus(&root)?;
    ensure!(!cases.is_empty(), "the corpus has no cases");
    let binary = knative_binary(&root)?;
    let knative = knative_verdicts(&binary, &files)?;
    let deliberate = deliberate(&root)?;
    let readme = std::fs::read_to_string(root.join("README.md"))?;

    let mut ids = BTreeSet::new();
    let mut by_area: BTreeMap<String, [usize; 3]> = BTreeMap::new();
    let mut unexplained: Vec<Disagreement> = Vec::new();
    let mut used = BTreeSet::new();
    for case in &cases {
        let ours = knserve_verdict(case)?;
        ensure!(ids.insert(ours.id.clone()), "duplicate case id {}", ours.id);
        let theirs = knative
            .get(&ours.id)
            .with_context(|| format!("Knative gave no verdict for {}", ours.id))?;
        let area = ours.id.split('/').next().unwrap_or_default().to_owned();
        let counts = by_area.entry(area).or_default();
        let Some(disagreement) = compare(case, theirs, &ours) else {
            counts[0] += 1;
            continue;
        };
        match deliberate.iter().find(|(p, _)| covers(p, &ours.id)) {
            Some((pattern, _)) => {
                counts[1] += 1;
                used.insert(pattern.clone());
            }
            None => {
                counts[2] += 1;
                unexplained.push(disagreement);
            }
        }
    }

    println!(
        "{:<16} {:>6} {:>10} {:>9}",
        "area", "agree", "deliberate", "disagree"
    );
    for (area, [agree, kept, differ]) in &by_area {
        println!("{area:<16} {agree:>6} {kept:>10} {differ:>9}");
    }
    for d in &unexplained {
        println!("{d}");
    }
    let stale: Vec<&String> = deliberate
        .iter()
        .map(|(p, _)| p)
        .filter(|p| !used.contains(*p))
        .collect();
    let undocumented: Vec<&String> = deliberate
        .iter()
        .map(|(p, _)| p)
        .filter(|p| !readme.contains(p.as_str()))
        .collect();
    let agreed: usize = by_area.values().map(|c| c[0]).sum();
    println!(
        "{} cases: {agreed} agree, {} deliberate, {} disagree",
        cases.len(),
        by_area.values().map(|c| c[1]).sum::<usize>(),
        unexplained.len()
    );
    ensure!(
        unexplained.is_empty(),
        "{} cases where knserve and Knative v0.50 disagree (listed above)",
        unexplained.len()
    );
    ensure!(
        stale.is_empty(),
        "deliberate.json lists differences that no case shows any more: {stale:?}"
    );
    ensure!(
        undocumented.is_empty(),
        "deliberate differences missing from the README's compatibility table: {undocumented:?}"
    );
    Ok(())
}
