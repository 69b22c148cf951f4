//! The set of byte ranges chosen for replacement, kept sorted and disjoint.
//!
//! Every rule looks at the *original* text and only proposes ranges here; the output is built
//! once at the end. That is what guarantees a marker written for one rule is never seen, let
//! alone matched, by a later rule, and it keeps the text from being copied once per rule.

/// One claimed range of the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Span {
    pub start: usize,
    pub end: usize,
    /// Marker kind; `None` for a marker that was already in the input, which is kept as is
    /// (so redacting twice changes nothing).
    pub kind: Option<&'static str>,
}

/// What to do when a proposed range overlaps ranges claimed earlier.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Overlap {
    /// Built-in rules run most specific first, so an overlap means a more specific rule
    /// already explained this text (the password of `user:pass@host.com` must not take the
    /// host with it as an "email"). Markers already in the input are absorbed, so a secret
    /// surrounding an old marker is still removed.
    Yield,
    /// User patterns say "everything I match is secret": the union is replaced, so nothing
    /// of the match survives because a built-in rule took part of it.
    Absorb,
}

#[derive(Debug, Default)]
pub(crate) struct Spans {
    spans: Vec<Span>,
}

impl Spans {
    /// Records markers that were already in the input; `ranges` sorted and disjoint, before
    /// any rule claims anything.
    pub fn keep(&mut self, ranges: impl IntoIterator<Item = (usize, usize)>) {
        for (start, end) in ranges {
            if self.spans.last().is_none_or(|last| last.end <= start) {
                self.spans.push(Span {
                    start,
                    end,
                    kind: None,
                });
            }
        }
    }

    /// Proposes the ranges one rule found for `kind`, sorted and disjoint (as a regex's
    /// non-overlapping matches are). One merge pass, so a long text with many secrets stays
    /// linear. Empty ranges are ignored (a user pattern such as `x*` matches the empty
    /// string everywhere).
    pub fn claim(&mut self, ranges: &[(usize, usize)], kind: &'static str, overlap: Overlap) {
        if ranges.is_empty() {
            return;
        }
        let old = std::mem::take(&mut self.spans);
        let mut out: Vec<Span> = Vec::with_capacity(old.len() + ranges.len());
        let mut i = 0;
        for &(start, end) in ranges {
            if start >= end {
                continue;
            }
            while i < old.len() && old[i].end <= start {
                out.push(old[i]);
                i += 1;
            }
            let mut j = i;
            while j < old.len() && old[j].start < end {
                j += 1;
            }
            // A range merged for the previous proposal may reach into this one.
            let prev = out.last().filter(|p| p.end > start).copied();
            let hit = prev.iter().chain(&old[i..j]);
            // Already inside one claimed range (or an old marker): nothing left to hide.
            if hit.clone().any(|s| s.start <= start && end <= s.end) {
                continue;
            }
            if overlap == Overlap::Yield && hit.clone().any(|s| s.kind.is_some()) {
                continue;
            }
            let mut merged = Span {
                start,
                end,
                kind: Some(kind),
            };
            for s in hit {
                merged.start = merged.start.min(s.start);
                merged.end = merged.end.max(s.end);
            }
            if prev.is_some() {
                out.pop();
            }
            out.push(merged);
            i = j;
        }
        out.extend_from_slice(&old[i..]);
        self.spans = out;
    }

    /// Number of replacements (old markers kept as they are do not count).
    pub fn replacements(&self) -> usize {
        self.spans.iter().filter(|s| s.kind.is_some()).count()
    }

    pub fn iter(&self) -> impl Iterator<Item = &Span> {
        self.spans.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ranges(s: &Spans) -> Vec<(usize, usize, Option<&'static str>)> {
        s.iter().map(|s| (s.start, s.end, s.kind)).collect()
    }

    #[test]
    fn disjoint_claims_are_sorted() {
        let mut s = Spans::default();
        s.claim(&[(10, 12)], "b", Overlap::Yield);
        s.claim(&[(0, 3), (5, 5), (20, 22)], "a", Overlap::Yield);
        assert_eq!(
            ranges(&s),
            vec![(0, 3, Some("a")), (10, 12, Some("b")), (20, 22, Some("a"))]
        );
        assert_eq!(s.replacements(), 3);
    }

    #[test]
    fn yield_drops_overlaps_absorb_merges() {
        let mut s = Spans::default();
        s.claim(&[(5, 10), (30, 40)], "a", Overlap::Yield);
        s.claim(&[(8, 20), (25, 31)], "b", Overlap::Yield);
        assert_eq!(ranges(&s), vec![(5, 10, Some("a")), (30, 40, Some("a"))]);
        // The first absorbs (5, 10) and reaches past the start of the second, which then
        // merges with it; the third spans the last range.
        s.claim(&[(0, 7), (9, 12), (29, 41)], "c", Overlap::Absorb);
        assert_eq!(ranges(&s), vec![(0, 12, Some("c")), (29, 41, Some("c"))]);
        // Inside an existing range: nothing to do, even when absorbing.
        s.claim(&[(2, 4)], "d", Overlap::Absorb);
        assert_eq!(ranges(&s), vec![(0, 12, Some("c")), (29, 41, Some("c"))]);
    }

    #[test]
    fn old_markers_are_absorbed_but_not_rereplaced() {
        let mut s = Spans::default();
        s.keep([(4, 8), (20, 30)]);
        s.claim(&[(5, 7)], "a", Overlap::Yield);
        assert_eq!(ranges(&s), vec![(4, 8, None), (20, 30, None)]);
        assert_eq!(s.replacements(), 0);
        s.claim(&[(0, 6)], "b", Overlap::Yield);
        assert_eq!(ranges(&s), vec![(0, 8, Some("b")), (20, 30, None)]);
    }

    #[test]
    fn many_claims_stay_linear() {
        let mut s = Spans::default();
        let evens: Vec<_> = (0..100_000).map(|i| (i * 4, i * 4 + 1)).collect();
        let odds: Vec<_> = (0..100_000).map(|i| (i * 4 + 2, i * 4 + 3)).collect();
        s.claim(&evens, "a", Overlap::Yield);
        s.claim(&odds, "b", Overlap::Yield);
        assert_eq!(s.replacements(), 200_000);
        assert!(
            s.iter()
                .zip(s.iter().skip(1))
                .all(|(a, b)| a.end <= b.start)
        );
    }
}
