//! [`Mirror`]: the part of a watched collection a server keeps, fed by
//! [`kube::runtime::watcher::Event`]s, relists included.

use std::collections::BTreeMap;

use kube::runtime::watcher::Event;

/// A map of the objects a watcher reports, each kept as the compact value the server
/// needs. Shared by the ingress and the activator.
///
/// A relist (`Init`, `InitApply`…, `InitDone`) is buffered and swapped in whole at
/// `InitDone`, so objects deleted while the watch was down disappear and readers never
/// see a half-listed collection.
#[derive(Debug)]
pub(crate) struct Mirror<K, V> {
    items: BTreeMap<K, V>,
    relisting: Option<BTreeMap<K, V>>,
}

impl<K, V> Default for Mirror<K, V> {
    fn default() -> Self {
        Self {
            items: BTreeMap::new(),
            relisting: None,
        }
    }
}

impl<K: Ord + Clone, V> Mirror<K, V> {
    /// Applies `event`: `key` names an object, `keep` gives its value or `None` when
    /// the object is of no interest (it is then dropped if it was kept). Returns
    /// whether the visible items may have changed.
    pub(crate) fn apply<T>(
        &mut self,
        event: Event<T>,
        key: impl Fn(&T) -> K,
        keep: impl Fn(&T) -> Option<V>,
    ) -> bool {
        match event {
            Event::Apply(object) => {
                let key = key(&object);
                match keep(&object) {
                    Some(value) => {
                        self.items.insert(key, value);
                        true
                    }
                    None => self.items.remove(&key).is_some(),
                }
            }
            Event::Delete(object) => self.items.remove(&key(&object)).is_some(),
            Event::Init => {
                self.relisting = Some(BTreeMap::new());
                false
            }
            Event::InitApply(object) => {
                let buffer = self.relisting.get_or_insert_with(BTreeMap::new);
                if let Some(value) = keep(&object) {
                    buffer.insert(key(&object), value);
                }
                false
            }
            Event::InitDone => {
                self.items = self.relisting.take().unwrap_or_default();
                true
            }
        }
    }

    /// Every kept item, in key order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&K, &V)> {
        self.items.iter()
    }

    /// The items whose keys lie in `range`.
    pub(crate) fn range<R: std::ops::RangeBounds<K>>(
        &self,
        range: R,
    ) -> impl Iterator<Item = (&K, &V)> {
        self.items.range(range)
    }

    /// The item under `key`.
    pub(crate) fn get(&self, key: &K) -> Option<&V> {
        self.items.get(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn apply(mirror: &mut Mirror<u32, u32>, event: Event<u32>) -> bool {
        mirror.apply(event, |n| n % 10, |n| (*n < 100).then_some(*n))
    }

    #[test]
    fn a_relist_replaces_the_items_only_when_it_is_done() {
        let mut mirror = Mirror::default();
        apply(&mut mirror, Event::Apply(1));
        apply(&mut mirror, Event::Apply(2));
        apply(&mut mirror, Event::Init);
        apply(&mut mirror, Event::InitApply(3));
        assert_eq!(
            mirror.iter().count(),
            2,
            "a relist in progress is not visible"
        );
        assert!(apply(&mut mirror, Event::InitDone));
        let keys: Vec<_> = mirror.iter().map(|(k, _)| *k).collect();
        assert_eq!(keys, [3], "objects missing from the relist were deleted");
    }

    #[test]
    fn an_object_that_stops_being_of_interest_is_dropped() {
        let mut mirror = Mirror::default();
        apply(&mut mirror, Event::Apply(5));
        assert!(apply(&mut mirror, Event::Apply(105)));
        assert_eq!(mirror.get(&5), None, "the new version is not kept");
    }
}
