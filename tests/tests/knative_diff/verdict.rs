//! A verdict on one case, and when two verdicts agree (`tests/knative-diff/README.md`).

use std::fmt;

use serde::Deserialize;
use serde_json::Value;

/// One side's judgement of a case.
#[derive(Debug, Clone, Deserialize)]
pub struct Verdict {
    /// The case's id.
    pub id: String,
    /// Accepted.
    pub ok: bool,
    /// `""` when accepted, else `decode` or `validate`.
    #[serde(default)]
    pub stage: String,
    /// Every error-level problem.
    #[serde(default)]
    pub errors: Vec<Problem>,
}

/// One problem: what is wrong, and where.
#[derive(Debug, Clone, Deserialize)]
pub struct Problem {
    /// The rule broken.
    pub message: String,
    /// Full field paths from the object's root.
    #[serde(default)]
    pub paths: Vec<String>,
}

impl Verdict {
    /// An accepted case.
    pub fn accepted(id: &str) -> Self {
        Self {
            id: id.to_owned(),
            ok: true,
            stage: String::new(),
            errors: Vec::new(),
        }
    }

    /// A case refused at `stage` for one problem.
    pub fn refused(id: &str, stage: &str, paths: Vec<String>, message: String) -> Self {
        Self {
            id: id.to_owned(),
            ok: false,
            stage: stage.to_owned(),
            errors: vec![Problem { message, paths }],
        }
    }

    /// Adds a problem, refusing the case at `stage`.
    pub fn push_error(&mut self, stage: &str, path: &str, message: &str) {
        self.ok = false;
        self.stage = stage.to_owned();
        self.errors.push(Problem {
            message: message.to_owned(),
            paths: vec![path.to_owned()],
        });
    }

    fn paths(&self) -> impl Iterator<Item = String> + '_ {
        let decode = self.stage == "decode";
        self.errors
            .iter()
            .flat_map(|e| &e.paths)
            .filter(|p| !p.is_empty())
            .map(move |p| {
                if decode {
                    without_indices(p)
                } else {
                    p.clone()
                }
            })
    }
}

/// `containers[0].ports[1].name` → `containers.ports.name`.
fn without_indices(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    let mut in_index = false;
    for c in path.chars() {
        match c {
            '[' => in_index = true,
            ']' => in_index = false,
            _ if !in_index => out.push(c),
            _ => {}
        }
    }
    out
}

/// Equal, or one extends the other at a field or index boundary. Knative sometimes puts
/// text after an annotation key in the path itself
/// (`…/initial-scale=0 not allowed by cluster`), which extends the key too.
fn paths_match(a: &str, b: &str) -> bool {
    let (short, long) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    long.strip_prefix(short)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with(['.', '[', '=', ' ']))
}

/// Why two verdicts on one case do not agree.
#[derive(Debug)]
pub struct Disagreement {
    id: String,
    why: String,
    knative: Verdict,
    knserve: Verdict,
    yaml: Option<String>,
}

impl fmt::Display for Disagreement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let show = |v: &Verdict| {
            if v.ok {
                "accepted".to_owned()
            } else {
                let problems: Vec<String> = v
                    .errors
                    .iter()
                    .map(|e| format!("{} ({})", e.paths.join(", "), e.message.replace('\n', " ")))
                    .collect();
                format!("refused at {}: {}", v.stage, problems.join("; "))
            }
        };
        writeln!(f, "--- {}: {}", self.id, self.why)?;
        writeln!(f, "    Knative: {}", show(&self.knative))?;
        write!(f, "    knserve: {}", show(&self.knserve))?;
        if let Some(yaml) = &self
            .yaml
            .as_ref()
            .filter(|_| std::env::var_os("KNSERVE_DIFF_YAML").is_some())
        {
            write!(f, "\n{}", yaml.trim_end())?;
        }
        Ok(())
    }
}

/// `None` when the verdicts agree, else why not.
pub fn compare(case: &Value, knative: &Verdict, knserve: &Verdict) -> Option<Disagreement> {
    let why = if knative.ok != knserve.ok {
        if knative.ok {
            "Knative accepts, knserve refuses".to_owned()
        } else {
            "Knative refuses, knserve accepts".to_owned()
        }
    } else if knative.ok {
        return None;
    } else if knative.stage != knserve.stage {
        format!(
            "refused at different stages ({} vs {})",
            knative.stage, knserve.stage
        )
    } else {
        let theirs: Vec<String> = knative.paths().collect();
        let ours: Vec<String> = knserve.paths().collect();
        let missing: Vec<&String> = theirs
            .iter()
            .filter(|p| !ours.iter().any(|q| paths_match(p, q)))
            .collect();
        // An error Knative reports with no path (a feature that is off, a YAML error)
        // leaves knserve free to name the field.
        let pathless = knative
            .errors
            .iter()
            .any(|e| e.paths.iter().all(String::is_empty));
        let extra: Vec<&String> = ours
            .iter()
            .filter(|q| !pathless && !theirs.iter().any(|p| paths_match(p, q)))
            .collect();
        if missing.is_empty() && extra.is_empty() {
            return None;
        }
        format!("fields differ: knserve lacks {missing:?}, names also {extra:?}")
    };
    Some(Disagreement {
        id: knserve.id.clone(),
        why,
        knative: knative.clone(),
        knserve: knserve.clone(),
        yaml: case.get("yaml").and_then(Value::as_str).map(str::to_owned),
    })
}

#[test]
fn paths_match_at_field_and_index_boundaries_only() {
    assert!(paths_match("spec.template", "spec.template.spec"));
    assert!(paths_match("spec.traffic", "spec.traffic[0].tag"));
    assert!(paths_match("a.b", "a.b"));
    assert!(!paths_match("spec.temp", "spec.template"));
    assert!(paths_match(
        "a/initial-scale",
        "a/initial-scale=0 not allowed by cluster"
    ));
    assert_eq!(without_indices("a[0].b[12].c"), "a.b.c");
}
