//! The heap timeline: samples of the heap the harness takes while a script runs (see
//! "The heap timeline" in [`super::harness`]), kept in bounded memory however long the run.
//!
//! A run of an hour at 100 ms gives 36,000 samples; [`Timeline`] keeps at most
//! [`TIMELINE_CAPACITY`]. When full, the samples so far are thinned to one in two (of each
//! pair, the one with more heap in use, so peaks survive; the first sample always stays) and
//! later samples are kept one per group of as many (again the one with more heap in use):
//! the kept samples cover the whole run at an even resolution that halves each time. The
//! run's peak sample and its last are kept exactly whatever is thinned. (Thinning only the
//! older samples again and again would leave the start of the run one sample per hour.)

use serde::Serialize;

/// Samples a timeline keeps at most (each is 32 bytes).
pub const TIMELINE_CAPACITY: usize = 4096;

/// The default interval between two samples.
pub const DEFAULT_SAMPLE_EVERY_MS: u32 = 100;

/// One heap sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Sample {
    /// Milliseconds since the script started.
    pub t_ms: u64,
    /// Heap bytes in use (`gc.mem_alloc()`).
    pub used: u64,
    /// Heap bytes free (`gc.mem_free()`).
    pub free: u64,
    /// The longest free run in bytes, when the board reported it (it needs a heap dump, so
    /// the sampler does not take it: always `None` today).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_free: Option<u64>,
}

impl Sample {
    /// Reads a sample record's header (`t_ms used free`); `None` when it is not one.
    pub fn parse(header: &str) -> Option<Sample> {
        let mut fields = header.split_whitespace().map(|f| f.parse::<i64>().ok());
        let (t, used, free) = (fields.next()??, fields.next()??, fields.next()??);
        if fields.next().is_some() {
            return None;
        }
        Some(Sample {
            t_ms: u64::try_from(t).ok()?,
            used: u64::try_from(used).ok()?,
            free: u64::try_from(free).ok()?,
            max_free: None,
        })
    }
}

/// A run's samples in bounded memory (see the module doc).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timeline {
    samples: Vec<Sample>,
    /// Samples received (including those thinned away).
    received: u64,
    peak: Option<Sample>,
    last: Option<Sample>,
    capacity: usize,
    /// Samples received per kept sample (doubles at each thinning).
    stride: u64,
    /// Samples received into the last kept one (its group is open while below `stride`).
    open: u64,
}

impl Default for Timeline {
    fn default() -> Self {
        Timeline::new()
    }
}

impl Timeline {
    /// An empty timeline keeping at most [`TIMELINE_CAPACITY`] samples.
    pub fn new() -> Timeline {
        Timeline::with_capacity(TIMELINE_CAPACITY)
    }

    /// An empty timeline keeping at most `capacity` samples (at least 4).
    pub fn with_capacity(capacity: usize) -> Timeline {
        Timeline {
            samples: Vec::new(),
            received: 0,
            peak: None,
            last: None,
            capacity: capacity.max(4),
            stride: 1,
            open: 0,
        }
    }

    /// Adds a sample (samples arrive in time order). A second reading within the same
    /// millisecond (the last sample of a run taken right after a due one) replaces the first:
    /// the timeline holds one reading per millisecond, strictly in time order.
    pub fn push(&mut self, sample: Sample) {
        if self.last.is_some_and(|last| last.t_ms == sample.t_ms) {
            if self.peak.is_none_or(|p| sample.used > p.used) {
                self.peak = Some(sample);
            }
            self.last = Some(sample);
            if let Some(kept) = self.samples.last_mut().filter(|k| k.t_ms == sample.t_ms) {
                *kept = sample;
            }
            return;
        }
        self.received += 1;
        if self.peak.is_none_or(|p| sample.used > p.used) {
            self.peak = Some(sample);
        }
        self.last = Some(sample);
        if self.open > 0 && self.open < self.stride {
            self.open += 1;
            if let Some(kept) = self.samples.last_mut() {
                if sample.used >= kept.used {
                    *kept = sample;
                }
            }
            return;
        }
        if self.samples.len() >= self.capacity {
            self.thin();
        }
        self.samples.push(sample);
        self.open = 1;
    }

    /// Every sample but the first becomes one of a pair: the one using more heap.
    fn thin(&mut self) {
        let thinned: Vec<Sample> = self.samples[1..]
            .chunks(2)
            .map(|pair| {
                if pair.len() == 2 && pair[1].used >= pair[0].used {
                    pair[1]
                } else {
                    pair[0]
                }
            })
            .collect();
        self.samples.truncate(1);
        self.samples.extend(thinned);
        self.stride *= 2;
    }

    /// The samples kept, in time order.
    pub fn samples(&self) -> &[Sample] {
        &self.samples
    }

    /// How many samples the board sent (more than [`Self::samples`] once thinned).
    pub fn received(&self) -> u64 {
        self.received
    }

    /// The sample with the most heap in use (exact, never thinned away).
    pub fn peak(&self) -> Option<Sample> {
        self.peak
    }

    /// How long the script ran, as the last sample saw it.
    pub fn span_ms(&self) -> Option<u64> {
        self.last.map(|s| s.t_ms)
    }

    /// How much the heap's floor rose across the run: the least heap in use during the last
    /// third of the run minus the least during the first third, and the time between the
    /// thirds' middles. A leak raises the floor (what survives collections); garbage comes
    /// and goes. `None` with fewer than [`MIN_SAMPLES_FOR_TREND`] samples.
    pub fn floor_growth(&self) -> Option<FloorGrowth> {
        let samples = &self.samples;
        if samples.len() < MIN_SAMPLES_FOR_TREND {
            return None;
        }
        let (first, last) = (samples[0].t_ms, samples[samples.len() - 1].t_ms);
        let third = (last - first) / 3;
        if third == 0 {
            return None;
        }
        let floor = |from: u64, to: u64| {
            samples
                .iter()
                .filter(|s| s.t_ms >= from && s.t_ms <= to)
                .map(|s| s.used)
                .min()
        };
        let early = floor(first, first + third)?;
        let late = floor(last - third, last)?;
        Some(FloorGrowth {
            bytes: i64::try_from(late).unwrap_or(i64::MAX) - i64::try_from(early).unwrap_or(0),
            over_ms: last - first - third,
        })
    }

    /// The timeline as CSV (`t_ms,used,free,max_free`; an unknown longest free run is empty).
    pub fn to_csv(&self) -> String {
        let mut out = String::from("t_ms,used,free,max_free\n");
        for s in &self.samples {
            let max_free = s.max_free.map(|m| m.to_string()).unwrap_or_default();
            out.push_str(&format!("{},{},{},{max_free}\n", s.t_ms, s.used, s.free));
        }
        out
    }
}

/// Samples a timeline needs before it says anything about a trend.
pub const MIN_SAMPLES_FOR_TREND: usize = 10;

/// See [`Timeline::floor_growth`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FloorGrowth {
    pub bytes: i64,
    pub over_ms: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(t_ms: u64, used: u64) -> Sample {
        Sample {
            t_ms,
            used,
            free: 100_000 - used,
            max_free: None,
        }
    }

    #[test]
    fn sample_records_parse() {
        assert_eq!(Sample::parse("100 400 99600"), Some(sample(100, 400)));
        assert_eq!(Sample::parse("100 400"), None);
        assert_eq!(Sample::parse("100 400 600 7"), None);
        assert_eq!(Sample::parse("-1 400 600"), None);
        assert_eq!(Sample::parse("x 400 600"), None);
    }

    #[test]
    fn a_second_reading_in_the_same_millisecond_replaces_the_first() {
        let mut timeline = Timeline::new();
        timeline.push(sample(0, 100));
        timeline.push(sample(100, 200));
        timeline.push(sample(100, 300));
        assert_eq!(timeline.samples(), [sample(0, 100), sample(100, 300)]);
        assert_eq!(timeline.received(), 2);
        assert_eq!(timeline.peak(), Some(sample(100, 300)));
    }

    #[test]
    fn an_hour_of_samples_stays_bounded_and_keeps_its_peak() {
        let mut timeline = Timeline::with_capacity(64);
        // A sawtooth (garbage, collections) with one tall spike at t = 1234 s.
        for i in 0..36_000u64 {
            let used = if i == 12_340 { 990 } else { 100 + (i % 50) * 4 };
            timeline.push(sample(i * 100, used));
        }
        assert!(timeline.samples().len() <= 64);
        assert_eq!(timeline.received(), 36_000);
        assert_eq!(timeline.peak().map(|p| p.t_ms), Some(1_234_000));
        // The whole run is covered, evenly, in order.
        let kept = timeline.samples();
        assert_eq!(timeline.span_ms(), Some(3_599_900));
        assert!(kept.last().is_some_and(|s| s.t_ms > 3_400_000));
        assert_eq!(kept[0].t_ms, 0);
        assert!(kept.len() >= 32);
        let widest = kept.windows(2).map(|w| w[1].t_ms - w[0].t_ms).max();
        assert!(
            widest <= Some(3_600_000 * 2 / 32),
            "{widest:?} {:?}",
            kept.iter().map(|s| s.t_ms).collect::<Vec<_>>()
        );
        assert!(kept.windows(2).all(|w| w[0].t_ms < w[1].t_ms));
        // Thinning keeps the higher of each pair: the spike survives in the samples too.
        assert!(kept.iter().any(|s| s.used == 990));
    }

    #[test]
    fn a_rising_floor_is_growth_and_a_sawtooth_is_not() {
        let mut leaking = Timeline::new();
        let mut bounded = Timeline::new();
        for i in 0..30u64 {
            // Garbage piles up for 5 samples, then a collection drops it.
            let garbage = (i % 5) * 100;
            leaking.push(sample(i * 100, 1000 + i * 48 + garbage));
            bounded.push(sample(i * 100, 1000 + garbage));
        }
        let growth = leaking.floor_growth().expect("enough samples");
        assert!(growth.bytes >= 48 * 18, "{growth:?}");
        assert_eq!(bounded.floor_growth().map(|g| g.bytes), Some(0));
        let mut short = Timeline::new();
        short.push(sample(0, 1));
        assert_eq!(short.floor_growth(), None);
    }

    #[test]
    fn csv_has_a_header_and_a_row_per_sample() {
        let mut timeline = Timeline::new();
        timeline.push(sample(0, 10));
        timeline.push(sample(100, 20));
        assert_eq!(
            timeline.to_csv(),
            "t_ms,used,free,max_free\n0,10,99990,\n100,20,99980,\n"
        );
    }
}
