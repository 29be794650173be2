//! FNV-1a, 32 bits, over the bit patterns of `f32` values.

/// Running 32-bit FNV-1a hash (Fowler–Noll–Vo, variant 1a).
///
/// Each `f32` is fed as the four little-endian bytes of its bit pattern, so
/// two runs hash equal exactly when every value is bit-identical.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fnv1a(u32);

impl Fnv1a {
    const OFFSET_BASIS: u32 = 0x811c_9dc5;
    const PRIME: u32 = 0x0100_0193;

    /// The empty hash.
    pub const fn new() -> Self {
        Self(Self::OFFSET_BASIS)
    }

    /// Feeds one byte.
    pub fn write_u8(&mut self, byte: u8) {
        self.0 = (self.0 ^ u32::from(byte)).wrapping_mul(Self::PRIME);
    }

    /// Feeds the bit pattern of every value of `values`, in order.
    pub fn write_f32s(&mut self, values: &[f32]) {
        for v in values {
            for byte in v.to_bits().to_le_bytes() {
                self.write_u8(byte);
            }
        }
    }

    /// The hash of everything fed so far.
    pub const fn finish(self) -> u32 {
        self.0
    }
}

impl Default for Fnv1a {
    fn default() -> Self {
        Self::new()
    }
}
