//! Collections that grow without a long pause: the state kept for a day
//! (event ids, finished contacts) reaches millions of entries, and a
//! single `HashMap` doubling rehashes all of them at once, under the core
//! lock (ARCHITECTURE.md, "Decisions", has the figures). Split into
//! [`SHARDS`] maps by hash, a growth rehashes one shard (a 1/1024th); a
//! [`Fifo`] grows in fixed chunks and never copies what it holds.

use std::borrow::Borrow;
use std::collections::VecDeque;
use std::collections::hash_map::{Entry, HashMap, RandomState};
use std::fmt;
use std::hash::{BuildHasher, Hash};

use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde::ser::{Serialize, Serializer};

/// Shards of a [`ShardedMap`].
pub const SHARDS: usize = 1024;

/// A hash map of [`SHARDS`] maps: the same operations, bounded growth
/// pauses. Iteration order is unspecified, as a `HashMap`'s.
#[derive(Clone)]
pub struct ShardedMap<K, V> {
    shards: Box<[HashMap<K, V>]>,
    hasher: RandomState,
    len: usize,
}

impl<K, V> Default for ShardedMap<K, V> {
    fn default() -> Self {
        ShardedMap {
            shards: (0..SHARDS).map(|_| HashMap::new()).collect(),
            hasher: RandomState::new(),
            len: 0,
        }
    }
}

impl<K: fmt::Debug, V: fmt::Debug> fmt::Debug for ShardedMap<K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl<K: Hash + Eq, V: PartialEq> PartialEq for ShardedMap<K, V> {
    fn eq(&self, other: &Self) -> bool {
        self.len == other.len && self.iter().all(|(k, v)| other.get(k) == Some(v))
    }
}

impl<K, V> ShardedMap<K, V> {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn iter(&self) -> impl Iterator<Item = (&K, &V)> {
        self.shards.iter().flat_map(|s| s.iter())
    }

    pub fn values(&self) -> impl Iterator<Item = &V> {
        self.shards.iter().flat_map(|s| s.values())
    }

    pub fn values_mut(&mut self) -> impl Iterator<Item = &mut V> {
        self.shards.iter_mut().flat_map(|s| s.values_mut())
    }

    /// Keeps the entries `keep` says yes to.
    pub fn retain(&mut self, mut keep: impl FnMut(&K, &mut V) -> bool) {
        for shard in self.shards.iter_mut() {
            shard.retain(&mut keep);
        }
        self.len = self.shards.iter().map(HashMap::len).sum();
    }
}

impl<K: Hash + Eq, V> ShardedMap<K, V> {
    fn shard<Q: Hash + ?Sized>(&self, key: &Q) -> usize {
        (self.hasher.hash_one(key) % SHARDS as u64) as usize
    }

    pub fn get<Q>(&self, key: &Q) -> Option<&V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.shards[self.shard(key)].get(key)
    }

    pub fn get_mut<Q>(&mut self, key: &Q) -> Option<&mut V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let i = self.shard(key);
        self.shards[i].get_mut(key)
    }

    pub fn contains_key<Q>(&self, key: &Q) -> bool
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.get(key).is_some()
    }

    /// Inserts, returning the value `key` had.
    pub fn insert(&mut self, key: K, value: V) -> Option<V> {
        let i = self.shard(&key);
        let old = self.shards[i].insert(key, value);
        if old.is_none() {
            self.len += 1;
        }
        old
    }

    pub fn remove<Q>(&mut self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let i = self.shard(key);
        let old = self.shards[i].remove(key);
        if old.is_some() {
            self.len -= 1;
        }
        old
    }

    /// The value under `key`, inserted from `make` if there is none.
    pub fn get_or_insert_with(&mut self, key: K, make: impl FnOnce() -> V) -> &mut V {
        let i = self.shard(&key);
        match self.shards[i].entry(key) {
            Entry::Occupied(e) => e.into_mut(),
            Entry::Vacant(e) => {
                self.len += 1;
                e.insert(make())
            }
        }
    }
}

impl<K: Hash + Eq, V> FromIterator<(K, V)> for ShardedMap<K, V> {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(items: I) -> Self {
        let mut map = ShardedMap::new();
        for (k, v) in items {
            map.insert(k, v);
        }
        map
    }
}

/// Written as a plain map, so what a `HashMap` wrote reads back here.
impl<K: Serialize, V: Serialize> Serialize for ShardedMap<K, V> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.iter())
    }
}

impl<'de, K, V> Deserialize<'de> for ShardedMap<K, V>
where
    K: Deserialize<'de> + Hash + Eq,
    V: Deserialize<'de>,
{
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visit<K, V>(std::marker::PhantomData<(K, V)>);
        impl<'de, K, V> Visitor<'de> for Visit<K, V>
        where
            K: Deserialize<'de> + Hash + Eq,
            V: Deserialize<'de>,
        {
            type Value = ShardedMap<K, V>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a map")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Self::Value, A::Error> {
                let mut map = ShardedMap::new();
                while let Some((k, v)) = access.next_entry()? {
                    map.insert(k, v);
                }
                Ok(map)
            }
        }
        deserializer.deserialize_map(Visit(std::marker::PhantomData))
    }
}

/// Entries per chunk of a [`Fifo`].
const CHUNK: usize = 4096;

/// A first-in first-out queue in fixed-size chunks: pushing never moves
/// what is already queued.
#[derive(Debug, Clone)]
pub struct Fifo<T> {
    chunks: VecDeque<VecDeque<T>>,
    len: usize,
}

impl<T> Default for Fifo<T> {
    fn default() -> Self {
        Fifo {
            chunks: VecDeque::new(),
            len: 0,
        }
    }
}

impl<T> Fifo<T> {
    pub fn push_back(&mut self, item: T) {
        match self.chunks.back_mut() {
            Some(last) if last.len() < CHUNK => last.push_back(item),
            _ => {
                let mut chunk = VecDeque::with_capacity(CHUNK);
                chunk.push_back(item);
                self.chunks.push_back(chunk);
            }
        }
        self.len += 1;
    }

    pub fn front(&self) -> Option<&T> {
        self.chunks.front().and_then(VecDeque::front)
    }

    pub fn pop_front(&mut self) -> Option<T> {
        let first = self.chunks.front_mut()?;
        let item = first.pop_front();
        if first.is_empty() {
            self.chunks.pop_front();
        }
        if item.is_some() {
            self.len -= 1;
        }
        item
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Oldest first.
    pub fn iter(&self) -> impl Iterator<Item = &T> {
        self.chunks.iter().flatten()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    static CHECKED: AtomicUsize = AtomicUsize::new(0);

    #[derive(Debug, Clone)]
    enum Op {
        Insert(u16, u32),
        Remove(u16),
        Upsert(u16, u32),
        Retain(u16),
        Push(u32),
        Pop,
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (0..3000u16, any::<u32>()).prop_map(|(k, v)| Op::Insert(k, v)),
            (0..3000u16).prop_map(Op::Remove),
            (0..3000u16, any::<u32>()).prop_map(|(k, v)| Op::Upsert(k, v)),
            (1..50u16).prop_map(Op::Retain),
            any::<u32>().prop_map(Op::Push),
            Just(Op::Pop),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]
        /// Against `HashMap` and `VecDeque`, op by op.
        fn behaves_as_the_std_collections(ops in proptest::collection::vec(op(), 1..800)) {
            let mut ours: ShardedMap<u16, u32> = ShardedMap::new();
            let mut std: HashMap<u16, u32> = HashMap::new();
            let mut fifo = Fifo::default();
            let mut queue = VecDeque::new();
            for op in ops {
                match op {
                    Op::Insert(k, v) => prop_assert_eq!(ours.insert(k, v), std.insert(k, v)),
                    Op::Remove(k) => prop_assert_eq!(ours.remove(&k), std.remove(&k)),
                    Op::Upsert(k, v) => {
                        *ours.get_or_insert_with(k, || v) += 1;
                        *std.entry(k).or_insert(v) += 1;
                    }
                    Op::Retain(m) => {
                        ours.retain(|k, _| k % m != 0);
                        std.retain(|k, _| k % m != 0);
                    }
                    Op::Push(v) => {
                        fifo.push_back(v);
                        queue.push_back(v);
                    }
                    Op::Pop => prop_assert_eq!(fifo.pop_front(), queue.pop_front()),
                }
                prop_assert_eq!(ours.len(), std.len());
                prop_assert_eq!(fifo.len(), queue.len());
                prop_assert_eq!(fifo.front(), queue.front());
            }
            let mut a: Vec<_> = ours.iter().map(|(k, v)| (*k, *v)).collect();
            let mut b: Vec<_> = std.iter().map(|(k, v)| (*k, *v)).collect();
            a.sort();
            b.sort();
            prop_assert_eq!(a, b);
            for (k, v) in &std {
                prop_assert_eq!(ours.get(k), Some(v));
            }
            CHECKED.fetch_add(1, Ordering::Relaxed);
        }
    }

    #[test]
    fn sharded_collections_behave_as_the_std_ones() {
        behaves_as_the_std_collections();
        let n = CHECKED.load(Ordering::Relaxed);
        println!("sharded: {n} generated cases compared to the std collections");
        assert!(n >= 100, "only {n} cases reached the comparison");
    }

    #[test]
    fn reads_what_a_hash_map_wrote_and_writes_the_same() {
        let std: HashMap<String, u32> = (0..5000).map(|i| (format!("id-{i}"), i)).collect();
        let text = serde_json::to_string(&std).unwrap();
        let ours: ShardedMap<String, u32> = serde_json::from_str(&text).unwrap();
        assert_eq!(ours.len(), 5000);
        assert_eq!(ours.get("id-4321"), Some(&4321));
        let back: HashMap<String, u32> =
            serde_json::from_str(&serde_json::to_string(&ours).unwrap()).unwrap();
        assert_eq!(back, std);
        // Entries spread over the shards.
        let used = ours.shards.iter().filter(|s| !s.is_empty()).count();
        assert!(used > SHARDS / 2, "{used} of {SHARDS} shards used");
    }
}
