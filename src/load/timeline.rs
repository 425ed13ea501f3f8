//! The per-second series (requests, errors, latency from the intended send
//! time) in memory that grows by bytes, not kilobytes, per second of run.
//!
//! A live latency histogram (1 µs to 1 h, 3 significant digits) takes
//! about 180 KB: one per second would be 650 MB for an hour-long drill.
//! So a second's histogram stays live only while its requests may still be
//! finishing ([`LIVE`] seconds behind the newest), then is *sealed*: kept
//! as its HdrHistogram V2-deflate encoding (a few hundred bytes) with its
//! p95. Sealing loses nothing: a late request for a sealed second unseals
//! it, and shard merges decode the encodings, so merged per-second
//! quantiles stay exact.

use hdrhistogram::Histogram;

use super::record::{Quantiles, SecondPoint, decode, encode, histogram};

/// Seconds kept live behind the newest one seen.
pub(super) const LIVE: usize = 30;

enum Hist {
    Live(Box<Histogram<u64>>),
    Sealed {
        encoded: String,
        p95_ms: f64,
    },
    /// Sealed in a run that writes no raw record (no shard to merge): the
    /// p95 alone, tens of bytes, so an hour-long soak does not grow by the
    /// encodings. A request finishing later than [`LIVE`] seconds after
    /// its second then counts in its requests and errors, not its p95.
    Summary {
        p95_ms: f64,
    },
}

struct Second {
    requests: u64,
    errors: u64,
    hist: Hist,
}

impl Second {
    fn new() -> Second {
        Second {
            requests: 0,
            errors: 0,
            hist: Hist::Live(Box::new(histogram())),
        }
    }

    /// The second's live histogram, unsealed if need be; `None` for a
    /// summary, which has none to add to.
    fn live(&mut self) -> Result<Option<&mut Histogram<u64>>, String> {
        if let Hist::Sealed { encoded, .. } = &self.hist {
            self.hist = Hist::Live(Box::new(decode(encoded)?));
        }
        match &mut self.hist {
            Hist::Live(h) => Ok(Some(h)),
            Hist::Summary { .. } => Ok(None),
            Hist::Sealed { .. } => unreachable!("unsealed above"),
        }
    }

    fn seal(&mut self, keep_encoding: bool) {
        if let Hist::Live(h) = &self.hist {
            let p95_ms = Quantiles::of(h).p95_ms;
            self.hist = if keep_encoding {
                Hist::Sealed {
                    encoded: encode(h),
                    p95_ms,
                }
            } else {
                Hist::Summary { p95_ms }
            };
        }
    }

    fn p95_ms(&self) -> f64 {
        match &self.hist {
            Hist::Live(h) => Quantiles::of(h).p95_ms,
            Hist::Sealed { p95_ms, .. } | Hist::Summary { p95_ms } => *p95_ms,
        }
    }

    fn encoded(&self) -> String {
        match &self.hist {
            Hist::Live(h) => encode(h),
            Hist::Sealed { encoded, .. } => encoded.clone(),
            // Only a timeline that keeps its encodings is ever asked.
            Hist::Summary { .. } => encode(&histogram()),
        }
    }
}

pub(super) struct Timeline {
    seconds: Vec<Second>,
    /// Seconds before this one are sealed.
    sealed_below: usize,
    /// Sealed seconds keep their histogram's encoding (for a raw record
    /// that shards merge), or only their p95.
    keep_encodings: bool,
}

impl Default for Timeline {
    fn default() -> Self {
        Timeline {
            seconds: Vec::new(),
            sealed_below: 0,
            keep_encodings: true,
        }
    }
}

impl Timeline {
    /// From now on, seal seconds to their p95 alone: the run writes no
    /// raw record.
    pub(super) fn summaries_only(&mut self) {
        self.keep_encodings = false;
    }

    /// One request intended in `second`.
    pub(super) fn record(&mut self, second: usize, error: bool, latency_us: u64) {
        while self.seconds.len() <= second {
            self.seconds.push(Second::new());
        }
        let s = &mut self.seconds[second];
        s.requests += 1;
        s.errors += u64::from(error);
        match s.live() {
            Ok(Some(h)) => h.saturating_record(latency_us),
            Ok(None) => {}
            // Our own encoding does not fail to decode; if it ever did, the
            // count above still holds and the quantile misses one value.
            Err(e) => tracing::warn!("per-second histogram {second}: {e}"),
        }
        let keep = self.keep_encodings;
        if second < self.sealed_below {
            self.seconds[second].seal(keep);
        }
        while self.sealed_below + LIVE < second {
            self.seconds[self.sealed_below].seal(keep);
            self.sealed_below += 1;
        }
    }

    /// (requests, errors) so far.
    pub(super) fn totals(&self) -> (u64, u64) {
        self.seconds
            .iter()
            .fold((0, 0), |(r, e), s| (r + s.requests, e + s.errors))
    }

    /// p95 of the last complete second, for progress reports.
    pub(super) fn recent_p95_ms(&self) -> f64 {
        match self.seconds.len() {
            0 => 0.0,
            1 => self.seconds[0].p95_ms(),
            n => self.seconds[n - 2].p95_ms(),
        }
    }

    pub(super) fn points(&self) -> Vec<SecondPoint> {
        self.seconds
            .iter()
            .enumerate()
            .map(|(t, s)| SecondPoint {
                t: t as u64,
                requests: s.requests,
                errors: s.errors,
                p95_ms: s.p95_ms(),
            })
            .collect()
    }

    /// (requests, errors, encoded histogram) per second.
    pub(super) fn raw(&self) -> Vec<(u64, u64, String)> {
        self.seconds
            .iter()
            .map(|s| (s.requests, s.errors, s.encoded()))
            .collect()
    }

    pub(super) fn from_raw(raw: &[(u64, u64, String)]) -> Result<Timeline, String> {
        let mut t = Timeline::default();
        for (requests, errors, encoded) in raw {
            let h = decode(encoded)?;
            t.seconds.push(Second {
                requests: *requests,
                errors: *errors,
                hist: Hist::Sealed {
                    encoded: encoded.clone(),
                    p95_ms: Quantiles::of(&h).p95_ms,
                },
            });
        }
        t.sealed_below = t.seconds.len();
        Ok(t)
    }

    /// Add `other`'s seconds to these, exactly.
    pub(super) fn merge(&mut self, other: Timeline) -> Result<(), String> {
        for (i, theirs) in other.seconds.into_iter().enumerate() {
            while self.seconds.len() <= i {
                self.seconds.push(Second::new());
            }
            let mine = &mut self.seconds[i];
            mine.requests += theirs.requests;
            mine.errors += theirs.errors;
            let h = match theirs.hist {
                Hist::Live(h) => *h,
                Hist::Sealed { encoded, .. } => decode(&encoded)?,
                Hist::Summary { .. } => {
                    return Err("a timeline sealed to summaries cannot be merged exactly".into());
                }
            };
            if let Some(live) = mine.live()? {
                live.add(&h).map_err(|e| format!("{e:?}"))?;
            }
            mine.seal(true);
        }
        self.sealed_below = self.seconds.len();
        Ok(())
    }

    #[cfg(test)]
    fn live_count(&self) -> usize {
        self.seconds
            .iter()
            .filter(|s| matches!(s.hist, Hist::Live(_)))
            .count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn twenty_minutes_keep_a_bounded_number_of_live_histograms_and_exact_quantiles() {
        let mut t = Timeline::default();
        let mut reference: Vec<Histogram<u64>> = Vec::new();
        for second in 0..1200usize {
            reference.push(histogram());
            for i in 0..20u64 {
                let v = 1_000 + (second as u64 * 37 + i * 101) % 50_000;
                t.record(second, i == 0, v);
                reference[second].saturating_record(v);
            }
            assert!(t.live_count() <= LIVE + 2, "{}", t.live_count());
        }
        // A late request for a long-sealed second still counts, exactly.
        t.record(5, true, 3_000_000);
        reference[5].saturating_record(3_000_000);
        assert!(t.live_count() <= LIVE + 2);
        let points = t.points();
        assert_eq!(points.len(), 1200);
        for (p, h) in points.iter().zip(&reference) {
            assert_eq!(p.p95_ms, Quantiles::of(h).p95_ms, "second {}", p.t);
        }
        assert_eq!(points[5].requests, 21);
        assert_eq!(points[5].errors, 2);
        assert_eq!(t.totals(), (1200 * 20 + 1, 1200 + 1));

        // Sealed to summaries (a run with no raw record): the same points,
        // the same bounded live count.
        let mut s = Timeline::default();
        s.summaries_only();
        for second in 0..1200usize {
            for i in 0..20u64 {
                s.record(
                    second,
                    i == 0,
                    1_000 + (second as u64 * 37 + i * 101) % 50_000,
                );
            }
        }
        assert!(s.live_count() <= LIVE + 2);
        assert!(
            s.seconds[..1100]
                .iter()
                .all(|x| matches!(x.hist, Hist::Summary { .. }))
        );
        for (a, b) in s.points().iter().zip(&points) {
            if a.t != 5 {
                assert_eq!(
                    (a.requests, a.p95_ms),
                    (b.requests, b.p95_ms),
                    "second {}",
                    a.t
                );
            }
        }

        // Through raw and a merge with itself: counts double, quantiles
        // are those of the doubled histograms.
        let copy = Timeline::from_raw(&t.raw()).unwrap();
        let mut merged = Timeline::from_raw(&t.raw()).unwrap();
        merged.merge(copy).unwrap();
        let m = merged.points();
        for (p, h) in m.iter().zip(&reference) {
            let mut twice = h.clone();
            twice.add(h).unwrap();
            assert_eq!(p.requests, 2 * h.len());
            assert_eq!(p.p95_ms, Quantiles::of(&twice).p95_ms);
        }
    }
}
