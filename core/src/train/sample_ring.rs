//! A fixed-capacity ring buffer that samples stream into one at a time.

use super::target::Target;
use crate::error::Error;
use heapless::Deque;

/// The last `CAP` samples `(x, target)` seen, for mini-batches on a device
/// where samples arrive one at a time (a `heapless` deque; no heap).
///
/// When full, pushing drops the oldest sample. Non-finite samples are
/// rejected on entry, so a batch drawn from the ring never fails for them.
///
/// # Examples
///
/// ```
/// use noisereg::SampleRing;
/// let mut ring: SampleRing<2, [f32; 1], 3> = SampleRing::new();
/// for i in 0..5 {
///     ring.push([i as f32, 0.0], [1.0]).unwrap();
/// }
/// assert!(ring.is_full());
/// assert_eq!(ring.iter().next().unwrap().0, [2.0, 0.0]); // oldest kept
/// assert!(ring.push([f32::NAN, 0.0], [1.0]).is_err());
/// assert_eq!(ring.len(), 3);
/// ```
#[derive(Debug, Clone)]
pub struct SampleRing<const IN: usize, T, const CAP: usize> {
    samples: Deque<([f32; IN], T), CAP>,
}

impl<const IN: usize, T: Target, const CAP: usize> Default for SampleRing<IN, T, CAP> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const IN: usize, T: Target, const CAP: usize> SampleRing<IN, T, CAP> {
    /// An empty ring.
    ///
    /// # Examples
    ///
    /// ```
    /// use noisereg::SampleRing;
    /// let ring: SampleRing<2, [f32; 1], 3> = SampleRing::new();
    /// assert!(ring.is_empty() && !ring.is_full());
    /// ```
    pub const fn new() -> Self {
        Self {
            samples: Deque::new(),
        }
    }

    /// Appends a sample, dropping the oldest when full.
    ///
    /// # Errors
    ///
    /// [`Error::NonFinite`] naming `"input"` or `"target"`; the ring is
    /// unchanged then.
    ///
    /// # Examples
    ///
    /// ```
    /// use noisereg::SampleRing;
    /// let mut ring: SampleRing<1, [f32; 1], 2> = SampleRing::new();
    /// for k in 0..3u8 {
    ///     ring.push([f32::from(k)], [f32::from(k)]).unwrap();
    /// }
    /// // Full: the oldest sample was dropped.
    /// assert_eq!(ring.iter().map(|s| s.1[0]).collect::<Vec<_>>(), [1.0, 2.0]);
    /// assert!(ring.push([f32::NAN], [0.0]).is_err());
    /// ```
    pub fn push(&mut self, x: [f32; IN], target: T) -> Result<(), Error> {
        if !x.iter().all(|v| v.is_finite()) {
            return Err(Error::NonFinite { what: "input" });
        }
        if !target.is_finite_target() {
            return Err(Error::NonFinite { what: "target" });
        }
        if self.samples.is_full() {
            self.samples.pop_front();
        }
        // Not reached: there is room after the pop (`CAP = 0` does not build).
        self.samples
            .push_back((x, target))
            .map_err(|_| Error::InvalidParameter {
                name: "capacity",
                requirement: "room after dropping the oldest sample",
            })
    }

    /// Number of samples held.
    pub fn len(&self) -> usize {
        self.samples.len()
    }

    /// Whether the ring is empty.
    pub fn is_empty(&self) -> bool {
        self.samples.is_empty()
    }

    /// Whether the ring holds `CAP` samples.
    pub fn is_full(&self) -> bool {
        self.samples.is_full()
    }

    /// Removes every sample.
    ///
    /// # Examples
    ///
    /// ```
    /// use noisereg::SampleRing;
    /// let mut ring: SampleRing<1, [f32; 1], 2> = SampleRing::new();
    /// ring.push([1.0], [1.0]).unwrap();
    /// assert_eq!(ring.len(), 1);
    /// ring.clear();
    /// assert!(ring.is_empty());
    /// ```
    pub fn clear(&mut self) {
        self.samples.clear();
    }

    /// The samples, oldest first.
    pub fn iter(&self) -> impl Iterator<Item = &([f32; IN], T)> + Clone {
        let (a, b) = self.samples.as_slices();
        a.iter().chain(b)
    }
}
