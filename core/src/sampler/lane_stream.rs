//! Counter-keyed Gaussian streams drawn with the SIMD fill: the same draw
//! regenerated on demand, for the weight-noise perturbations.

use super::fill_normal::{GROUP, fill_normal_state};
use super::xoshiro_lanes::{LANES, keyed_state};
use wide::u32x8;

/// Streams per draw: one per layer (up to [`MAX_LAYERS`](super::MAX_LAYERS)) and spares.
const STREAMS_PER_DRAW: u64 = 16;

/// Normals buffered on the stack per [`LaneStream::for_each_chunk`] call.
const CHUNK: usize = 32;

/// Normals drawn ahead for short requests: two groups, so their latency
/// chains overlap in the fill.
const SPARE: usize = 2 * GROUP;

/// A source of standard normals where stream `id` of draw `draw` is
/// [`fill_normal`](crate::fill_normal) over
/// [`XoshiroLanes::keyed`](crate::XoshiroLanes::keyed)`(seed, 16·draw + id)`.
///
/// The values come out in the fill's order whatever the sizes of the
/// requests (normals drawn ahead, up to two groups of 16, are kept for the
/// next request), so a
/// layer's `k`-th normal is the same whether it is asked for row by row or
/// for the whole weight slice at once. Restarting a stream reproduces its
/// numbers exactly, so a backward pass regenerates the forward pass's noise
/// instead of storing it. The keyed seeding is deferred to the first draw,
/// so restarting a stream that is never read costs nothing.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct LaneStream {
    seed: u64,
    draw: u64,
    /// Key of the current stream.
    key: u64,
    /// Lane states, word `j` of lane `k` at `[j][k]` (kept unaligned: 128 bytes).
    state: [[u32; LANES]; 4],
    /// The last groups drawn, of which `spare[used..]` is still unread.
    spare: [f32; SPARE],
    used: u8,
    /// The state still has to be built from `key`.
    pending: bool,
}

impl LaneStream {
    pub(crate) fn new(seed: u64) -> Self {
        Self {
            seed,
            draw: 0,
            key: 0,
            state: [[0; LANES]; 4],
            spare: [0.0; SPARE],
            used: SPARE as u8,
            pending: true,
        }
    }

    /// The seed.
    pub(crate) fn seed(&self) -> u64 {
        self.seed
    }

    /// Moves on to the next independent draw.
    #[inline]
    pub(crate) fn advance(&mut self) {
        self.draw = self.draw.wrapping_add(1);
    }

    /// Index of the current draw.
    pub(crate) fn draw(&self) -> u64 {
        self.draw
    }

    /// Sets the index of the current draw.
    pub(crate) fn set_draw(&mut self, draw: u64) {
        self.draw = draw;
    }

    /// Restarts stream `id` of the current draw from its beginning.
    #[inline]
    pub(crate) fn restart(&mut self, id: u64) {
        self.key = self.draw.wrapping_mul(STREAMS_PER_DRAW).wrapping_add(id);
        self.pending = true;
        self.used = SPARE as u8;
    }

    /// Whether the current stream is stream `id` of the current draw.
    #[inline]
    pub(crate) fn is_at(&self, id: u64) -> bool {
        self.key == self.draw.wrapping_mul(STREAMS_PER_DRAW).wrapping_add(id)
    }

    /// Writes the next `out.len()` normals of the current stream into `out`.
    // One copy of the SIMD fill for every noise source (flash on small MCUs).
    #[inline(never)]
    pub(crate) fn fill(&mut self, out: &mut [f32]) {
        if out.is_empty() {
            return;
        }
        let unread = self.spare.get(usize::from(self.used)..).unwrap_or(&[]);
        let k = unread.len().min(out.len());
        let (head, rest) = out.split_at_mut(k);
        head.copy_from_slice(unread.get(..k).unwrap_or(&[]));
        self.used += k as u8;
        if rest.is_empty() {
            return;
        }
        let words = if self.pending {
            self.pending = false;
            keyed_state(self.seed, self.key)
        } else {
            self.state
        };
        let mut s = words.map(u32x8::new);
        let (body, tail) = rest.split_at_mut(rest.len() - rest.len() % GROUP);
        fill_normal_state(&mut s, body);
        if !tail.is_empty() {
            fill_normal_state(&mut s, &mut self.spare);
            tail.copy_from_slice(self.spare.get(..tail.len()).unwrap_or(&[]));
            self.used = tail.len() as u8;
        }
        self.state = s.map(|v| v.to_array());
    }

    /// Calls `f(offset, z)` for consecutive pieces `z` (at most 32 long) of
    /// the next `n` normals, `offset` being where `z` starts within the `n`.
    #[inline]
    pub(crate) fn for_each_chunk(&mut self, n: usize, mut f: impl FnMut(usize, &[f32])) {
        let mut buf = [0.0f32; CHUNK];
        let mut offset = 0;
        while offset < n {
            let len = (n - offset).min(CHUNK);
            let z = buf.get_mut(..len).unwrap_or(&mut []);
            self.fill(z);
            f(offset, z);
            offset += len;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{XoshiroLanes, fill_normal};

    fn reference(seed: u64, key: u64, n: usize) -> [f32; 200] {
        let mut want = [0.0f32; 200];
        fill_normal(&mut XoshiroLanes::keyed(seed, key), &mut want[..n]);
        want
    }

    #[test]
    fn lane_stream_equals_one_fill_whatever_the_request_sizes() {
        let mut stream = LaneStream::new(3);
        stream.advance();
        stream.advance();
        let want = reference(3, 2 * STREAMS_PER_DRAW + 5, 200);
        for sizes in [
            &[200usize][..],
            &[1, 15, 16, 17, 0, 31, 32, 33, 39],
            &[10; 20],
            &[7; 28],
        ] {
            stream.restart(5);
            let mut got = [0.0f32; 200];
            let mut at = 0;
            for &n in sizes {
                stream.fill(&mut got[at..at + n]);
                at += n;
            }
            assert_eq!(got[..at], want[..at], "{sizes:?}");
        }
    }

    #[test]
    fn lane_stream_chunks_cover_the_stream_in_order() {
        let mut stream = LaneStream::new(8);
        stream.restart(1);
        let want = reference(8, 1, 77);
        let mut got = [0.0f32; 77];
        stream.for_each_chunk(77, |at, z| got[at..at + z.len()].copy_from_slice(z));
        assert_eq!(got[..], want[..77]);
    }

    #[test]
    fn lane_stream_ids_and_draws_are_distinct_streams() {
        let mut stream = LaneStream::new(8);
        let first = |s: &mut LaneStream| {
            let mut z = [0.0f32; 4];
            s.fill(&mut z);
            z
        };
        stream.restart(0);
        let a = first(&mut stream);
        stream.restart(1);
        let b = first(&mut stream);
        stream.advance();
        stream.restart(0);
        let c = first(&mut stream);
        assert!(a != b && a != c && b != c);
    }
}
