//! One Prometheus text exposition (format 0.0.4) per listener: [`Exposition`] gathers
//! samples family by family, so each family's `# HELP` and `# TYPE` lines appear once
//! and all its samples follow them together, as strict parsers (`promtool check
//! metrics`, Prometheus itself) require, however many instances or revisions add to it.

use std::fmt::Write as _;

/// A metric family's type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Only goes up; its name ends in `_total`.
    Counter,
    /// Any value.
    Gauge,
    /// `_bucket`, `_sum` and `_count` samples.
    Histogram,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Self::Counter => "counter",
            Self::Gauge => "gauge",
            Self::Histogram => "histogram",
        }
    }
}

/// A rendered, escaped label set (`name="value",…`), possibly empty. Names must be
/// valid Prometheus label names (they are the program's constants); values are escaped.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Labels(String);

impl Labels {
    /// Labels from (name, value) pairs, in order.
    pub fn new<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        let mut labels = Self::default();
        for (name, value) in pairs {
            labels.push(name, value);
        }
        labels
    }

    /// These labels and one more.
    pub fn with(&self, name: &str, value: &str) -> Self {
        let mut labels = self.clone();
        labels.push(name, value);
        labels
    }

    fn push(&mut self, name: &str, value: &str) {
        if !self.0.is_empty() {
            self.0.push(',');
        }
        let _ = write!(self.0, "{name}=\"{}\"", escape(value));
    }

    /// `{…}`, or nothing for an empty set.
    fn braces(&self) -> String {
        if self.0.is_empty() {
            String::new()
        } else {
            format!("{{{}}}", self.0)
        }
    }
}

/// Revision labels as Knative's components put them on every per-revision series.
pub fn revision_labels(
    namespace: &str,
    service: &str,
    configuration: &str,
    revision: &str,
) -> Labels {
    Labels::new([
        ("namespace_name", namespace),
        ("service_name", service),
        ("configuration_name", configuration),
        ("revision_name", revision),
    ])
}

#[derive(Debug)]
struct Family {
    name: &'static str,
    help: &'static str,
    kind: Kind,
    samples: String,
}

/// Samples grouped by family, rendered with each family once, in the order the families
/// were first written to.
#[derive(Debug, Default)]
pub struct Exposition {
    families: Vec<Family>,
}

impl Exposition {
    /// An empty exposition.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one sample of family `name`: the sample's name is `name` + `suffix`
    /// (`""`, or `_bucket`/`_sum`/`_count` for a histogram).
    ///
    /// # Panics
    ///
    /// When `name` was first written with another kind: two writers disagree on what a
    /// family is, which is a programming error.
    pub fn sample(
        &mut self,
        (name, kind, help): (&'static str, Kind, &'static str),
        suffix: &str,
        labels: &Labels,
        value: f64,
    ) {
        let family = match self.families.iter().position(|f| f.name == name) {
            Some(i) => &mut self.families[i],
            None => {
                self.families.push(Family {
                    name,
                    help,
                    kind,
                    samples: String::new(),
                });
                self.families.last_mut().expect("just pushed")
            }
        };
        assert_eq!(
            family.kind, kind,
            "metric family {name} written as two kinds"
        );
        let _ = writeln!(
            family.samples,
            "{name}{suffix}{} {}",
            labels.braces(),
            sample_value(value)
        );
    }

    /// Adds a gauge sample.
    pub fn gauge(&mut self, name: &'static str, help: &'static str, labels: &Labels, value: f64) {
        self.sample((name, Kind::Gauge, help), "", labels, value);
    }

    /// Adds a counter sample; `name` ends in `_total`.
    pub fn counter(&mut self, name: &'static str, help: &'static str, labels: &Labels, value: u64) {
        debug_assert!(
            name.ends_with("_total"),
            "counter {name} must end in _total"
        );
        self.sample((name, Kind::Counter, help), "", labels, value as f64);
    }

    /// Declares a family with no sample yet, so its `# HELP`/`# TYPE` lines are there
    /// even before anything is counted.
    pub fn declare(&mut self, name: &'static str, kind: Kind, help: &'static str) {
        if !self.families.iter().any(|f| f.name == name) {
            self.families.push(Family {
                name,
                help,
                kind,
                samples: String::new(),
            });
        }
    }

    /// The text.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for family in &self.families {
            let _ = write!(
                out,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{samples}",
                name = family.name,
                help = family.help,
                kind = family.kind.as_str(),
                samples = family.samples,
            );
        }
        out
    }
}

fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// A sample value as the text format spells it (`NaN`, `+Inf`, `-Inf`).
fn sample_value(value: f64) -> String {
    if value.is_nan() {
        "NaN".to_owned()
    } else if value.is_infinite() {
        if value > 0.0 { "+Inf" } else { "-Inf" }.to_owned()
    } else {
        value.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_family_written_from_two_places_is_declared_once_with_its_samples_together() {
        let mut exposition = Exposition::new();
        let a = Labels::new([("revision_name", "a")]);
        let b = Labels::new([("revision_name", "b\"\n")]);
        exposition.gauge("x", "X.", &a, 1.0);
        exposition.gauge("y", "Y.", &a, f64::INFINITY);
        exposition.gauge("x", "X.", &b, 2.5);
        assert_eq!(
            exposition.render(),
            "# HELP x X.\n# TYPE x gauge\nx{revision_name=\"a\"} 1\nx{revision_name=\"b\\\"\\n\"} 2.5\n\
             # HELP y Y.\n# TYPE y gauge\ny{revision_name=\"a\"} +Inf\n"
        );
    }

    #[test]
    #[should_panic(expected = "written as two kinds")]
    fn a_family_cannot_change_kind() {
        let mut exposition = Exposition::new();
        exposition.gauge("x_total", "X.", &Labels::default(), 1.0);
        exposition.counter("x_total", "X.", &Labels::default(), 1);
    }
}
