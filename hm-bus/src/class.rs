//! Class sets: which of the 256 message classes a member subscribes to, or a link lets pass.
//! Bit `c` of word `c / 64` stands for class `c`, as in the SUBSCRIBE and ADD_MEMBER words.

/// A set of message classes (0..=255), 256 bits in four words.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct ClassSet([u64; 4]);

impl ClassSet {
    /// No class.
    pub const EMPTY: ClassSet = ClassSet([0; 4]);
    /// Every class.
    pub const ALL: ClassSet = ClassSet([u64::MAX; 4]);

    /// The set whose bit `c` is bit `c % 64` of `words[c / 64]`.
    pub const fn from_words(words: [u64; 4]) -> ClassSet {
        ClassSet(words)
    }

    /// The four words of the set, as they travel in messages.
    pub const fn to_words(self) -> [u64; 4] {
        self.0
    }

    /// Adds `class`.
    pub fn insert(&mut self, class: u8) {
        self.0[usize::from(class / 64)] |= 1 << (class % 64);
    }

    /// Removes `class`.
    pub fn remove(&mut self, class: u8) {
        self.0[usize::from(class / 64)] &= !(1 << (class % 64));
    }

    /// Whether `class` is in the set.
    pub const fn contains(self, class: u8) -> bool {
        self.0[(class / 64) as usize] & (1 << (class % 64)) != 0
    }

    /// Whether the set has no class.
    pub const fn is_empty(self) -> bool {
        self.0[0] | self.0[1] | self.0[2] | self.0[3] == 0
    }

    /// Whether every class of this set is in `other`.
    pub fn is_subset_of(self, other: ClassSet) -> bool {
        (0..4).all(|k| self.0[k] & !other.0[k] == 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insert_remove_contains() {
        let mut set = ClassSet::EMPTY;
        assert!(set.is_empty());
        for class in [0, 1, 63, 64, 127, 128, 200, 255] {
            assert!(!set.contains(class));
            set.insert(class);
            assert!(set.contains(class));
        }
        assert!(!set.contains(2) && !set.contains(254));
        set.remove(64);
        assert!(!set.contains(64) && set.contains(63) && set.contains(127));
        assert!(!set.is_empty());
    }

    #[test]
    fn words_follow_the_protocol_layout() {
        let mut set = ClassSet::EMPTY;
        set.insert(0);
        set.insert(65);
        set.insert(255);
        assert_eq!(set.to_words(), [1, 2, 0, 1 << 63]);
        assert_eq!(ClassSet::from_words(set.to_words()), set);
        assert!((0..=255).all(|c| ClassSet::ALL.contains(c)));
        assert!((0..=255).all(|c| !ClassSet::EMPTY.contains(c)));
    }

    #[test]
    fn subsets() {
        let mut small = ClassSet::EMPTY;
        small.insert(3);
        small.insert(200);
        let mut large = small;
        large.insert(64);
        assert!(small.is_subset_of(large) && !large.is_subset_of(small));
        assert!(ClassSet::EMPTY.is_subset_of(small) && small.is_subset_of(ClassSet::ALL));
        assert!(!ClassSet::ALL.is_subset_of(large));
    }
}
