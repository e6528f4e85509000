//! Integer codes for customer ids. Ingestion turns each id into a `u32` code, the plans group
//! by the code (an integer hashes and compares far faster than text, and takes a fraction of
//! the memory), and results are mapped back to the ids at the end.
//!
//! Most logs identify customers by plain integers: an id such as `17850` (digits, no leading
//! zero, below 2^29) is its own code, with no lookup at all. Any other id (`0001`, `C-17`, an
//! e-mail address) is interned: stored once and numbered from 2^29 up in order of first
//! appearance. That is Arrow's dictionary encoding, done once for the whole log.

use std::borrow::Cow;
use std::hash::BuildHasher;

use foldhash::fast::FixedState;
use hashbrown::hash_table::{Entry, HashTable};

/// Codes below this are plain-integer ids; from it up, interned ids.
pub const INTERNED_BASE: u32 = 1 << 29;

/// The interned (non-integer) ids and their codes.
#[derive(Default)]
pub struct CustomerIndex {
    /// (hash bits, interned number): 8 bytes an entry, and growing the table moves entries
    /// without re-reading the ids (whose bytes sit elsewhere, a cache miss each).
    table: HashTable<(u32, u32)>,
    /// The last interned number: logs usually list one customer's rows together.
    last: Option<u32>,
    /// The ids' bytes back to back; interned id `i` is `bytes[offsets[i]..offsets[i + 1]]`.
    bytes: Vec<u8>,
    offsets: Vec<usize>,
    hasher: FixedState,
}

impl std::fmt::Debug for CustomerIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CustomerIndex({} interned ids)", self.interned())
    }
}

/// The value of an id that is its own code: 1 to 9 digits, no leading zero (except "0 itself),
/// below [`INTERNED_BASE`].
fn direct_code(id: &[u8]) -> Option<u32> {
    if id.is_empty() || id.len() > 9 || (id[0] == b'0' && id.len() > 1) {
        return None;
    }
    let mut v = 0u32;
    for &b in id {
        if !b.is_ascii_digit() {
            return None;
        }
        v = v * 10 + u32::from(b - b'0');
    }
    (v < INTERNED_BASE).then_some(v)
}

/// A plain non-negative integer id of any length: such ids sort numerically.
fn is_plain_integer(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 19
        && id.bytes().all(|b| b.is_ascii_digit())
        && (id == "0" || !id.starts_with('0'))
}

impl CustomerIndex {
    pub fn new() -> Self {
        CustomerIndex {
            offsets: vec![0],
            ..Default::default()
        }
    }

    /// How many ids are interned (not plain integers).
    pub fn interned(&self) -> usize {
        self.offsets.len().saturating_sub(1)
    }

    /// The code of `id`. Fails only past 2^29 distinct interned ids.
    pub fn code(&mut self, id: &str) -> Result<u32, String> {
        let id = id.as_bytes();
        if let Some(code) = direct_code(id) {
            return Ok(code);
        }
        if self.offsets.is_empty() {
            self.offsets.push(0);
        }
        if let Some(last) = self.last {
            if self.interned_bytes(last) == id {
                return Ok(INTERNED_BASE + last);
            }
        }
        let bits = (self.hasher.hash_one(id) >> 32) as u32;
        let (bytes, offsets) = (&self.bytes, &self.offsets);
        let slice = |i: u32| &bytes[offsets[i as usize]..offsets[i as usize + 1]];
        let number = match self.table.entry(
            spread(bits),
            |&(h, i)| h == bits && slice(i) == id,
            |&(h, _)| spread(h),
        ) {
            Entry::Occupied(e) => e.get().1,
            Entry::Vacant(e) => {
                let number = u32::try_from(self.offsets.len() - 1)
                    .ok()
                    .filter(|&n| n < u32::MAX - INTERNED_BASE)
                    .ok_or_else(|| "more than 3.7 billion distinct customer ids".to_string())?;
                self.bytes.extend_from_slice(id);
                self.offsets.push(self.bytes.len());
                e.insert((bits, number));
                number
            }
        };
        self.last = Some(number);
        Ok(INTERNED_BASE + number)
    }

    fn interned_bytes(&self, number: u32) -> &[u8] {
        &self.bytes[self.offsets[number as usize]..self.offsets[number as usize + 1]]
    }

    /// The id of a code.
    pub fn id(&self, code: u32) -> Cow<'_, str> {
        match code.checked_sub(INTERNED_BASE) {
            None => Cow::Owned(code.to_string()),
            // Only whole `&str`s are stored, so every slice between offsets is valid UTF-8.
            Some(number) => Cow::Borrowed(
                std::str::from_utf8(self.interned_bytes(number)).expect("ids are stored from &str"),
            ),
        }
    }

    /// Appends the id of a code to `out` (no allocation for a plain-integer id).
    pub fn push_id(&self, code: u32, out: &mut String) {
        use std::fmt::Write as _;
        match code.checked_sub(INTERNED_BASE) {
            None => {
                let _ = write!(out, "{code}");
            }
            Some(_) => out.push_str(&self.id(code)),
        }
    }

    /// Sorts items by their customer's id: numerically when every id is a plain non-negative
    /// integer (no sign, no leading zero), so that 2 comes before 10; by bytes otherwise.
    pub fn sort_by_id<T>(&self, items: &mut [T], code_of: impl Fn(&T) -> u32) {
        if items.iter().all(|t| code_of(t) < INTERNED_BASE) {
            // Direct codes are the integers themselves.
            items.sort_unstable_by_key(|t| code_of(t));
        } else if items.iter().all(|t| is_plain_integer(&self.id(code_of(t)))) {
            items.sort_unstable_by_key(|t| self.id(code_of(t)).parse::<u64>().unwrap_or(u64::MAX));
        } else {
            items.sort_unstable_by(|a, b| self.id(code_of(a)).cmp(&self.id(code_of(b))));
        }
    }
}

/// A 64-bit table hash from the 32 stored bits: the multiplication spreads them over the
/// bucket index (low bits) and hashbrown's tag (top 7 bits).
fn spread(bits: u32) -> u64 {
    u64::from(bits).wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_integers_are_their_own_codes() {
        let mut index = CustomerIndex::new();
        assert_eq!(index.code("17850").unwrap(), 17850);
        assert_eq!(index.code("0").unwrap(), 0);
        assert_eq!(index.code("536870911").unwrap(), INTERNED_BASE - 1);
        assert_eq!(index.interned(), 0);
        // Not plain, or too large: interned.
        for id in ["0001", "536870912", "-5", "+5", "1.0", "12a"] {
            assert!(index.code(id).unwrap() >= INTERNED_BASE, "{id}");
        }
        assert_eq!(index.interned(), 6);
        assert_eq!(index.id(17850), "17850");
        assert_eq!(index.id(INTERNED_BASE), "0001");
    }

    #[test]
    fn interned_codes_are_dense_stable_and_map_back() {
        let mut index = CustomerIndex::new();
        let ids = ["a", "bb", "a", "", "ccc", "bb", "é"];
        let codes: Vec<u32> = ids
            .iter()
            .map(|id| index.code(id).unwrap() - INTERNED_BASE)
            .collect();
        assert_eq!(codes, [0, 1, 0, 2, 3, 1, 4]);
        for (id, code) in ids.iter().zip(&codes) {
            assert_eq!(index.id(INTERNED_BASE + code), *id);
        }
        // Many ids, not listed together: the table grows and every code still maps back.
        let mut index = CustomerIndex::new();
        for i in 0..100_000 {
            assert_eq!(index.code(&format!("c{i}")).unwrap(), INTERNED_BASE + i);
        }
        assert_eq!(index.code("c77777").unwrap(), INTERNED_BASE + 77_777);
        assert_eq!(index.id(INTERNED_BASE + 99_999), "c99999");
    }

    #[test]
    fn sort_order_is_numeric_for_plain_integers_else_bytes() {
        let mut index = CustomerIndex::new();
        let sorted = |index: &mut CustomerIndex, ids: &[&str]| {
            let mut codes: Vec<u32> = ids.iter().map(|id| index.code(id).unwrap()).collect();
            index.sort_by_id(&mut codes, |&c| c);
            codes
                .iter()
                .map(|&c| index.id(c).into_owned())
                .collect::<Vec<_>>()
        };
        assert_eq!(
            sorted(&mut index, &["10", "2", "1", "33"]),
            ["1", "2", "10", "33"]
        );
        assert_eq!(
            sorted(&mut index, &["9999999999", "10", "2"]),
            ["2", "10", "9999999999"],
            "big integers too"
        );
        assert_eq!(
            sorted(&mut index, &["10", "2", "007"]),
            ["007", "10", "2"],
            "a leading zero makes ids text"
        );
    }
}
