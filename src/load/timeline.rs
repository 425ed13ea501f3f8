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
    Sealed { encoded: String, p95_ms: f64 },
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

    fn live(&mut self) -> Result<&mut Histogram<u64>, String> {
        if let Hist::Sealed { encoded, .. } = &self.hist {
            self.hist = Hist::Live(Box::new(decode(encoded)?));
        }
        match &mut self.hist {
            Hist::Live(h) => Ok(h),
            Hist::Sealed { .. } => unreachable!("unsealed above"),
        }
    }

    fn seal(&mut self) {
        if let Hist::Live(h) = &self.hist {
            self.hist = Hist::Sealed {
                encoded: encode(h),
                p95_ms: Quantiles::of(h).p95_ms,
            };
        }
    }

    fn p95_ms(&self) -> f64 {
        match &self.hist {
            Hist::Live(h) => Quantiles::of(h).p95_ms,
            Hist::Sealed { p95_ms, .. } => *p95_ms,
        }
    }

    fn encoded(&self) -> String {
        match &self.hist {
            Hist::Live(h) => encode(h),
            Hist::Sealed { encoded, .. } => encoded.clone(),
        }
    }
}

#[derive(Default)]
pub(super) struct Timeline {
    seconds: Vec<Second>,
    /// Seconds before this one are sealed.
    sealed_below: usize,
}

impl Timeline {
    /// One request intended in `second`.
    pub(super) fn record(&mut self, second: usize, error: bool, latency_us: u64) {
        while self.seconds.len() <= second {
            self.seconds.push(Second::new());
        }
        let s = &mut self.seconds[second];
        s.requests += 1;
        s.errors += u64::from(error);
        match s.live() {
            Ok(h) => h.saturating_record(latency_us),
            // Our own encoding does not fail to decode; if it ever did, the
            // count above still holds and the quantile misses one value.
            Err(e) => tracing::warn!("per-second histogram {second}: {e}"),
        }
        if second < self.sealed_below {
            self.seconds[second].seal();
        }
        while self.sealed_below + LIVE < second {
            self.seconds[self.sealed_below].seal();
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
            };
            mine.live()?.add(&h).map_err(|e| format!("{e:?}"))?;
            mine.seal();
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
