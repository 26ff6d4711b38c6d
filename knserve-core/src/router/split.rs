//! A weighted set of revisions and the random pick among them (§6.2).

use http::HeaderValue;
use rand::Rng;

use crate::RevisionKey;

/// One revision of a traffic split, with the header values the ingress appends for it.
#[derive(Debug, Clone)]
pub(super) struct Split {
    pub(super) key: RevisionKey,
    pub(super) revision: HeaderValue,
    pub(super) namespace: HeaderValue,
    /// The running total of weights up to and including this split.
    upto: u32,
}

/// The splits of one traffic name: revisions with a positive weight, merged by
/// revision, in first-seen order.
#[derive(Debug, Clone)]
pub(super) struct Splits {
    splits: Vec<Split>,
}

/// A revision or namespace name that cannot be sent as a header value.
#[derive(Debug)]
pub(super) struct BadName(pub(super) String);

impl Splits {
    /// The splits of `weights` (revision, percent) in `namespace`; zero weights are
    /// dropped and repeated revisions merged (their percents summed, §1.6).
    pub(super) fn new<'a>(
        namespace: &str,
        weights: impl IntoIterator<Item = (&'a str, u32)>,
    ) -> Result<Self, BadName> {
        let namespace_value = header_value(namespace)?;
        let mut merged: Vec<(&str, u32)> = Vec::new();
        for (revision, percent) in weights.into_iter().filter(|(_, p)| *p > 0) {
            match merged.iter_mut().find(|(r, _)| *r == revision) {
                Some((_, sum)) => *sum += percent,
                None => merged.push((revision, percent)),
            }
        }
        let mut upto = 0;
        let splits = merged
            .into_iter()
            .map(|(revision, percent)| {
                upto += percent;
                Ok(Split {
                    key: RevisionKey::new(namespace, revision),
                    revision: header_value(revision)?,
                    namespace: namespace_value.clone(),
                    upto,
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(Self { splits })
    }

    /// The sum of the weights; 0 when nothing is routable.
    pub(super) fn total(&self) -> u32 {
        self.splits.last().map_or(0, |s| s.upto)
    }

    /// A split chosen with probability `weight / total` — `percent / 100` when the
    /// percents sum to 100, as validation guarantees. `None` when there is none.
    pub(super) fn pick(&self, rng: &mut impl Rng) -> Option<&Split> {
        let total = self.total();
        if total == 0 {
            return None;
        }
        let r = rng.random_range(0..total);
        let index = self.splits.partition_point(|s| s.upto <= r);
        self.splits.get(index)
    }

    /// The revisions, in order.
    pub(super) fn revisions(&self) -> impl Iterator<Item = (&RevisionKey, u32)> {
        let mut before = 0;
        self.splits.iter().map(move |s| {
            let weight = s.upto - before;
            before = s.upto;
            (&s.key, weight)
        })
    }
}

fn header_value(name: &str) -> Result<HeaderValue, BadName> {
    HeaderValue::from_str(name).map_err(|_| BadName(name.to_owned()))
}
